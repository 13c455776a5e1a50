"""Every SQL statement of the loader. asyncpg directly: the load path is COPY and set-based statements over
arrays, where an ORM would add nothing but per-row cost. Repositories never commit;
``PostgresDatabase.transaction()`` does. ``demetra_loader.core.storage`` says what the core needs of them."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any, Final

import asyncpg

from demetra_common.db import make_pool
from demetra_common.tables import CAMPAIGN_DATA_COLUMNS

# One row of ``campaigns`` as the loader writes it, in CAMPAIGN_DATA_COLUMNS order.
CampaignValues = tuple[str, str, str, dt.date, int, int, int, Decimal, float, float, dt.datetime, str]
# One row of ``events``: event_id, sync_id, channel, type, payload (JSON text), occurred_at.
EventValues = tuple[uuid.UUID, str, str | None, str, str, dt.datetime]
Partition = tuple[str, int]  # (topic, partition)

# Where the fields the loader reads back sit in a CampaignValues row (a unit test holds them to the columns).
CAMPAIGN_ID: Final = 0
CHANNEL: Final = 1
FETCHED_AT: Final = 10
SYNC_ID: Final = 11
_STAGE = "loader_campaigns_stage"
_CREATE_STAGE = f"""
CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGE} (
    campaign_id text, channel text, name text, date date, impressions bigint, clicks bigint,
    engagement bigint, cost numeric, conversion_rate double precision, roi double precision,
    fetched_at timestamptz, sync_id text
) ON COMMIT DELETE ROWS
"""
_COLUMN_LIST = ", ".join(CAMPAIGN_DATA_COLUMNS)
_VERSIONED = [column for column in CAMPAIGN_DATA_COLUMNS if column != "campaign_id"]
_EXISTING = "SELECT campaign_id FROM campaigns WHERE campaign_id = ANY($1::text[])"
# The version guard is the WHERE: only a strictly newer fetched_at changes a row.
_UPDATE_NEWER = f"""
UPDATE campaigns AS c SET {", ".join(f"{column} = s.{column}" for column in _VERSIONED)}, updated_at = now()
FROM {_STAGE} AS s
WHERE c.campaign_id = s.campaign_id AND s.fetched_at > c.fetched_at
RETURNING c.campaign_id
"""
# The same in one statement, right whatever other writers do at the same time; xmax = 0 tells a fresh
# insert from an update.
_UPSERT = f"""
INSERT INTO campaigns AS c ({_COLUMN_LIST})
SELECT {_COLUMN_LIST} FROM {_STAGE}
ON CONFLICT (campaign_id) DO UPDATE SET {", ".join(f"{column} = excluded.{column}" for column in _VERSIONED)},
    updated_at = now()
