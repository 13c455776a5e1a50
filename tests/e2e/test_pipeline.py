"""The whole system, each service its own process, over real Kafka and PostgreSQL.

The expected table is known independently of the pipeline: the mock catalogue is deterministic for a
(channel, hour slot), so after a sync every campaign row must equal what ``mock_campaigns`` says.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from demetra_common.contracts import ALL_CHANNELS
from demetra_common.db import plain_dsn
from demetra_common.security import API_KEY_HEADER
from demetra_common.topics import Topics
from demetra_mock import mock_campaigns, mock_slot
from demetra_testkit import ServiceProcess, eventually

pytestmark = pytest.mark.slow

API_KEY = "e2e-test-key"


class Pipeline:
    """Starts services on demand; stops every one of them at the end of the test."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = {**env, "API_KEY": API_KEY, "LOG_FORMAT": "text", "LOG_LEVEL": "INFO"}
        self.log_dir = log_dir
        self._stack = ExitStack()
        self._count = 0

    def start(self, module: str, name: str | None = None, **env: str) -> ServiceProcess:
        self._count += 1
        service = ServiceProcess(
            name or f"{module.removeprefix('demetra_')}-{self._count}",
            module,
            env={**self.env, **env},
            log_dir=self.log_dir,
        )
        self._stack.callback(service.stop)
        return service.start()

    def close(self) -> None:
        self._stack.close()


@pytest.fixture
def pipeline(service_env: dict[str, str], tmp_path: Path) -> Iterator[Pipeline]:
    running = Pipeline(service_env, tmp_path / "logs")
    try:
        yield running
    finally:
        running.close()


def api_headers() -> dict[str, str]:
    return {API_KEY_HEADER: API_KEY}


SIZE = 300  # campaigns per channel


async def sync_status(api: ServiceProcess, sync_id: str) -> dict[str, Any] | None:
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as client:
        response = await client.get(f"/api/syncs/{sync_id}")
    if response.status_code == 404:
        return None
    response.raise_for_status()
    return dict(response.json())


async def wait_finished(api: ServiceProcess, sync_id: str, timeout: float = 120) -> dict[str, Any]:
    async def finished() -> dict[str, Any] | None:
        status = await sync_status(api, sync_id)
        return status if status and status["status"] != "running" else None

    return await eventually(finished, timeout=timeout, interval=0.5, what=f"sync {sync_id} finished")


async def request_sync(api: ServiceProcess, channels: list[str] | None = None) -> str:
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as client:
        response = await client.post(
            "/api/syncs", json={"channels": channels} if channels else {}, headers=api_headers()
        )
    assert response.status_code == 202, response.text
    assert response.headers["location"].endswith(response.json()["sync_id"])
    return str(response.json()["sync_id"])


async def table(database_url: str) -> dict[str, tuple[Any, ...]]:
    connection = await asyncpg.connect(plain_dsn(database_url))
    try:
        rows = await connection.fetch(
            "SELECT campaign_id, channel, name, date, impressions, clicks, engagement, cost::float8 AS cost,"
            " conversion_rate, roi FROM campaigns"
        )
    finally:
        await connection.close()
    return {row["campaign_id"]: tuple(row.values()) for row in rows}


def expected_table(slot: dt.datetime, size: int) -> dict[str, tuple[Any, ...]]:
    return {
        c.campaign_id: (
            c.campaign_id,
            c.channel.value,
            c.name,
            c.date,
            c.impressions,
            c.clicks,
            c.engagement,
            c.cost,
            c.conversion_rate,
            c.roi,
        )
        for channel in ALL_CHANNELS
        for c in mock_campaigns(channel, slot, size)
    }


def start_pipeline(pipeline: Pipeline, *, size: int = SIZE, loaders: int = 1) -> ServiceProcess:
    sizing = {"MOCK_CAMPAIGNS_PER_CHANNEL": str(size), "SYNC_RATE_LIMIT": "100/minute"}
    for number in range(loaders):
        pipeline.start("demetra_loader", f"loader-{number}")
    pipeline.start("demetra_ingestor", "ingestor-all", CHANNEL="all", **sizing)
    return pipeline.start("demetra_query_api", "query-api", **sizing)


