"""Watching one sync across real processes: its trace (API -> ingestor -> loader), JSON log lines, every
service's Prometheus metrics (the alert rules and the dashboard use only metrics that exist), and the consumer
lag that the scheduler keeps exporting while the loader is down.

One pipeline (scheduler, query API, ingestor for all channels, loader) serves the whole module; the tests run
in file order, and the last one stops the loader.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from demetra_common.logging import SYNC_ID_ATTRIBUTE
from demetra_common.ops import REQUEST_ID_HEADER
from demetra_common.security import API_KEY_HEADER
from demetra_common.topics import Topics
from demetra_loader.settings import LoaderSettings
from demetra_testkit import (
    Service,
    ServiceGroup,
    ServiceProcess,
    create_database,
    drop_database,
    eventually,
    private_topics,
)
from demetra_testkit.syncs import wait_finished

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
API_KEY = "observability-test-key"
ISO_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


@dataclass
class Pipeline:
    topics: Topics
    services: dict[str, ServiceProcess]
    spans_file: Path
    sync_id: str
    status: dict[str, Any]

    def spans(self) -> list[dict[str, Any]]:
        if not self.spans_file.exists():
            return []
        return [json.loads(line) for line in self.spans_file.read_text().splitlines() if line]

    def log_lines(self, name: str) -> list[str]:
        return self.services[name].log_path.read_text(errors="replace").splitlines()


@pytest.fixture(scope="module")
async def pipeline(
    kafka_bootstrap: str,
    postgres_server_url: str,
    migrated_template: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Pipeline]:
    workdir = tmp_path_factory.mktemp("observability")
    database = f"t_{uuid.uuid4().hex[:12]}"
    database_url = await create_database(postgres_server_url, database, template=migrated_template)
    processes = ExitStack()
    try:
        async with private_topics(kafka_bootstrap) as topics:
            env = {
                "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
                "DATABASE_URL": database_url,
                "KAFKA_TOPIC_PREFIX": topics.prefix,
                "ENVIRONMENT": "test",
                "API_KEY": API_KEY,
                "LOG_FORMAT": "json",
                "LOG_LEVEL": "INFO",
                "TRACES_FILE": str(workdir / "spans.jsonl"),
                "MOCK_CAMPAIGNS_PER_CHANNEL": "20",
                "SYNC_LOOKBACK_DAYS": "1",
                "SYNC_CRON": "0 0 1 1 *",  # no scheduled sync during the test
                "CONSUMER_LAG_INTERVAL_S": "1",
                "SYNC_METRICS_INTERVAL_S": "1",
            }
            group = ServiceGroup(env, workdir / "logs")
            processes.callback(group.close)
            group.start_all(
                Service("demetra_loader", "loader"),
                Service("demetra_ingestor", "ingestor", {"CHANNEL": "all"}),
                Service("demetra_query_api", "query-api"),
                Service("demetra_scheduler", "scheduler"),
            )
            services = dict(group.services)

            api = services["query-api"].url
            request_id = f"test-{uuid.uuid4().hex[:8]}"
            async with httpx.AsyncClient(base_url=api, timeout=10) as client:
                answer = await client.post(
                    "/api/syncs", json={}, headers={API_KEY_HEADER: API_KEY, REQUEST_ID_HEADER: request_id}
                )
            assert answer.status_code == 202, answer.text
            assert answer.headers[REQUEST_ID_HEADER] == request_id
            sync_id = answer.json()["sync_id"]
            status = await wait_finished(api, sync_id)
            assert status["status"] == "completed", status
            yield Pipeline(topics, services, workdir / "spans.jsonl", sync_id, status)
            processes.close()
    finally:
        processes.close()
        await drop_database(postgres_server_url, database)


def _sync_trace(pipeline: Pipeline) -> tuple[str, list[dict[str, Any]]]:
    """The trace id of the POST /api/syncs server span of the pipeline's sync, and the spans of that trace."""
    spans = pipeline.spans()
    [root] = [
        span
        for span in spans
        if span["kind"] == "SERVER" and span["attributes"].get(SYNC_ID_ATTRIBUTE) == pipeline.sync_id
    ]
    assert root["service"] == "demetra-query-api" and root["parent_id"] is None, root
    return root["trace_id"], [span for span in spans if span["trace_id"] == root["trace_id"]]


