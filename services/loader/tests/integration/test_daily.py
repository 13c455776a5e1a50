"""Schema-2 messages (daily metrics) against real Kafka and PostgreSQL: the daily rows, the campaigns derived
from them, restatements and their metric.restated events, partitions and retention."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from typing import Any

import asyncpg
import orjson

from demetra_common.contracts import Channel, MetricRestated, deterministic_event_id
from demetra_common.tables import DAILY_PARTITIONS
from demetra_common.topics import Topics
from demetra_loader.core.restatements import restatement_event_id
from demetra_testkit import eventually, read_topic

T1 = dt.datetime(2026, 11, 20, 9, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)

DAILY_SNAPSHOT = "SELECT * FROM campaign_daily ORDER BY campaign_id, date"
CAMPAIGN_SNAPSHOT = "SELECT * FROM campaigns ORDER BY campaign_id"
# Every campaign whose totals differ from the sums of its daily rows (must be none).
INCONSISTENT = """
SELECT c.campaign_id FROM campaigns c JOIN (
    SELECT campaign_id, sum(impressions) AS impressions, sum(clicks) AS clicks, sum(engagement) AS engagement,
           sum(cost) AS cost, sum(conversions) AS conversions, sum(revenue) AS revenue, max(date) AS date,
           max(fetched_at) AS fetched_at
      FROM campaign_daily GROUP BY campaign_id
) d USING (campaign_id)
WHERE (c.impressions, c.clicks, c.engagement, c.cost, c.date, c.fetched_at)
      IS DISTINCT FROM (d.impressions, d.clicks, d.engagement, d.cost, d.date, d.fetched_at)
   OR abs(c.conversion_rate - least(1, d.conversions / nullif(d.clicks, 0))) > 1e-9
   OR abs(c.roi - least(1000, greatest(-1, (d.revenue - d.cost::float8) / nullif(d.cost, 0)::float8))) > 1e-9
