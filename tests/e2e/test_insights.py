"""Insights end to end, each service its own process, over real Kafka and PostgreSQL: an injected tracking
break in one campaign (MOCK_ANOMALIES) raises exactly one critical insight after the backfill that loads it,
survives a restart of the insights service and a replay of channel.loaded without a duplicate, and
resolves after a later sync whose data has recovered.

Sizes are pinned small: 60 tiktok campaigns (the detectors' conversion maturity estimate needs >= 30
campaigns per channel with a week of mature days) and 25 days of history (14 days of baseline at least,
plus tiktok's 3-day attribution window and the mature days the estimate compares with).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from demetra_common.contracts import Channel, InsightChanged, SyncRequested, Trigger
from demetra_common.db import plain_dsn
from demetra_common.security import API_KEY_HEADER
from demetra_common.topics import Topics
from demetra_testkit import Service, ServiceProcess, eventually, read_topic
from demetra_testkit.syncs import publish_request
from tests.e2e.pipeline import API_KEY, Pipeline
from tests.mock_expectations import biggest_break

pytestmark = pytest.mark.slow

SIZE = 60
HISTORY_DAYS = 25
BREAK_DAYS = 3  # the newest complete days without a conversion


def slots() -> tuple[dt.datetime, dt.datetime]:
    """Two hour slots of one UTC day: the backfill's, and the later sync's an hour after."""
    hour = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    first = hour - dt.timedelta(hours=2)
    if first.date() != hour.date():  # just after midnight: both slots in the new day (ahead is fine)
        first = hour
    return first, first + dt.timedelta(hours=1)


def broken_campaign(slot: dt.datetime, date_from: dt.date) -> tuple[str, float]:
    """The campaign that runs through the whole window and spends most on the break's days, and that spend
    (the money at stake: critical from 500)."""
    return biggest_break(Channel.TIKTOK, slot, SIZE, date_from, BREAK_DAYS)


async def wait_completed(api: ServiceProcess, sync_id: str) -> None:
    async def completed() -> bool:
        async with httpx.AsyncClient(base_url=api.url, timeout=10) as client:
            response = await client.get(f"/api/syncs/{sync_id}", headers={API_KEY_HEADER: API_KEY})
        return response.status_code == 200 and response.json()["status"] == "completed"

    await eventually(completed, timeout=60, interval=0.3, what=f"sync {sync_id} completed")


async def insights(database_url: str) -> list[dict[str, Any]]:
    connection = await asyncpg.connect(plain_dsn(database_url))
    try:
        return [dict(row) for row in await connection.fetch("SELECT * FROM insights ORDER BY opened_at")]
    finally:
        await connection.close()


async def api_insights(api: ServiceProcess, campaign_id: str) -> list[dict[str, Any]]:
    """The campaign's insights as the query API serves them (GET /api/insights)."""
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as client:
        response = await client.get(
            "/api/insights", params={"campaign_id": campaign_id}, headers={API_KEY_HEADER: API_KEY}
        )
    response.raise_for_status()
    return list(response.json()["items"])