WHERE excluded.fetched_at > c.fetched_at
RETURNING c.campaign_id, (c.xmax = 0) AS inserted
"""
# Creates missing rows and locks every row until commit (DO UPDATE locks even when it changes nothing), in
# one round trip; RETURNING gives the latest committed next_offset.
_LOCK_OFFSETS = """
INSERT INTO consumer_offsets AS o (group_id, topic, partition, next_offset)
SELECT $1, p.topic, p.partition, 0 FROM unnest($2::text[], $3::int[]) AS p(topic, partition)
ORDER BY p.topic, p.partition
ON CONFLICT (group_id, topic, partition) DO UPDATE SET next_offset = o.next_offset
RETURNING o.topic, o.partition, o.next_offset
"""
_INSERT_EVENTS = """
INSERT INTO events (event_id, sync_id, channel, type, payload, occurred_at)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::timestamptz[])
ON CONFLICT (event_id) DO NOTHING
"""
# A batch's last statement: its load events and the offsets after it, in one round trip.
_FINISH_BATCH = f"""
WITH saved AS (
    UPDATE consumer_offsets o SET next_offset = GREATEST(o.next_offset, p.next_offset), updated_at = now()
    FROM unnest($7::text[], $8::int[], $9::bigint[]) AS p(topic, partition, next_offset)
    WHERE o.group_id = $10 AND o.topic = p.topic AND o.partition = p.partition
)
{_INSERT_EVENTS}
"""


class RejectedByDatabase(Exception):
    """PostgreSQL refused the data itself (SQLSTATE class 22 or 23): retrying the same rows cannot help."""


class PostgresRepository:
    """The loader's statements on one connection, inside a transaction opened by ``PostgresDatabase``."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection
        self._stage_used = False

    async def lock_offsets(self, group_id: str, partitions: Sequence[Partition]) -> dict[Partition, int]:
        """Next offset to apply per (topic, partition), locked until commit so that two consumers of one
        partition (during a rebalance) take turns instead of both applying the same records."""
        ordered = sorted(set(partitions))
        rows = await self._connection.fetch(
            _LOCK_OFFSETS, group_id, [topic for topic, _ in ordered], [partition for _, partition in ordered]
        )
        return {(row["topic"], row["partition"]): row["next_offset"] for row in rows}

    async def write_campaigns(self, rows: Sequence[CampaignValues]) -> dict[str, bool]:
        """Insert new campaign_ids and update rows older than the given ones; returns {campaign_id: inserted?}
        of the rows that changed. The rows must have distinct campaign_ids.

        The fast path: new campaigns are COPYed straight into the table (PostgreSQL's bulk insert, about
        twice as fast as INSERT ... ON CONFLICT), known ones updated from a COPYed staging table under the
        version guard. Any refusal raises ``RejectedByDatabase`` and leaves the transaction aborted; that
        includes a campaign inserted by another writer between the lookup and the COPY. The caller then
        starts over with ``upsert_campaigns``.
        """
        if not rows:
            return {}
        try:
            known = await self._connection.fetch(_EXISTING, [row[0] for row in rows])
            existing = {row["campaign_id"] for row in known}
            changed: dict[str, bool] = {}
            new = [row for row in rows if row[0] not in existing]
            if new:
                await self._connection.copy_records_to_table(
                    "campaigns", records=new, columns=CAMPAIGN_DATA_COLUMNS
                )
                changed.update((row[0], True) for row in new)
            if existing:
                await self._stage([row for row in rows if row[0] in existing])
                updated = await self._connection.fetch(_UPDATE_NEWER)
                changed.update((row["campaign_id"], False) for row in updated)
        except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError) as exc:
            raise RejectedByDatabase(f"{type(exc).__name__}: {exc}") from exc
        return changed

    async def upsert_campaigns(self, rows: Sequence[CampaignValues]) -> dict[str, bool]:
        """What ``write_campaigns`` does, through INSERT ... ON CONFLICT (right whatever other writers do)
        and in a savepoint: after a ``RejectedByDatabase`` the surrounding transaction is still usable."""
        if not rows:
            return {}
        try:
            async with self._connection.transaction():
                await self._stage(rows)
                changed = await self._connection.fetch(_UPSERT)
        except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError) as exc:
            raise RejectedByDatabase(f"{type(exc).__name__}: {exc}") from exc
        return {row["campaign_id"]: row["inserted"] for row in changed}

    async def _stage(self, rows: Sequence[CampaignValues]) -> None:
        if self._stage_used:  # by an earlier part of this transaction; a fresh transaction starts empty
            await self._connection.execute(f"TRUNCATE {_STAGE}")
        self._stage_used = True
        await self._connection.copy_records_to_table(_STAGE, records=rows, columns=CAMPAIGN_DATA_COLUMNS)

    async def finish_batch(
        self, group_id: str, next_offsets: Mapping[Partition, int], events: Sequence[EventValues]
    ) -> None:
        """Record the batch's load events and move its offsets forward, in one statement."""
        ordered = sorted(next_offsets.items())
        await self._connection.execute(
            _FINISH_BATCH,
            *_columns(events, 6),
            [topic for (topic, _), _ in ordered],
            [partition for (_, partition), _ in ordered],
            [offset for _, offset in ordered],
            group_id,
        )

    async def insert_events(self, rows: Sequence[EventValues]) -> int:
        """Insert event rows, ignoring event_ids already recorded; returns how many were new."""
        if not rows:
            return 0
        status = await self._connection.execute(_INSERT_EVENTS, *_columns(rows, 6))
        return int(status.rsplit(" ", 1)[1])


def _columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows as one list per column, for ``unnest($1::type[], ...)``."""
    columns: list[list[Any]] = [[] for _ in range(width)]
    for row in rows:
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    return columns


class PostgresDatabase:
    """A small asyncpg pool. Connects lazily (min_size 0), so the loader starts while PostgreSQL is down."""

    def __init__(self, database_url: str, *, max_size: int, connect_timeout_s: float) -> None:
        self._database_url = database_url
        self._max_size = max_size
        self._connect_timeout_s = connect_timeout_s
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        self._pool = await make_pool(
            self._database_url,
            max_size=self._max_size,
            timeout_s=self._connect_timeout_s,
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
            raise RuntimeError("PostgresDatabase.open() was not called")
        return self._pool

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresRepository]:
        """One transaction: committed when the block ends normally, rolled back on any exception."""
        async with self.pool.acquire() as connection, connection.transaction():
            yield PostgresRepository(connection)

    async def ping(self) -> bool:
        """PostgreSQL answers; false before ``open`` and after ``close``."""
        if self._pool is None:
            return False
        async with self._pool.acquire() as connection:
            return bool(await connection.fetchval("SELECT 1") == 1)


async def _prepare_connection(connection: Any) -> None:
    await connection.execute(_CREATE_STAGE)