"""


async def wait_counted(load_counts: Any, db: asyncpg.Connection, expected: int) -> dict[Any, Counter[str]]:
    """Until the load events count ``expected`` messages in all; the counts per (sync_id, channel)."""

    async def counted() -> dict[Any, Counter[str]] | None:
        counts = await load_counts(db)
        total = sum(c["inserted"] + c["updated"] + c["unchanged"] + c["rejected"] for c in counts.values())
        return counts if total >= expected else None

    return await eventually(counted, what=f"{expected} messages counted in load events")


async def test_daily_rows_land_exactly_and_a_replay_changes_nothing(
    run_loader: Any, publish: Any, make_days: Any, topics: Topics, db: asyncpg.Connection, load_counts: Any
) -> None:
    messages = [
        make_days(f"{channel.value}_{n}", sync_id="bf-1", channel=channel, fetched_at=T1, count=30)
        for channel in (Channel.FACEBOOK, Channel.TIKTOK)
        for n in range(40)
    ]
    async with run_loader():
        await publish(topics.campaign_fetched, messages)
        counts = await wait_counted(load_counts, db, 80)
        daily = await db.fetch(DAILY_SNAPSHOT)
        campaigns = await db.fetch(CAMPAIGN_SNAPSHOT)
        await publish(topics.campaign_fetched, messages)  # a re-run of the same sync
        again = await wait_counted(load_counts, db, 160)
        assert await db.fetch(DAILY_SNAPSHOT) == daily
        assert await db.fetch(CAMPAIGN_SNAPSHOT) == campaigns
    assert len(daily) == 80 * 30 and len(campaigns) == 80
    assert sum(row["impressions"] for row in daily) == 80 * sum(1000 + n for n in range(30))
    assert sum(row["cost"] for row in daily) == 80 * 30 * 12.5
    assert await db.fetch(INCONSISTENT) == []
    for channel in ("facebook", "tiktok"):
        assert counts[("bf-1", channel)] == Counter(inserted=40, rows=1200)
        assert again[("bf-1", channel)] == Counter(inserted=40, unchanged=40, rows=2400)
    assert await db.fetchval("SELECT count(*) FROM restatements") == 0


async def test_a_newer_fetch_restates_exactly_the_changed_metrics_and_publishes_one_event_each(
    run_loader: Any,
    publish: Any,
    make_days: Any,
    topics: Topics,
    db: asyncpg.Connection,
    load_counts: Any,
    kafka_bootstrap: str,
) -> None:
    t2 = T1 + DAY
    today = T1.date()
    late = {
        today - 3 * DAY: {"conversions": 4.0, "revenue": 80.0},  # late conversions
        today - DAY: {"cost": 12.75},
        today: {"clicks": 50},  # T1's partial day, a past day at t2
    }
    async with run_loader():
        first = today - 5 * DAY
        await publish(
            topics.campaign_fetched, [make_days("fb_1", sync_id="s1", fetched_at=T1, first=first, count=6)]
        )
        await wait_counted(load_counts, db, 1)
        # The same days and t2's, the day after.
        second = make_days("fb_1", sync_id="s2", fetched_at=t2, first=first, count=7, changes=late)
        untouched = make_days("fb_2", sync_id="s2", fetched_at=t2, count=2)
        await publish(topics.campaign_fetched, [second, untouched])
        counts = await wait_counted(load_counts, db, 3)
        records = await read_topic(kafka_bootstrap, topics.metric_restated, count=4, idle_after=2.0)

        async def all_published() -> bool:
            return bool(await db.fetchval("SELECT bool_and(published_at IS NOT NULL) FROM restatements"))

        await eventually(all_published, what="every restatement marked published")
    rows = await db.fetch(
        "SELECT event_id, campaign_id, channel, date, metric, old_value, new_value, sync_id, fetched_at,"
        " previous_fetched_at FROM restatements ORDER BY date, metric"
    )
    assert [(r["date"], r["metric"], r["old_value"], r["new_value"]) for r in rows] == [
        (today - 3 * DAY, "conversions", 1.5, 4.0),
        (today - 3 * DAY, "revenue", 30.0, 80.0),
        (today - DAY, "cost", 12.5, 12.75),
        (today, "clicks", 10.0, 50.0),
    ]
    assert all((r["sync_id"], r["fetched_at"], r["previous_fetched_at"]) == ("s2", t2, T1) for r in rows)
    assert [r["event_id"] for r in rows] == [
        restatement_event_id("fb_1", r["date"], r["metric"], t2) for r in rows
    ]
    events = [MetricRestated.model_validate_json(record.value) for record in records]
    assert len(records) == 4 and {record.key for record in records} == {b"fb_1"}
    assert {event.event_id for event in events} == {r["event_id"] for r in rows}
    assert counts[("s2", "facebook")] == Counter(updated=1, inserted=1, rows=9, restated=4)
    day = await db.fetchrow("SELECT * FROM campaign_daily WHERE campaign_id = 'fb_1' AND date = $1", today)
    assert (day["clicks"], day["sync_id"], day["fetched_at"]) == (50, "s2", t2)
    assert await db.fetchval("SELECT count(*) FROM campaign_daily WHERE campaign_id = 'fb_1'") == 7
    assert await db.fetch(INCONSISTENT) == []


async def test_todays_day_changing_is_no_restatement_and_an_older_fetch_changes_nothing(
    run_loader: Any, publish: Any, make_days: Any, topics: Topics, db: asyncpg.Connection, load_counts: Any
) -> None:
    later = T1 + dt.timedelta(hours=6)
    today = T1.date()
    first = today - 2 * DAY  # every message: the same three days
    async with run_loader():
        await publish(
            topics.campaign_fetched,
            [make_days("ig_1", channel=Channel.INSTAGRAM, fetched_at=T1, first=first)],
        )
        await wait_counted(load_counts, db, 1)
        await publish(
            topics.campaign_fetched,
            [
                make_days(
                    "ig_1",
                    sync_id="s-later",
                    channel=Channel.INSTAGRAM,
                    fetched_at=later,
                    first=first,
                    changes={today: {"impressions": 5000, "clicks": 90}},
                )
            ],
        )
        counts = await wait_counted(load_counts, db, 2)
        daily = await db.fetch(DAILY_SNAPSHOT)
        older = make_days(
            "ig_1",
            sync_id="s-old",
            channel=Channel.INSTAGRAM,
            fetched_at=T1 - DAY,
            first=first,
            changes={today - DAY: {"clicks": 1}},
        )
        await publish(topics.campaign_fetched, [older])
        after_older = await wait_counted(load_counts, db, 3)
        assert await db.fetch(DAILY_SNAPSHOT) == daily
    assert counts[("s-later", "instagram")] == Counter(updated=1, rows=3)
    assert after_older[("s-old", "instagram")] == Counter(unchanged=1, rows=3)
    assert await db.fetchval("SELECT count(*) FROM restatements") == 0
    assert await db.fetchval("SELECT clicks FROM campaigns WHERE campaign_id = 'ig_1'") == 10 + 10 + 90
    assert await db.fetch(INCONSISTENT) == []


async def test_schema_1_and_schema_2_messages_load_side_by_side(
    run_loader: Any,
    publish: Any,
    make_days: Any,
    make_fetched: Any,
    topics: Topics,
    db: asyncpg.Connection,
    load_counts: Any,
) -> None:
    await publish(
        topics.campaign_fetched,
        [make_fetched("snap_1", sync_id="s"), make_days("days_1", sync_id="s", count=4)],
    )
    async with run_loader():
        counts = await wait_counted(load_counts, db, 2)
    assert counts[("s", "facebook")] == Counter(inserted=2, rows=4)
    rows = await db.fetch("SELECT campaign_id, impressions FROM campaigns ORDER BY campaign_id")
    assert [tuple(row) for row in rows] == [("days_1", 1000 + 1001 + 1002 + 1003), ("snap_1", 1000)]


async def test_a_batch_needing_a_new_month_creates_its_partition(
    run_loader: Any, publish: Any, make_days: Any, topics: Topics, db: asyncpg.Connection, load_counts: Any
) -> None:
    far = dt.datetime(2029, 3, 2, 12, tzinfo=dt.UTC)  # beyond the partitions the migration made
    async with run_loader():
        await publish(topics.campaign_fetched, [make_days("fb_far", fetched_at=far, count=5)])
        counts = await wait_counted(load_counts, db, 1)
    assert counts[("sched-20261125T1400Z", "facebook")] == Counter(inserted=1, rows=5)
    partitions = {row[0] for row in await db.fetch(DAILY_PARTITIONS.list_sql)}
    assert {"campaign_daily_p202902", "campaign_daily_p202903"} <= partitions
    assert await db.fetchval("SELECT count(*) FROM campaign_daily_p202903") == 2


async def test_retention_drops_old_partitions_whole_and_keeps_the_recent_ones(
    run_loader: Any, db: asyncpg.Connection
) -> None:
    await db.execute(DAILY_PARTITIONS.create_sql(dt.date(2020, 1, 1)))
    await db.execute(
        "INSERT INTO campaign_daily (campaign_id, date, channel, impressions, clicks, engagement, cost,"
        " conversions, revenue, fetched_at, sync_id) VALUES"
        " ('old', '2020-01-15', 'tiktok', 1, 0, 0, 0, 0, 0, '2020-01-16T00:00:00Z', 'old')"
    )
    before = {row[0] for row in await db.fetch(DAILY_PARTITIONS.list_sql)}
    horizon = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=730)
    expected = {
        name
        for name in before
        if DAILY_PARTITIONS.next_month(DAILY_PARTITIONS.month_from_name(name) or horizon) > horizon
    }

    async def partitions() -> set[str] | None:
        names = {row[0] for row in await db.fetch(DAILY_PARTITIONS.list_sql)}
        return names if "campaign_daily_p202001" not in names else None

    async with run_loader(history_retention_days=730):
        remaining = await eventually(partitions, what="the 2020-01 partition dropped")
    assert remaining == expected and len(expected) >= 16  # the migration's months stay
    assert await db.fetchval("SELECT count(*) FROM campaign_daily WHERE campaign_id = 'old'") == 0


async def test_restatements_left_unpublished_by_a_crash_are_published_at_start(
    run_loader: Any, db: asyncpg.Connection, topics: Topics, kafka_bootstrap: str
) -> None:
    event_id = deterministic_event_id("metric.restated", "fb_9", "2026-11-18", "conversions", "x")
    await db.execute(
        "INSERT INTO restatements (event_id, campaign_id, channel, date, metric, old_value, new_value,"
        " sync_id, fetched_at, previous_fetched_at, recorded_at)"
        " VALUES ($1, 'fb_9', 'facebook', '2026-11-18', 'conversions', 1, 2, 's2', $2, $3,"
        " now() - interval '1 minute')",
        event_id,
        T1 + DAY,
        T1,
    )
    async with run_loader():
        (record,) = await read_topic(kafka_bootstrap, topics.metric_restated, count=1, idle_after=1.0)

        async def published() -> bool:
            return bool(await db.fetchval("SELECT published_at IS NOT NULL FROM restatements"))

        await eventually(published, what="the restatement marked published")
    event = orjson.loads(record.value)
    assert (uuid.UUID(event["event_id"]), record.key) == (event_id, b"fb_9")
    assert (event["metric"], event["old_value"], event["new_value"]) == ("conversions", 1.0, 2.0)