async def test_api_sync_completes_on_all_channels_and_a_repeat_is_unchanged(
    pipeline: Pipeline, database_url: str
) -> None:
    api = start_pipeline(pipeline)
    slot = mock_slot(dt.datetime.now(dt.UTC))

    first = await wait_finished(api, await request_sync(api))
    assert first["status"] == "completed", first
    assert {c["channel"]: c["status"] for c in first["channels"]} == {
        c.value: "completed" for c in ALL_CHANNELS
    }
    rows = await table(database_url)
    assert first["counts"]["fetched"] == first["counts"]["loaded"] == 4 * SIZE
    assert first["counts"]["inserted"] == len(rows) == 4 * SIZE
    if mock_slot(dt.datetime.now(dt.UTC)) == slot:
        assert rows == expected_table(slot, SIZE)

    listed: list[str] = []
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as client:
        url: str | None = "/api/campaigns?limit=500"
        while url:
            page = (await client.get(url)).json()
            listed += [item["campaign_id"] for item in page["items"]]
            url = page["next"]
    assert sorted(listed) == sorted(rows)

    second = await wait_finished(api, await request_sync(api))
    assert second["status"] == "completed", second
    counts = second["counts"]
    assert (
        counts["loaded"] == 4 * SIZE
        and counts["inserted"] + counts["updated"] + counts["unchanged"] == 4 * SIZE
    )
    if mock_slot(dt.datetime.now(dt.UTC)) == slot:  # a new hour slot legitimately brings new metrics
        assert counts["unchanged"] == 4 * SIZE
    assert len(await table(database_url)) == len(rows)


async def test_sync_requested_published_with_a_plain_kafka_client_runs_through(
    pipeline: Pipeline, kafka_bootstrap: str, topics: Topics, database_url: str
) -> None:
    api = start_pipeline(pipeline)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        raw = {"sync_id": "kcat-e2e-1", "trigger": "manual", "channels": ["tiktok", "google_ads"]}
        await producer.send_and_wait(topics.sync_requested, json.dumps(raw).encode(), key=b"kcat-e2e-1")
    finally:
        await producer.stop()

    status = await wait_finished(api, "kcat-e2e-1")
    assert status["status"] == "completed"
    assert sorted(c["channel"] for c in status["channels"]) == ["google_ads", "tiktok"]
    assert status["counts"]["inserted"] == 2 * SIZE == len(await table(database_url))


async def test_scheduled_sync_fires_on_a_short_cron(pipeline: Pipeline) -> None:
    api = start_pipeline(pipeline)
    pipeline.start("demetra_scheduler", "scheduler", SYNC_CRON="*/5 * * * * *", SYNC_MISFIRE_GRACE_S="1")

    async def a_completed_scheduled_sync() -> dict[str, Any] | None:
        async with httpx.AsyncClient(base_url=api.url, timeout=10) as client:
            page = (
                await client.get("/api/syncs", params={"trigger": "schedule", "status": "completed"})
            ).json()
        return page["items"][0] if page["items"] else None

    sync = await eventually(
        a_completed_scheduled_sync, timeout=120, interval=1, what="a completed scheduled sync"
    )
    assert sync["sync_id"].startswith("sched-")
    assert sync["trigger"] == "schedule"
    assert sync["counts"]["loaded"] == 4 * SIZE


async def test_three_loaders_produce_exactly_the_table_and_counts_of_one(
    pipeline: Pipeline, database_url: str
) -> None:
    size = 2000
    api = start_pipeline(pipeline, size=size, loaders=3)
    slot = mock_slot(dt.datetime.now(dt.UTC))

    status = await wait_finished(api, await request_sync(api), timeout=240)

    assert status["status"] == "completed", status
    counts = status["counts"]
    assert (counts["fetched"], counts["loaded"], counts["inserted"]) == (4 * size, 4 * size, 4 * size)
    assert counts["updated"] == counts["unchanged"] == counts["rejected"] == 0
    rows = await table(database_url)
    assert len(rows) == 4 * size
    if mock_slot(dt.datetime.now(dt.UTC)) == slot:
        assert rows == expected_table(slot, size)