async def test_one_sync_is_one_trace_from_the_api_through_the_ingestor_to_the_loader(
    pipeline: Pipeline,
) -> None:
    async def loader_spans() -> list[dict[str, Any]]:
        _, spans = _sync_trace(pipeline)
        names = {span["name"] for span in spans if span["service"] == "loader"}
        return spans if {"load campaigns", "record sync events"} <= names else []

    spans = await eventually(loader_spans, timeout=30, what="the loader's spans in the sync's trace")
    by_id = {span["span_id"]: span for span in spans}
    assert {span["service"] for span in spans} >= {"demetra-query-api", "ingestor-all", "loader"}
    # Every span of the trace names the sync.
    assert {span["attributes"].get(SYNC_ID_ATTRIBUTE) for span in spans} == {pipeline.sync_id}
    # The ingestor consumed the API's sync.requested: its consume span's parent is the API's publish.
    consumed = [
        span
        for span in spans
        if span["service"] == "ingestor-all" and span["name"] == f"{pipeline.topics.sync_requested} process"
    ]
    assert len(consumed) == 4, [span["name"] for span in spans]  # one consumer group per channel
    assert all(by_id[span["parent_id"]]["service"] == "demetra-query-api" for span in consumed)
    # Each of the loader's per-sync batch spans continues an ingestor publish of campaign.fetched, and links
    # to the batch's own span (a batch carries many syncs: it has a trace of its own).
    loads = [span for span in spans if span["name"] == "load campaigns"]
    assert loads
    all_spans = {span["span_id"]: span for span in pipeline.spans()}
    for load in loads:
        parent = by_id[load["parent_id"]]
        assert parent["service"] == "ingestor-all", parent
        assert parent["attributes"]["messaging.destination.name"] == pipeline.topics.campaign_fetched
        [link] = load["links"]
        assert all_spans[link["span_id"]]["name"] == f"{pipeline.topics.campaign_fetched} process"
    # Together they count every campaign.fetched message of the sync.
    loaded = sum(span["attributes"]["messaging.batch.message_count"] for span in loads)
    assert loaded == pipeline.status["counts"]["fetched"]


def test_logs_are_json_lines_with_utc_time_service_and_the_sync_and_trace_ids(pipeline: Pipeline) -> None:
    trace_id, _ = _sync_trace(pipeline)
    for name, service in (("ingestor", "ingestor-all"), ("loader", "loader"), ("scheduler", "scheduler")):
        records = [json.loads(line) for line in pipeline.log_lines(name) if line.startswith("{")]
        assert records, name
        for record in records:
            assert ISO_UTC.fullmatch(record["time"]), record
            assert record["service"] == service and record["level"] and "message" in record, record
    ingested = [json.loads(line) for line in pipeline.log_lines("ingestor") if pipeline.sync_id in line]
    fetched = [record for record in ingested if record["message"].startswith("fetched ")]
    assert len(fetched) == 4, ingested  # one per channel
    assert {(record["sync_id"], record["trace_id"]) for record in fetched} == {(pipeline.sync_id, trace_id)}


def _exported(text: str) -> set[str]:
    """Every sample name the exposition text declares (an unlabelled-yet series counts by its TYPE line)."""
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "summary": ("_sum", "_count", "_created"),
        "gauge": ("",),
    }
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.update(family.name + suffix for suffix in suffixes.get(family.type, ("",)))
    return names


