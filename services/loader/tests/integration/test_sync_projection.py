"""The sync projection (syncs, sync_channels) as the loader keeps it: in the transaction of the event rows
it summarises, unchanged by a redelivery, counting the attempt the status rule counts."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import asyncpg
import pytest

from demetra_common.contracts import (
    Channel,
    EventType,
    LoadCounts,
    SyncEvent,
    SyncEventType,
    SyncRequested,
    Trigger,
)
from demetra_common.sync_projection import EventValues
from demetra_common.sync_status import ChannelState, SyncState
from demetra_loader.repository import PostgresDatabase
from demetra_testkit import eventually

T0 = dt.datetime(2026, 11, 25, 14, tzinfo=dt.UTC)
FB, TT = Channel.FACEBOOK, Channel.TIKTOK


def requested(sync_id: str, *channels: Channel) -> EventValues:
    message = SyncRequested(sync_id=sync_id, trigger=Trigger.MANUAL, channels=list(channels), requested_at=T0)
    return (message.event_id, sync_id, None, EventType.SYNC_REQUESTED, message.model_dump_json(), T0)


def fetch(sync_id: str, channel: Channel, kind: SyncEventType, seconds: int, **fields: Any) -> EventValues:
    at = T0 + dt.timedelta(seconds=seconds)
    event = SyncEvent(sync_id=sync_id, channel=channel, type=kind, occurred_at=at, **fields)
    return (event.event_id, sync_id, channel.value, EventType(kind.value), event.model_dump_json(), at)


def load(sync_id: str, channel: Channel, seconds: int, **counts: Any) -> EventValues:
    at = T0 + dt.timedelta(seconds=seconds)
    payload = LoadCounts(**counts).model_dump_json(exclude_none=True)
    return (uuid.uuid4(), sync_id, channel.value, EventType.LOAD, payload, at)


async def channel_row(db: asyncpg.Connection, sync_id: str, channel: Channel) -> asyncpg.Record | None:
    return await db.fetchrow(
        "SELECT * FROM sync_channels WHERE sync_id = $1 AND channel = $2", sync_id, channel.value
    )


async def projection(db: asyncpg.Connection) -> list[dict[str, Any]]:
    syncs = await db.fetch("SELECT * FROM syncs ORDER BY sync_id")
    channels = await db.fetch("SELECT * FROM sync_channels ORDER BY sync_id, channel")
    return [dict(row) for row in (*syncs, *channels)]


async def record(database: PostgresDatabase, rows: list[EventValues]) -> int:
    async with database.transaction() as repository:
        return await repository.insert_events(rows)


async def test_the_projection_commits_and_rolls_back_with_the_event_rows(
    database: PostgresDatabase, db: asyncpg.Connection
) -> None:
    with pytest.raises(RuntimeError):
        async with database.transaction() as repository:
            await repository.insert_events([requested("s-gone", FB)])
            raise RuntimeError("the transaction fails after the insert")
    assert await db.fetchval("SELECT count(*) FROM syncs") == 0
    assert await db.fetchval("SELECT count(*) FROM events") == 0

    async with database.transaction() as repository:
        await repository.insert_events([requested("s-1", FB, TT)])
        # Inside the transaction, before commit: another connection sees neither the event nor the sync.
        assert await db.fetchval("SELECT count(*) FROM syncs") == 0
    sync = await db.fetchrow("SELECT * FROM syncs WHERE sync_id = 's-1'")
    assert sync is not None and (sync["state"], sync["trigger"], sync["requested"]) == (
        "running",
        "manual",
        2,
    )
    assert [r["channel"] for r in await db.fetch("SELECT channel FROM sync_channels ORDER BY channel")] == [
        "facebook",
        "tiktok",
    ]


async def test_a_batch_s_load_rows_refresh_the_projection_in_its_transaction(
    database: PostgresDatabase, db: asyncpg.Connection
) -> None:
    completed = fetch("s-2", FB, SyncEventType.FETCH_COMPLETED, 5, count=3)
    await record(database, [requested("s-2", FB), completed])
    partition = ("campaign.fetched", 0)
    async with database.transaction() as repository:
        offsets = await repository.lock_offsets("loader", [partition])
        await repository.finish_batch(
            "loader", {partition: offsets[partition] + 3}, [load("s-2", FB, 6, inserted=3)]
        )
    row = await channel_row(db, "s-2", FB)
    assert row is not None and (row["status"], row["fetched"], row["loaded"], row["inserted"]) == (
        ChannelState.COMPLETED, 3, 3, 3
    )  # fmt: skip
    assert await db.fetchval("SELECT state FROM syncs WHERE sync_id = 's-2'") == SyncState.COMPLETED


async def test_an_event_delivered_twice_changes_nothing(
    database: PostgresDatabase, db: asyncpg.Connection
) -> None:
    started = fetch("s-3", FB, SyncEventType.FETCH_STARTED, 1)
    rows = [requested("s-3", FB), started, load("s-3", FB, 2, inserted=2)]
    assert await record(database, rows) == 3
    before = await projection(db)
    assert await record(database, rows) == 0  # every event_id recorded already
    assert await record(database, rows[1:2]) == 0
    assert await projection(db) == before  # not even updated_at
    row = await channel_row(db, "s-3", FB)
    assert row is not None and (row["status"], row["loaded"]) == (ChannelState.FETCHING, 2)


async def test_the_projection_counts_the_newest_completed_attempt_only(
    database: PostgresDatabase, db: asyncpg.Connection
) -> None:
    first, second = "a" * 32, "b" * 32
    await record(
        database,
        [
            requested("s-4", FB),
            fetch("s-4", FB, SyncEventType.FETCH_STARTED, 1, attempt=first),
            load("s-4", FB, 2, inserted=4, attempt=first),  # a partial fetch, then a crash
        ],
    )
    row = await channel_row(db, "s-4", FB)
    assert row is not None and (row["status"], row["attempt"], row["loaded"]) == ("fetching", first, 4)
    await record(
        database,
        [
            fetch("s-4", FB, SyncEventType.FETCH_STARTED, 10, attempt=second),
            load("s-4", FB, 11, unchanged=3, attempt=second),
        ],
    )
    row = await channel_row(db, "s-4", FB)
    assert row is not None and (row["attempt"], row["attempts"], row["loaded"]) == (second, 2, 3)
    await record(database, [fetch("s-4", FB, SyncEventType.FETCH_COMPLETED, 12, count=3, attempt=second)])
    row = await channel_row(db, "s-4", FB)
    assert row is not None
    facts = ("status", "attempt", "fetched", "loaded", "unchanged", "inserted")
    assert tuple(row[name] for name in facts) == (ChannelState.COMPLETED, second, 3, 3, 3, 0)


async def test_concurrent_transactions_of_one_sync_never_store_a_view_missing_the_other_s_rows(
    database: PostgresDatabase, db: asyncpg.Connection
) -> None:
    """The loads (campaign batches) and the fetch.completed (sync events) come through two consumers: the
    last to commit refreshes from both, whatever the interleaving."""
    await record(database, [requested("s-5", FB)])
    completed = fetch("s-5", FB, SyncEventType.FETCH_COMPLETED, 3, count=2)
    loaded = load("s-5", FB, 4, inserted=2)
    inside = asyncio.Event()

    async def waiting_for_a_lock() -> bool:
        waiting = await db.fetchval(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return bool(waiting)

    async def slow_loads() -> None:
        async with database.transaction() as repository:
            await repository.insert_events([loaded])
            inside.set()
            # Commit only once the other transaction waits for this one's lock on the sync.
            await eventually(waiting_for_a_lock, timeout=10, what="the fetch.completed waiting for the sync")

    async def completion() -> None:
        await inside.wait()
        await record(database, [completed])

    await asyncio.gather(slow_loads(), completion())
    row = await channel_row(db, "s-5", FB)
    assert row is not None and (row["status"], row["fetched"], row["loaded"]) == ("completed", 2, 2)
