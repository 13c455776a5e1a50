"""The whole system, each service its own process, over real Kafka and PostgreSQL.

The expected outcome is known independently of the pipeline: the mock source is deterministic for a
(channel, hour slot), so a sync's messages, daily rows and derived campaign rows must equal what the mock's
public API says for the sync's as-of and window (tests/mock_expectations.py). The ingestor's lookback is
pinned to one day, so a sync fetches yesterday and today so far at any time of day.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from demetra_common.contracts import ALL_CHANNELS, Channel
from demetra_common.db import plain_dsn
from demetra_common.topics import Topics
from demetra_mock import mock_slot
from demetra_testkit import Service, ServiceProcess, eventually
from demetra_testkit.syncs import request_sync, sync_as_of, wait_finished
from tests.e2e.pipeline import API_KEY, Pipeline
from tests.mock_expectations import (
    ExpectedChannel,
    channel_outcome,
    expected_channel,
    expected_sync,
    first_sync_channel,
)

pytestmark = pytest.mark.slow

SIZE = 300  # campaigns running per channel at any moment
LOOKBACK_DAYS = 1  # yesterday and today so far (nothing of today at 00:xx): few rows at any time of day


async def campaigns_table(database_url: str) -> dict[str, tuple[Any, ...]]:
    connection = await asyncpg.connect(plain_dsn(database_url))
    try:
        rows = await connection.fetch(
            "SELECT campaign_id, channel, name, date, impressions, clicks, engagement, cost::float8 AS cost,"
            " conversion_rate, roi FROM campaigns"
        )
    finally:
        await connection.close()
    return {row["campaign_id"]: tuple(row.values()) for row in rows}


def expected_table(expected: dict[str, ExpectedChannel]) -> dict[str, tuple[Any, ...]]:
    """The ``campaigns`` table after a first sync: every channel's campaigns, derived from their days."""
    return {
        campaign_id: row for channel in expected.values() for campaign_id, row in channel.campaigns.items()
    }


def start_pipeline(
    pipeline: Pipeline, *others: Service, size: int = SIZE, loaders: int = 1
) -> ServiceProcess:
    """``loaders`` loaders, an ingestor of every channel, the query API and ``others``, started side by
    side; the query API."""
    sizing = {"MOCK_CAMPAIGNS_PER_CHANNEL": str(size), "SYNC_RATE_LIMIT": "100/minute"}
    ingestor = {"CHANNEL": "all", "SYNC_LOOKBACK_DAYS": str(LOOKBACK_DAYS), **sizing}
    pipeline.start_all(
        *(Service("demetra_loader", f"loader-{number}") for number in range(loaders)),
        Service("demetra_ingestor", "ingestor-all", ingestor),
        Service("demetra_query_api", "query-api", sizing),
        *others,
    )
    return pipeline.services["query-api"]


def assert_first_sync(status: dict[str, Any], expected: dict[str, ExpectedChannel]) -> None:
    """A first sync into an empty database: every channel and the totals exactly as the mock says."""
    assert status["status"] == "completed", status
    assert {c["channel"]: channel_outcome(c) for c in status["channels"]} == {
        name: first_sync_channel(channel) for name, channel in expected.items()
    }
    messages = sum(channel.messages for channel in expected.values())
    rows = sum(channel.rows for channel in expected.values())
    counts = status["counts"]
    assert (counts["fetched"], counts["loaded"], counts["inserted"]) == (messages, messages, messages), counts
    assert counts["updated"] == counts["unchanged"] == counts["rejected"] == 0, counts
    assert (counts["rows_fetched"], counts["rows_loaded"], counts["restated"]) == (rows, rows, 0), counts