async def analyses(service: ServiceProcess) -> float:
    """demetra_insights_analyses_total{trigger="channel.loaded"} of this process."""
    async with httpx.AsyncClient(base_url=service.url, timeout=5) as client:
        text = (await client.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith('demetra_insights_analyses_total{trigger="channel.loaded"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_a_tracking_break_raises_one_critical_insight_that_survives_a_replay_and_resolves(
    pipeline: Pipeline, kafka_bootstrap: str, topics: Topics, database_url: str
) -> None:
    first_slot, later_slot = slots()
    as_of = first_slot.date()
    date_from = as_of - dt.timedelta(days=HISTORY_DAYS - 1)
    campaign_id, silent_spend = broken_campaign(first_slot, date_from)
    assert silent_spend >= 600, "the mock's biggest spender no longer makes a critical break"
    start = as_of - dt.timedelta(days=BREAK_DAYS)
    sizing = {"MOCK_CAMPAIGNS_PER_CHANNEL": str(SIZE), "SYNC_RATE_LIMIT": "100/minute"}
    _, insights_service, ingestor, api = pipeline.start_all(
        Service("demetra_loader", "loader"),
        Service("demetra_insights", "insights"),
        Service(
            "demetra_ingestor",
            "ingestor-tiktok",
            {
                "CHANNEL": "tiktok",
                "MOCK_ANOMALIES": f"tracking_break:{campaign_id}:{start}:{BREAK_DAYS + 7}",
                **sizing,
            },
        ),
        Service("demetra_query_api", "query-api", sizing),
    )

    backfill = SyncRequested(
        sync_id="e2e-insights-backfill",
        trigger=Trigger.MANUAL,
        channels=[Channel.TIKTOK],
        slot=first_slot,
        date_from=date_from,
        date_to=as_of,
    )
    await publish_request(kafka_bootstrap, topics, backfill)
    await wait_completed(api, backfill.sync_id)

    async def one_published() -> list[dict[str, Any]] | None:
        rows = await insights(database_url)
        return rows if rows and all(r["published_version"] == r["version"] for r in rows) else None

    (opened,) = await eventually(one_published, timeout=30, what="the insight stored and published")
    assert (opened["kind"], opened["severity"], opened["campaign_id"]) == (
        "tracking_break",
        "critical",
        campaign_id,
    )
    assert (opened["status"], opened["first_day"], opened["last_day"]) == (
        "open",
        start,
        as_of - dt.timedelta(days=1),
    )
    assert [i["id"] for i in await api_insights(api, campaign_id)] == [str(opened["id"])]
    (loaded,) = await read_topic(kafka_bootstrap, topics.channel_loaded, count=1, idle_after=1.0)
    (detected,) = await read_topic(kafka_bootstrap, topics.insight_detected, count=1, idle_after=1.0)
    assert InsightChanged.model_validate_json(detected.value or b"").insight_id == opened["id"]

    # A restart, and channel.loaded replayed to the new process: nothing new anywhere.
    insights_service.stop()
    insights_service = pipeline.start("demetra_insights", "insights-restarted")
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topics.channel_loaded, loaded.value, key=loaded.key)
    finally:
        await producer.stop()

    async def replayed() -> bool:
        return await analyses(insights_service) >= 1

    await eventually(replayed, timeout=30, what="the replayed channel.loaded analysed")
    assert await insights(database_url) == [opened]
    await read_topic(kafka_bootstrap, topics.insight_detected, count=1, idle_after=1.5)  # still exactly one

    # The tracking is repaired: a later sync (the ingestor without the injection) fetches real conversions.
    ingestor.stop()
    pipeline.start("demetra_ingestor", "ingestor-tiktok-recovered", CHANNEL="tiktok", **sizing)
    recovery = backfill.model_copy(update={"sync_id": "e2e-insights-recovered", "slot": later_slot})
    await publish_request(kafka_bootstrap, topics, recovery)
    await wait_completed(api, recovery.sync_id)

    async def resolved() -> dict[str, Any] | None:
        (row,) = await insights(database_url)
        return row if row["status"] == "resolved" and row["published_version"] == row["version"] else None

    closed = await eventually(resolved, timeout=30, what="the insight resolved and published")
    assert (closed["id"], closed["resolved_at"] is not None) == (opened["id"], True)
    (served,) = await api_insights(api, campaign_id)
    assert (served["id"], served["status"]) == (str(opened["id"]), "resolved")
    (event,) = await read_topic(kafka_bootstrap, topics.insight_resolved, count=1, idle_after=1.5)
    assert InsightChanged.model_validate_json(event.value or b"").insight_id == opened["id"]
    assert len(await read_topic(kafka_bootstrap, topics.insight_detected, count=1, idle_after=1.0)) == 1