async def test_every_service_exports_demetra_metrics_and_the_rules_and_dashboard_use_only_those(
    pipeline: Pipeline,
) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        exported = {
            name: _exported((await client.get(f"{service.url}/metrics")).text)
            for name, service in pipeline.services.items()
        }
    for name in exported:
        assert {n for n in exported[name] if n.startswith("demetra_kafka_")}, name  # FastStream's middleware
    assert "demetra_query_api_http_requests_total" in exported["query-api"]
    assert "demetra_query_api_http_request_duration_seconds_bucket" in exported["query-api"]
    assert "demetra_consumer_lag" in exported["scheduler"]
    assert "demetra_syncs_recent" in exported["query-api"]
    everything = set().union(*exported.values())

    # insights runs no process here: its metrics module is what it exports.
    from prometheus_client import REGISTRY, generate_latest

    from demetra_insights import metrics as insights_metrics  # noqa: F401  (registers them)

    everything |= {
        n for n in _exported(generate_latest(REGISTRY).decode()) if n.startswith("demetra_insights")
    }

    rules = yaml.safe_load((REPO / "deploy/prometheus/alerts.yml").read_text())
    expressions = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    dashboard = json.loads((REPO / "deploy/grafana/dashboards/demetra.json").read_text())
    expressions += [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    used = {name for expr in expressions for name in re.findall(r"\bdemetra_[a-z0-9_]+", expr)}
    assert used and used - everything == set()


async def test_the_query_api_counts_requests_per_route_and_the_completed_sync(pipeline: Pipeline) -> None:
    async def samples() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        async with httpx.AsyncClient(timeout=10) as client:
            text = (await client.get(f"{pipeline.services['query-api'].url}/metrics")).text
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
        return found.get((name, frozenset(labels.items())), 0.0)

    async def counted() -> dict[tuple[str, frozenset[tuple[str, str]]], float] | None:
        found = await samples()
        completed = value(found, "demetra_syncs_recent", status="completed", timed_out="false")
        return found if completed >= 1 else None

    found = await eventually(counted, what="the completed sync counted in demetra_syncs_recent")
    assert value(found, "demetra_syncs_recent", status="failed", timed_out="true") == 0
    # The POST, and the status polls under their route template (not one series per sync id).
    requests = "demetra_query_api_http_requests_total"
    assert value(found, requests, handler="/api/syncs", method="POST", status="2xx") == 1
    assert value(found, requests, handler="/api/syncs/{sync_id}", method="GET", status="2xx") >= 1
    assert not any(name == requests and ("handler", "/metrics") in labels for name, labels in found)


async def test_consumer_lag_is_exported_while_the_loader_is_down(pipeline: Pipeline) -> None:
    scheduler = pipeline.services["scheduler"].url
    group = LoaderSettings(kafka_topic_prefix=pipeline.topics.prefix).campaign_group
    topic = pipeline.topics.campaign_fetched

    async def loader_lag() -> float | None:
        async with httpx.AsyncClient(timeout=10) as client:
            text = (await client.get(f"{scheduler}/metrics")).text
        values = [
            sample.value
            for family in text_string_to_metric_families(text)
            if family.name == "demetra_consumer_lag"
            for sample in family.samples
            if sample.labels["group"] == group and sample.labels["topic"] == topic
        ]
        return sum(values) if values else None

    async def caught_up() -> bool:
        return await loader_lag() == 0

    await eventually(caught_up, what="the loader's lag measured at 0 after the sync")
    pipeline.services["loader"].stop()
    async with httpx.AsyncClient(base_url=pipeline.services["query-api"].url, timeout=10) as client:
        answer = await client.post(
            "/api/syncs", json={"channels": ["tiktok"]}, headers={API_KEY_HEADER: API_KEY}
        )
    assert answer.status_code == 202, answer.text

    async def lagging() -> float | None:
        lag = await loader_lag()
        return lag if lag else None

    lag = await eventually(lagging, timeout=60, what="the stopped loader's lag exported by the scheduler")
    assert lag >= 20  # the tiktok campaigns of the second sync, never consumed