async def test_api_sync_completes_on_all_channels_and_a_repeat_is_unchanged(
    pipeline: Pipeline, database_url: str
) -> None:
    api = start_pipeline(pipeline)

    first = await wait_finished(api.url, await request_sync(api.url, API_KEY))
    expected = expected_sync(ALL_CHANNELS, sync_as_of(first), SIZE, LOOKBACK_DAYS)
    assert_first_sync(first, expected)
    rows = await campaigns_table(database_url)
    assert rows == expected_table(expected)

    listed: list[str] = []
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as client:
        url: str | None = "/api/campaigns?limit=500"
        while url:
            page = (await client.get(url)).json()
            listed += [item["campaign_id"] for item in page["items"]]
            url = page["next"]
    assert sorted(listed) == sorted(rows)

    second = await wait_finished(api.url, await request_sync(api.url, API_KEY))
    assert second["status"] == "completed", second
    again = expected_sync(ALL_CHANNELS, sync_as_of(second), SIZE, LOOKBACK_DAYS)
    repeated = sum(channel.messages for channel in again.values())
    counts = second["counts"]
    assert (
        counts["loaded"] == repeated
        and counts["inserted"] + counts["updated"] + counts["unchanged"] == repeated
    ), counts
    assert counts["rows_fetched"] == counts["rows_loaded"] == sum(c.rows for c in again.values()), counts
    # a new hour slot legitimately brings new metrics (and, on a new day, restates the maturing days)
    if mock_slot(sync_as_of(second)) == mock_slot(sync_as_of(first)):
        assert (counts["unchanged"], counts["restated"]) == (repeated, 0), counts
    assert set(await campaigns_table(database_url)) == set(rows).union(*(c.campaigns for c in again.values()))


async def test_sync_requested_published_with_a_plain_kafka_client_runs_through(
    pipeline: Pipeline, kafka_bootstrap: str, topics: Topics, database_url: str
) -> None:
    api = start_pipeline(pipeline)
    before = mock_slot(dt.datetime.now(dt.UTC))
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        raw = {"sync_id": "kcat-e2e-1", "trigger": "manual", "channels": ["tiktok", "google_ads"]}
        await producer.send_and_wait(topics.sync_requested, json.dumps(raw).encode(), key=b"kcat-e2e-1")
    finally:
        await producer.stop()

    status = await wait_finished(api.url, "kcat-e2e-1")
    after = mock_slot(dt.datetime.now(dt.UTC))
    assert status["status"] == "completed"
    outcomes = {c["channel"]: channel_outcome(c) for c in status["channels"]}
    assert sorted(outcomes) == ["google_ads", "tiktok"]
    # The message names no requested_at: each ingestor took its own clock, in the slot before or after.
    for name, outcome in outcomes.items():
        candidates = {
            first_sync_channel(expected_channel(Channel(name), s, SIZE, LOOKBACK_DAYS))
            for s in {before, after}
        }
        assert outcome in candidates, (name, outcome, candidates)
    inserted = sum(outcome[5] for outcome in outcomes.values())
    assert status["counts"]["inserted"] == inserted == len(await campaigns_table(database_url))


async def test_scheduled_sync_fires_on_a_short_cron(pipeline: Pipeline) -> None:
    cron = {"SYNC_CRON": "*/5 * * * * *", "SYNC_MISFIRE_GRACE_S": "1"}
    api = start_pipeline(pipeline, Service("demetra_scheduler", "scheduler", cron))

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
    expected = expected_sync(ALL_CHANNELS, sync_as_of(sync), SIZE, LOOKBACK_DAYS)  # as of its cron slot
    assert sync["counts"]["loaded"] == sum(channel.messages for channel in expected.values())
    assert sync["counts"]["rows_loaded"] == sum(channel.rows for channel in expected.values())


async def test_three_loaders_produce_exactly_the_table_and_counts_of_one(
    pipeline: Pipeline, database_url: str
) -> None:
    size = 2000
    api = start_pipeline(pipeline, size=size, loaders=3)

    status = await wait_finished(api.url, await request_sync(api.url, API_KEY), timeout=240)

    expected = expected_sync(ALL_CHANNELS, sync_as_of(status), size, LOOKBACK_DAYS)
    assert_first_sync(status, expected)
    assert await campaigns_table(database_url) == expected_table(expected)
