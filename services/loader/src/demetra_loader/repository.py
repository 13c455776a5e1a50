"""Every SQL statement of the loader. asyncpg directly: the load path is COPY plus one set-based upsert, where
an ORM would add nothing but per-row cost. Repositories never commit; ``Database.transaction()`` does."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from demetra_common.db import plain_dsn

# One row of ``campaigns`` as the loader writes it, in CAMPAIGN_COLUMNS order.
CampaignValues = tuple[str, str, str, dt.date, int, int, int, float, float, float, dt.datetime, str]
# One row of ``events``: event_id, sync_id, channel, type, payload (JSON text), occurred_at.
EventValues = tuple[uuid.UUID, str, str | None, str, str, dt.datetime]
Position = tuple[str, int]  # (topic, partition)

CAMPAIGN_COLUMNS = (
    "campaign_id",
    "channel",
    "name",
    "date",
    "impressions",
    "clicks",
    "engagement",
    "cost",
    "conversion_rate",
    "roi",
    "fetched_at",
    "sync_id",
)
_STAGE = "loader_campaigns_stage"
_CREATE_STAGE = f"""
CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGE} (
    campaign_id text, channel text, name text, date date, impressions bigint, clicks bigint,
    engagement bigint, cost double precision, conversion_rate double precision, roi double precision,
    fetched_at timestamptz, sync_id text
) ON COMMIT DELETE ROWS
"""
_COLUMN_LIST = ", ".join(CAMPAIGN_COLUMNS)
_UPDATED = ", ".join(
    f"{column} = excluded.{column}" for column in CAMPAIGN_COLUMNS if column != "campaign_id"
)
# The version guard is the WHERE: only a strictly newer fetched_at changes a row. RETURNING lists the rows
# that changed; xmax = 0 tells a fresh insert from an update.
_UPSERT = f"""
INSERT INTO campaigns AS c ({_COLUMN_LIST})
SELECT {_COLUMN_LIST} FROM {_STAGE}
ON CONFLICT (campaign_id) DO UPDATE SET {_UPDATED}, updated_at = now()
WHERE excluded.fetched_at > c.fetched_at
RETURNING c.campaign_id, (c.xmax = 0) AS inserted
"""
_ENSURE_OFFSETS = """
INSERT INTO consumer_offsets (group_id, topic, partition, next_offset)
SELECT $1, p.topic, p.partition, 0 FROM unnest($2::text[], $3::int[]) AS p(topic, partition)
ORDER BY p.topic, p.partition
ON CONFLICT DO NOTHING
"""
_LOCK_OFFSETS = """
SELECT o.topic, o.partition, o.next_offset
FROM consumer_offsets o JOIN unnest($2::text[], $3::int[]) AS p(topic, partition)
  ON o.topic = p.topic AND o.partition = p.partition
WHERE o.group_id = $1
ORDER BY o.topic, o.partition
FOR UPDATE OF o
"""
_SAVE_OFFSETS = """
UPDATE consumer_offsets o SET next_offset = GREATEST(o.next_offset, p.next_offset), updated_at = now()
FROM unnest($2::text[], $3::int[], $4::bigint[]) AS p(topic, partition, next_offset)
WHERE o.group_id = $1 AND o.topic = p.topic AND o.partition = p.partition
"""
_INSERT_EVENTS = """
INSERT INTO events (event_id, sync_id, channel, type, payload, occurred_at)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::timestamptz[])
ON CONFLICT (event_id) DO NOTHING
"""


class RejectedByDatabase(Exception):
    """PostgreSQL refused the data itself (SQLSTATE class 22 or 23): retrying the same rows cannot help."""


class LoaderRepository:
    """The loader's statements on one connection, inside a transaction opened by ``Database``."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection

    async def lock_offsets(self, group_id: str, positions: Sequence[Position]) -> dict[Position, int]:
        """Next offset to apply per (topic, partition), locked until commit so that two consumers of one
        partition (during a rebalance) take turns instead of both applying the same records."""
        ordered = sorted(set(positions))
        topics = [topic for topic, _ in ordered]
        partitions = [partition for _, partition in ordered]
        await self._connection.execute(_ENSURE_OFFSETS, group_id, topics, partitions)
        rows = await self._connection.fetch(_LOCK_OFFSETS, group_id, topics, partitions)
        return {(row["topic"], row["partition"]): row["next_offset"] for row in rows}

    async def save_offsets(self, group_id: str, next_offsets: Mapping[Position, int]) -> None:
        ordered = sorted(next_offsets.items())
        await self._connection.execute(
            _SAVE_OFFSETS,
            group_id,
            [topic for (topic, _), _ in ordered],
            [partition for (_, partition), _ in ordered],
            [offset for _, offset in ordered],
        )

    async def upsert_campaigns(self, rows: Sequence[CampaignValues]) -> dict[str, bool]:
        """Insert new campaign_ids and update older rows; returns {campaign_id: inserted?} of changed rows.

        The rows must have distinct campaign_ids. Runs in a savepoint, so that a rejection
        (``RejectedByDatabase``) leaves the surrounding transaction usable.
        """
        if not rows:
            return {}
        try:
            async with self._connection.transaction():
                await self._connection.execute(f"TRUNCATE {_STAGE}")
                await self._connection.copy_records_to_table(_STAGE, records=rows, columns=CAMPAIGN_COLUMNS)
                changed = await self._connection.fetch(_UPSERT)
        except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError) as exc:
            raise RejectedByDatabase(f"{type(exc).__name__}: {exc}") from exc
        return {row["campaign_id"]: row["inserted"] for row in changed}

    async def insert_events(self, rows: Sequence[EventValues]) -> int:
        """Insert event rows, ignoring event_ids already recorded; returns how many were new."""
        if not rows:
            return 0
        columns = list(zip(*rows, strict=True))
        status = await self._connection.execute(_INSERT_EVENTS, *(list(column) for column in columns))
        return int(status.rsplit(" ", 1)[1])


class Database:
    """A small asyncpg pool. Connects lazily (min_size 0), so the loader starts while PostgreSQL is down."""

    def __init__(self, database_url: str, *, max_size: int, connect_timeout_s: float) -> None:
        self._dsn = plain_dsn(database_url)
        self._max_size = max_size
        self._connect_timeout_s = connect_timeout_s
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        self._pool = await asyncpg.create_pool(
            self._dsn,
            min_size=0,
            max_size=self._max_size,
            timeout=self._connect_timeout_s,
            command_timeout=300,
            init=_prepare_connection,
        )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("Database.open() was not called")
        return self._pool

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[LoaderRepository]:
        """One transaction: committed when the block ends normally, rolled back on any exception."""
        async with self.pool.acquire() as connection, connection.transaction():
            yield LoaderRepository(connection)

    async def ping(self) -> bool:
        async with self.pool.acquire() as connection:
            return bool(await connection.fetchval("SELECT 1") == 1)


async def _prepare_connection(connection: Any) -> None:
    await connection.execute(_CREATE_STAGE)
