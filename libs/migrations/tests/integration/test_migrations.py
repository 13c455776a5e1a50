import asyncio

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from demetra_common.db import asyncpg_url, plain_dsn
from demetra_common.tables import DAILY_PARTITIONS, Base
from demetra_migrations.migrate import downgrade, upgrade
from demetra_testkit import private_database

EXPECTED = {
    "campaigns", "events", "consumer_offsets", "campaign_daily", "restatements", "insights", "syncs",
    "sync_channels",
}  # fmt: skip


async def _tables(url: str) -> set[str]:
    connection = await asyncpg.connect(plain_dsn(url))
    try:
        rows = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await connection.close()
    names = {row["tablename"] for row in rows} - {"alembic_version"}
    return {name for name in names if DAILY_PARTITIONS.month_from_name(name) is None}


async def test_migrations_upgrade_an_empty_database_and_downgrade_it_again(empty_database_url: str) -> None:
    assert await _tables(empty_database_url) == set()
    await asyncio.to_thread(upgrade, empty_database_url)
    assert await _tables(empty_database_url) == EXPECTED
    await asyncio.to_thread(downgrade, empty_database_url)
    assert await _tables(empty_database_url) == set()
    await asyncio.to_thread(upgrade, empty_database_url)
    assert await _tables(empty_database_url) == EXPECTED


async def _index_definitions(url: str, table: str) -> dict[str, str]:
    connection = await asyncpg.connect(plain_dsn(url))
    try:
        rows = await connection.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = $1", table
        )
    finally:
        await connection.close()
    return {row["indexname"]: row["indexdef"] for row in rows}


async def _create_from_metadata(url: str, table: str) -> None:
    engine = create_async_engine(asyncpg_url(url))
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
            await connection.run_sync(Base.metadata.tables[table].create)
    finally:
        await engine.dispose()


async def test_the_campaign_indexes_of_the_migrations_are_those_tables_declares(
    empty_database_url: str, postgres_server_url: str
) -> None:
    """The query API's plans rely on the indexes tables.py declares (CAMPAIGN_SORT_INDEXES, ...): the
    migrated schema has exactly those, defined alike (PostgreSQL's own rendering of both)."""
    await asyncio.to_thread(upgrade, empty_database_url)
    async with private_database(postgres_server_url, prefix="t_meta", migrate=False) as declared:
        await _create_from_metadata(declared, "campaigns")
        assert await _index_definitions(empty_database_url, "campaigns") == await _index_definitions(
            declared, "campaigns"
        )


BEFORE_THE_PROJECTION = "0400"
EVENTS = """
INSERT INTO events (event_id, sync_id, channel, type, payload, occurred_at, recorded_at)
VALUES (gen_random_uuid(), 'sched-old', NULL, 'sync.requested',
        '{"sync_id": "sched-old", "trigger": "schedule", "channels": ["facebook", "tiktok"],
          "requested_at": "2026-11-20T10:00:00+00:00"}', '2026-11-20T10:00Z', '2026-11-20T10:00Z'),
       (gen_random_uuid(), 'sched-old', 'facebook', 'fetch.completed', '{"count": 2}',
        '2026-11-20T10:01Z', '2026-11-20T10:01Z'),
       (gen_random_uuid(), 'sched-old', 'facebook', 'load', '{"inserted": 2}',
        '2026-11-20T10:02Z', '2026-11-20T10:02Z'),
       (gen_random_uuid(), 'sched-old', 'tiktok', 'fetch.failed', '{"error": "boom"}',
        '2026-11-20T10:03Z', '2026-11-20T10:03Z'),
       (gen_random_uuid(), 'api-lonely', 'google_ads', 'fetch.started', '{}',
        '2026-11-21T08:00Z', '2026-11-21T08:00Z')
"""


async def _execute(url: str, sql: str) -> None:
    connection = await asyncpg.connect(plain_dsn(url))
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def _fetch(url: str, sql: str) -> list[tuple[object, ...]]:
    connection = await asyncpg.connect(plain_dsn(url))
    try:
        return [tuple(row) for row in await connection.fetch(sql)]
    finally:
        await connection.close()


async def test_the_sync_projection_is_backfilled_from_the_events_recorded_before_it(
    empty_database_url: str,
) -> None:
    """An existing deployment: migration 0500 fills syncs and sync_channels from its events, by the rule."""
    await asyncio.to_thread(upgrade, empty_database_url, BEFORE_THE_PROJECTION)
    await _execute(empty_database_url, EVENTS)
    await asyncio.to_thread(upgrade, empty_database_url)
    assert await _fetch(
        empty_database_url, "SELECT sync_id, trigger, state, requested FROM syncs ORDER BY listed_at"
    ) == [("sched-old", "schedule", "partial", 2), ("api-lonely", None, "running", 1)]
    assert await _fetch(
        empty_database_url,
        "SELECT sync_id, channel, status, fetched, loaded, error FROM sync_channels "
        "ORDER BY sync_id, channel",
    ) == [
        ("api-lonely", "google_ads", "fetching", None, 0, None),
        ("sched-old", "facebook", "completed", 2, 2, None),
        ("sched-old", "tiktok", "failed", None, 0, "boom"),
    ]
