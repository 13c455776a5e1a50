"""The loader against real Kafka and PostgreSQL: idempotent upserts, versioning, exact load counts."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import asyncpg
import httpx
from aiokafka.admin import AIOKafkaAdminClient

from demetra_common.contracts import Channel, SyncEvent, SyncEventType, SyncRequested, Trigger
from demetra_common.topics import Topics
from demetra_testkit import eventually

CAMPAIGN_SNAPSHOT = """
SELECT campaign_id, channel, name, date, impressions, clicks, engagement, cost, conversion_rate, roi,
       fetched_at, sync_id, created_at, updated_at
FROM campaigns ORDER BY campaign_id
"""


async def wait_counted(load_counts: Any, db: asyncpg.Connection, expected: int) -> None:
    """Until the load events count ``expected`` messages in all."""

    async def done() -> bool:
        return sum(sum(c.values()) for c in (await load_counts(db)).values()) >= expected

    await eventually(done, what=f"{expected} messages counted in load events")


async def test_replaying_the_same_messages_leaves_identical_tables_and_counts_them_unchanged(
    run_loader: Any, publish: Any, make_fetched: Any, topics: Topics, db: asyncpg.Connection, load_counts: Any
) -> None:
    first = [make_fetched(sync_id="sched-a", channel=Channel.TIKTOK) for _ in range(300)]
    async with run_loader():
        await publish(topics.campaign_fetched, first)
        await wait_counted(load_counts, db, 300)
        snapshot = await db.fetch(CAMPAIGN_SNAPSHOT)
        await publish(topics.campaign_fetched, first)  # the same messages again, e.g. a re-run sync
        await wait_counted(load_counts, db, 600)
        assert await db.fetch(CAMPAIGN_SNAPSHOT) == snapshot
    counts = (await load_counts(db))[("sched-a", "tiktok")]
    assert counts == Counter(inserted=300, updated=0, unchanged=300, rejected=0)
    assert len(snapshot) == 300


async def test_older_fetch_never_overwrites_newer_and_newer_does(
    run_loader: Any, publish: Any, make_fetched: Any, topics: Topics, db: asyncpg.Connection, load_counts: Any
) -> None:
    t = dt.datetime(2026, 11, 25, 14, tzinfo=dt.UTC)
    newer = make_fetched("fb_1", sync_id="s2", fetched_at=t, impressions=200, clicks=20)
    older = make_fetched("fb_1", sync_id="s1", fetched_at=t - dt.timedelta(hours=1), impressions=100)
    newest = make_fetched("fb_1", sync_id="s3", fetched_at=t + dt.timedelta(hours=1), impressions=300)
    same_age = make_fetched("fb_1", sync_id="s4", fetched_at=t + dt.timedelta(hours=1), impressions=999)

    async def row() -> asyncpg.Record:
        return await db.fetchrow("SELECT impressions, clicks, sync_id, fetched_at FROM campaigns")

    async with run_loader():
        await publish(topics.campaign_fetched, [newer])
        await wait_counted(load_counts, db, 1)
        await publish(topics.campaign_fetched, [older])
        await wait_counted(load_counts, db, 2)
        assert tuple(await row()) == (200, 20, "s2", t)
        await publish(topics.campaign_fetched, [newest])
        await wait_counted(load_counts, db, 3)
        assert tuple(await row()) == (300, 10, "s3", t + dt.timedelta(hours=1))
        await publish(topics.campaign_fetched, [same_age])
        await wait_counted(load_counts, db, 4)
        assert (await row())["impressions"] == 300
    counts = await load_counts(db)
    assert counts[("s2", "facebook")] == Counter(inserted=1)
    assert counts[("s1", "facebook")] == Counter(unchanged=1)
    assert counts[("s3", "facebook")] == Counter(updated=1)
    assert counts[("s4", "facebook")] == Counter(unchanged=1)
    assert await db.fetchval("SELECT count(*) FROM campaigns") == 1


async def test_duplicates_inside_one_batch_collapse_to_the_newest(
    run_loader: Any, publish: Any, make_fetched: Any, topics: Topics, db: asyncpg.Connection, load_counts: Any
) -> None:
    t = dt.datetime(2026, 11, 25, 14, tzinfo=dt.UTC)
    versions = [
        make_fetched("ig_7", sync_id="s", channel=Channel.INSTAGRAM, fetched_at=t + dt.timedelta(hours=h))
        for h in (2, 0, 3, 1)
    ]
    # Published before the loader starts, so one batch holds all four.
    await publish(topics.campaign_fetched, versions)
    async with run_loader():
        await wait_counted(load_counts, db, 4)
    assert await db.fetchval(
        "SELECT fetched_at FROM campaigns WHERE campaign_id = 'ig_7'"
    ) == t + dt.timedelta(hours=3)
    assert (await load_counts(db))[("s", "instagram")] == Counter(inserted=1, unchanged=3)
    assert await db.fetchval("SELECT count(*) FROM events WHERE type = 'load'") == 1


async def test_every_committed_batch_writes_one_load_event_per_sync_and_channel(
    run_loader: Any, publish: Any, make_fetched: Any, topics: Topics, db: asyncpg.Connection, load_counts: Any
) -> None:
    messages = [
        make_fetched(sync_id=sync_id, channel=channel)
        for sync_id in ("sync-x", "sync-y")
        for channel in (Channel.GOOGLE_ADS, Channel.TIKTOK)
        for _ in range(25)
    ]
    await publish(topics.campaign_fetched, messages)
    async with run_loader():
        await wait_counted(load_counts, db, 100)
    rows = await db.fetch("SELECT event_id, sync_id, channel, payload, occurred_at FROM events")
    assert {(r["sync_id"], r["channel"]) for r in rows} == {
        (s, c) for s in ("sync-x", "sync-y") for c in ("google_ads", "tiktok")
    }
    assert len(rows) == 4  # one batch: one load event per (sync_id, channel)
    for counts in (await load_counts(db)).values():
        assert counts == Counter(inserted=25)
    offsets = await db.fetch("SELECT topic, partition, next_offset FROM consumer_offsets")
    assert {r["topic"] for r in offsets} == {topics.campaign_fetched}
    assert sum(r["next_offset"] for r in offsets) == 100


async def test_health_ready_and_metrics_report_the_loader(
    run_loader: Any, publish: Any, make_fetched: Any, topics: Topics, db: asyncpg.Connection, load_counts: Any
) -> None:
    async with run_loader() as app:
        await publish(topics.campaign_fetched, [make_fetched() for _ in range(20)])
        await wait_counted(load_counts, db, 20)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://loader") as client:
            assert (await client.get("/health")).json() == {"status": "ok"}
            ready = await client.get("/ready")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"] == {"database": "ok", "kafka": "ok", "pipeline": "ok"}
            metrics = (await client.get("/metrics")).text
    for name in (
        "demetra_loader_batches_total",
        'demetra_loader_rows_total{outcome="inserted"}',
        'demetra_loader_rows_total{outcome="rejected"}',
    ):
        assert name in metrics
    # FastStream's consume metrics (every broker of make_broker): the 20 messages, whatever the batching.
    received = (
        'demetra_kafka_received_messages_total{app_name="demetra-loader",broker="kafka",'
        f'handler="{topics.campaign_fetched}"}} 20.0'
    )
    assert received in metrics


async def committed_offsets(bootstrap: str, group_id: str) -> dict[str, int]:
    """Sum of the committed offsets of a consumer group, per topic."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group_id)
    finally:
        await admin.close()
    totals: dict[str, int] = {}
    for partition, committed in offsets.items():
        totals[partition.topic] = totals.get(partition.topic, 0) + committed.offset
    return totals


async def test_sync_requests_and_fetch_events_from_kafka_land_in_the_events_table(
    run_loader: Any,
    publish: Any,
    topics: Topics,
    db: asyncpg.Connection,
    kafka_bootstrap: str,
) -> None:
    requested = SyncRequested(sync_id="api-42", trigger=Trigger.API)
    completed = SyncEvent(
        sync_id="api-42", channel=Channel.TIKTOK, type=SyncEventType.FETCH_COMPLETED, count=12
    )
    request = (b"api-42", requested.model_dump_json().encode())
    async with run_loader():
        await publish(topics.sync_requested, [request, request, (b"x", b"{oops")])
        await publish(topics.sync_events, [(b"api-42", completed.model_dump_json().encode())])

        async def committed() -> bool:
            offsets = await committed_offsets(kafka_bootstrap, topics.prefix + "loader.events")
            return offsets.get(topics.sync_requested) == 3 and offsets.get(topics.sync_events) == 1

        await eventually(committed, what="the loader.events group committed all four messages")
    rows = await db.fetch("SELECT sync_id, channel, type FROM events ORDER BY type")
    assert [tuple(row) for row in rows] == [
        ("api-42", "tiktok", "fetch.completed"),
        ("api-42", None, "sync.requested"),
    ]
