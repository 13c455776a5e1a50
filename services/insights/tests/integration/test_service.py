"""The insights service in-process against real PostgreSQL and Kafka (private database and topics):
daily rows with one campaign's tracking break + a ChannelLoaded -> exactly one critical insight and one
insight.detected; the same ChannelLoaded again -> nothing; recovered rows + a later one -> resolved."""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import numpy as np
import pytest
from aiokafka import AIOKafkaProducer

from demetra_common.contracts import Channel, ChannelLoaded, InsightChanged
from demetra_common.db import plain_dsn
from demetra_common.tables import DAILY_COLUMNS
from demetra_common.topics import Topics
from demetra_insights import metrics
from demetra_insights.app import create_app
from demetra_insights.settings import InsightsSettings
from demetra_testkit import eventually, read_topic

FIRST = dt.date(2026, 10, 5)
DAYS = 40
AS_OF = FIRST + dt.timedelta(days=DAYS)  # the sync's as-of day: the rows end the day before
CAMPAIGNS = 60  # the conversion maturity estimate needs >= 30 campaigns per channel
SILENT = 3  # t000's last days without a conversion


def daily_rows(fetched_at: dt.datetime, *, broken: bool) -> list[tuple[Any, ...]]:
    """Steady tiktok campaigns (weekday cycle, noise); t000 spends ~450 a day and, if ``broken``,
    reports no conversion on its last SILENT days."""
    rng = np.random.default_rng(11)
    weekday = (np.arange(DAYS) + FIRST.weekday()) % 7
    lift = np.array([0.0, 0.0, 0.0, 0.0, 0.1, 0.3, 0.25])[weekday]
    rows = []
    for n in range(CAMPAIGNS):
        level = 450.0 if n == 0 else 200.0 * rng.lognormal(0.0, 0.3)
        cost = level * np.exp(lift) * np.exp(rng.normal(0, 0.08, DAYS))
        impressions = np.round(cost / 8.0 * 1000 * np.exp(rng.normal(0, 0.06, DAYS)))
        clicks = np.round(impressions * 0.01 * np.exp(rng.normal(0, 0.06, DAYS)))
        conversions = clicks * 0.08 * np.exp(rng.normal(0, 0.08, DAYS))
        revenue = conversions * 60.0
        if n == 0 and broken:
            conversions[-SILENT:] = revenue[-SILENT:] = 0.0
        for day in range(DAYS):
            values = {
                "campaign_id": f"t{n:03d}",
                "date": FIRST + dt.timedelta(days=day),
                "channel": Channel.TIKTOK.value,
                "impressions": int(impressions[day]),
                "clicks": int(clicks[day]),
                "engagement": 0,
                "cost": decimal.Decimal(f"{cost[day]:.2f}"),
                "conversions": float(conversions[day]),
                "revenue": float(revenue[day]),
                "fetched_at": fetched_at,
                "sync_id": "seeded",
            }
            rows.append(tuple(values[column] for column in DAILY_COLUMNS))
    return rows


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(plain_dsn(database_url))
    try:
        yield connection
    finally:
        await connection.close()


Publish = Callable[[ChannelLoaded], Awaitable[None]]


@pytest.fixture
async def publish(kafka_bootstrap: str, topics: Topics) -> AsyncIterator[Publish]:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()

    async def send(event: ChannelLoaded) -> None:
        await producer.send_and_wait(
            topics.channel_loaded, event.model_dump_json().encode(), key=event.sync_id.encode()
        )

    try:
        yield send
    finally:
        await producer.stop()


def channel_loaded(sync_id: str) -> ChannelLoaded:
    return ChannelLoaded(
        sync_id=sync_id,
        channel=Channel.TIKTOK,
        fetched=CAMPAIGNS,
        loaded=CAMPAIGNS,
        date_from=FIRST,
        date_to=AS_OF,
    )


def analyses() -> float:
    return metrics.ANALYSES.labels("channel.loaded")._value.get()


INSIGHTS = "SELECT * FROM insights ORDER BY opened_at"


async def test_a_tracking_break_opens_one_critical_insight_once_and_resolves_after_recovery(
    service_env: dict[str, str],
    db: asyncpg.Connection,
    publish: Publish,
    topics: Topics,
    kafka_bootstrap: str,
) -> None:
    first_fetch = dt.datetime.combine(AS_OF, dt.time(6), dt.UTC)
    await db.copy_records_to_table(
        "campaign_daily", records=daily_rows(first_fetch, broken=True), columns=DAILY_COLUMNS
    )
    app = create_app(InsightsSettings(_env_file=None, insights_outbox_interval_s=0.5))
    async with app.router.lifespan_context(app):
        await publish(channel_loaded("s-1"))

        async def published() -> list[asyncpg.Record] | None:
            rows = await db.fetch(INSIGHTS)
            return rows if rows and all(r["published_version"] == r["version"] for r in rows) else None

        (row,) = await eventually(published, what="one insight, published")
        assert (row["kind"], row["severity"], row["campaign_id"]) == ("tracking_break", "critical", "t000")
        assert (row["status"], row["version"], row["last_day"]) == ("open", 1, AS_OF - dt.timedelta(days=1))
        assert row["money_at_stake"] >= 500 and row["observed"] == 0 and row["expected"] > 0
        (detected,) = await read_topic(kafka_bootstrap, topics.insight_detected, count=1, idle_after=1.0)
        event = InsightChanged.model_validate_json(detected.value or b"")
        assert (event.insight_id, event.version, detected.key) == (row["id"], 1, b"t000")

        before = analyses()
        await publish(channel_loaded("s-1"))  # redelivered / replayed

        async def replay_analysed() -> bool:
            return analyses() > before

        await eventually(replay_analysed, what="the replay analysed")
        assert [dict(r) for r in await db.fetch(INSIGHTS)] == [dict(row)]
        await read_topic(kafka_bootstrap, topics.insight_detected, count=1, idle_after=1.5)  # still one

        # The next sync fetched t000's conversions: they were there after all (tracking repaired).
        recovered = daily_rows(first_fetch + dt.timedelta(hours=1), broken=False)
        await db.execute("TRUNCATE campaign_daily")
        await db.copy_records_to_table("campaign_daily", records=recovered, columns=DAILY_COLUMNS)
        await publish(channel_loaded("s-2"))

        async def resolved() -> asyncpg.Record | None:
            (now,) = await db.fetch(INSIGHTS)
            return now if now["status"] == "resolved" and now["published_version"] == 2 else None

        after = await eventually(resolved, what="the insight resolved and published")
        (resolution,) = await read_topic(kafka_bootstrap, topics.insight_resolved, count=1, idle_after=1.0)
    assert (after["id"], after["version"], after["resolved_at"] is not None) == (row["id"], 2, True)
    assert InsightChanged.model_validate_json(resolution.value or b"").version == 2
    assert len(await read_topic(kafka_bootstrap, topics.insight_detected, count=1, idle_after=0.5)) == 1
