"""Every SQL statement of the loader. asyncpg directly: the load path is COPY and set-based statements over
arrays, where an ORM would add nothing but per-row cost. Repositories never commit;
``PostgresDatabase.transaction()`` does. ``demetra_loader.core.storage`` says what the core needs of them."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

import asyncpg
import orjson

from demetra_common.db import TransactionalPool
from demetra_common.sync_projection import EventValues as EventValues  # the loader's modules use it
from demetra_common.sync_projection import (
    event_columns,
    insert_events_sql,
    record_events,
    refresh_syncs,
)
from demetra_common.sync_status import ChannelState
from demetra_common.tables import (
    CAMPAIGN_DATA_COLUMNS,
    DAILY_COLUMNS,
    DAILY_METRIC_COLUMNS,
    DAILY_PARTITIONS,
    CampaignDayRow,
    RestatementRow,
    SyncChannelRow,
)
from demetra_loader.daily_copy import DailyValues as DailyValues  # the loader's modules use them
from demetra_loader.daily_copy import MessageDays as MessageDays
from demetra_loader.daily_copy import Unencodable, encode_days

# One row of ``campaigns`` as the loader writes it, in CAMPAIGN_DATA_COLUMNS order.
CampaignValues = tuple[str, str, str, dt.date, int, int, int, Decimal, float, float, dt.datetime, str]
Partition = tuple[str, int]  # (topic, partition)
# One row of ``restatements`` as the loader writes it, in RESTATEMENT_COLUMNS order.
RestatementValues = tuple[uuid.UUID, str, str, dt.date, str, float, float, str, dt.datetime, dt.datetime]
# What the loader writes of a restatement: every column but the ones PostgreSQL fills in or the outbox sets.
RESTATEMENT_COLUMNS: Final = tuple(
    column.name
    for column in RestatementRow.__table__.columns
    if column.name not in ("id", "recorded_at", "published_at")
)

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
# --- campaign_daily: the daily rows of schema-2 messages, each with its message's index in the batch.
_DAILY = CampaignDayRow.__tablename__
_DAILY_STAGE = "loader_daily_stage"
_CREATE_DAILY_STAGE = f"""
CREATE TEMPORARY TABLE IF NOT EXISTS {_DAILY_STAGE} (LIKE {_DAILY} INCLUDING DEFAULTS, message integer)
ON COMMIT DELETE ROWS
"""
_DAILY_STAGE_COLUMNS = (*DAILY_COLUMNS, "message")
_DAILY_LIST = ", ".join(DAILY_COLUMNS)
_DAILY_VERSIONED = [column for column in DAILY_COLUMNS if column not in ("campaign_id", "date")]
_METRICS = ", ".join(DAILY_METRIC_COLUMNS)
_OLD_METRICS = ", ".join(f"o.{metric}" for metric in DAILY_METRIC_COLUMNS)
_NEW_METRICS = ", ".join(f"w.{metric}" for metric in DAILY_METRIC_COLUMNS)
# One statement: the stored versions of the staged days (read before the upsert: every part of a statement
# sees the same snapshot), the upsert under the version guard (only a strictly newer fetched_at changes a
# day), and per message: how many of its days were stored already, how many of those it rewrote, how many
# it changed, and its restated days (a past day whose metrics changed) with the old and new metrics. Days
# new to the table are not returned: they are the message's staged days less the stored ones, so that
# loading a backfill sends nothing back per row.
_UPSERT_DAYS = f"""
WITH old AS (
    SELECT s.message, d.campaign_id, d.date, d.fetched_at, {", ".join(f"d.{m}" for m in DAILY_METRIC_COLUMNS)}
      FROM {_DAILY_STAGE} AS s
      JOIN {_DAILY} AS d ON d.campaign_id = s.campaign_id AND d.date = s.date
     WHERE d.date BETWEEN $1 AND $2
), written AS (
    INSERT INTO {_DAILY} AS d ({_DAILY_LIST})
    SELECT {_DAILY_LIST} FROM {_DAILY_STAGE}
    ON CONFLICT (campaign_id, date) DO UPDATE
       SET {", ".join(f"{column} = excluded.{column}" for column in _DAILY_VERSIONED)}, updated_at = now()
     WHERE excluded.fetched_at > d.fetched_at
    RETURNING d.campaign_id, d.date, d.fetched_at, {", ".join(f"d.{m}" for m in DAILY_METRIC_COLUMNS)}
), compared AS (
    SELECT o.message, o.date, o.fetched_at AS previous_fetched_at, w.fetched_at,
           w.campaign_id IS NOT NULL AS rewritten,
           w.campaign_id IS NOT NULL AND ({_OLD_METRICS}) IS DISTINCT FROM ({_NEW_METRICS}) AS changed,
           jsonb_build_array(o.date, o.fetched_at, {_OLD_METRICS}, {_NEW_METRICS}) AS detail
      FROM old AS o LEFT JOIN written AS w ON w.campaign_id = o.campaign_id AND w.date = o.date
)
SELECT message, count(*) AS existing, count(*) FILTER (WHERE rewritten) AS rewritten,
       count(*) FILTER (WHERE changed) AS changed,
       jsonb_agg(detail ORDER BY date) FILTER (
           WHERE changed AND date < (fetched_at AT TIME ZONE 'UTC')::date
       ) AS restated
  FROM compared
 GROUP BY message
"""
# The touched campaigns' rows re-derived from all their daily rows: CAMPAIGN_TOTALS is each column's
# expression over the daily rows `d` of a campaign `n` (campaign_id, name, sync_id); bench/history derives
# with it too. The version is the newest fetched_at
# of their days; it replaces a row as old or older (a backfill's later chunks carry the same version), so a
# newer schema-1 snapshot still wins. Each campaign's days are read by the primary key (campaign_id, date) of
# every partition (a campaign new in the batch: of its days' partitions, ``_derive_campaigns_sql``), one
# campaign at a time (LATERAL): as a join, a batch naming thousands of campaigns was planned as a hash join
# over a sequential scan of the whole daily table, once per batch, so that a backfill cost more the more
# history was stored (bench/history: 10,000 campaigns over 2.9M rows, 2.5 s against 1.0 s).
CAMPAIGN_TOTALS = {
    "campaign_id": "n.campaign_id",
    "channel": "min(d.channel)",
    "name": "n.name",
    "date": "max(d.date)",
    "impressions": "sum(d.impressions)",
    "clicks": "sum(d.clicks)",
    "engagement": "sum(d.engagement)",
    "cost": "sum(d.cost)",
    "conversion_rate": "CASE WHEN sum(d.clicks) > 0 THEN least(1.0, sum(d.conversions) / sum(d.clicks)) "
    "ELSE 0 END",
    "roi": "CASE WHEN sum(d.cost) > 0 THEN least(1000.0, greatest(-1.0, "
    "(sum(d.revenue) - sum(d.cost)::float8) / sum(d.cost)::float8)) ELSE 0 END",
    "fetched_at": "max(d.fetched_at)",
    "sync_id": "n.sync_id",
}


def _derive_campaigns_sql(*, within_days: bool) -> str:
    """The derive of campaigns from all their days; ``within_days``: from their days between each one's
    first and last day ($4, $5), for campaigns the caller knows had no day stored before this batch (all
    their days are the batch's). The totals are the same; only the partitions of that range are probed
    (run-time partition pruning): a new campaign's ~2 months of days, not every monthly partition kept."""
    identity, arrays, bound = "campaign_id, name, sync_id", "$1::text[], $2::text[], $3::text[]", ""
    if within_days:
        identity += ", first_day, last_day"
        arrays += ", $4::date[], $5::date[]"
        bound = " AND d.date BETWEEN n.first_day AND n.last_day"
    return f"""
INSERT INTO campaigns AS c ({_COLUMN_LIST})
SELECT t.* FROM unnest({arrays}) AS n({identity})
 CROSS JOIN LATERAL (
    SELECT {", ".join(CAMPAIGN_TOTALS[column] for column in CAMPAIGN_DATA_COLUMNS)}
      FROM {_DAILY} AS d WHERE d.campaign_id = n.campaign_id{bound} HAVING count(*) > 0
 ) AS t
ON CONFLICT (campaign_id) DO UPDATE SET {", ".join(f"{column} = excluded.{column}" for column in _VERSIONED)},
    updated_at = now()
WHERE excluded.fetched_at >= c.fetched_at
RETURNING c.campaign_id, (c.xmax = 0) AS inserted
"""


_DERIVE_CAMPAIGNS = _derive_campaigns_sql(within_days=False)
_DERIVE_NEW_CAMPAIGNS = _derive_campaigns_sql(within_days=True)
_RESTATEMENTS = RestatementRow.__tablename__
_INSERT_RESTATEMENTS = f"""
INSERT INTO {_RESTATEMENTS} ({", ".join(RESTATEMENT_COLUMNS)})
SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::date[], $5::text[], $6::float8[], $7::float8[],
                     $8::text[], $9::timestamptz[], $10::timestamptz[])
ON CONFLICT (event_id) DO NOTHING
RETURNING id, {", ".join(RESTATEMENT_COLUMNS)}
"""
_UNPUBLISHED = f"""
SELECT id, {", ".join(RESTATEMENT_COLUMNS)} FROM {_RESTATEMENTS}
 WHERE published_at IS NULL AND recorded_at < now() - $1::interval
 ORDER BY id LIMIT $2
"""
_MARK_PUBLISHED = f"UPDATE {_RESTATEMENTS} SET published_at = now() WHERE id = ANY($1::bigint[])"

# Creates missing rows and locks every row until commit (DO UPDATE locks even when it changes nothing), in
# one round trip; RETURNING gives the latest committed next_offset.
_LOCK_OFFSETS = """
INSERT INTO consumer_offsets AS o (group_id, topic, partition, next_offset)
SELECT $1, p.topic, p.partition, 0 FROM unnest($2::text[], $3::int[]) AS p(topic, partition)
ORDER BY p.topic, p.partition
ON CONFLICT (group_id, topic, partition) DO UPDATE SET next_offset = o.next_offset
RETURNING o.topic, o.partition, o.next_offset
"""
# A batch's last statement: its load events and the offsets after it, in one round trip; returns the sync_id
# of each new load row (their syncs' projection is refreshed next, in the same transaction).
_FINISH_BATCH = f"""
WITH saved AS (
    UPDATE consumer_offsets o SET next_offset = GREATEST(o.next_offset, p.next_offset), updated_at = now()
    FROM unnest($7::text[], $8::int[], $9::bigint[]) AS p(topic, partition, next_offset)
    WHERE o.group_id = $10 AND o.topic = p.topic AND o.partition = p.partition
)
{insert_events_sql(1)}
"""

# --- announcements: the (sync, channel) pairs the sync projection says are completed (sync_status's rule:
# the loads of the attempt of the newest fetch.completed reached its count) and not announced yet. The
# candidates are the pairs given ($1, $2: what a commit touched) and, when $3 is not NULL, every pair that
# completed within $3 (the periodic pass: the partial index on the unannounced completed channels).
_ANNOUNCED_COLUMNS = (
    "sync_id, channel, fetched, loaded, rows_loaded, restated, date_from, date_to, finished_at"
)
_UNANNOUNCED = f"status = '{ChannelState.COMPLETED}' AND NOT announced"
_COMPLETED_UNANNOUNCED = f"""
SELECT {_ANNOUNCED_COLUMNS}
  FROM {SyncChannelRow.__tablename__} JOIN unnest($1::text[], $2::text[]) AS p(sync_id, channel)
       USING (sync_id, channel)
 WHERE {_UNANNOUNCED}
UNION
SELECT {_ANNOUNCED_COLUMNS} FROM {SyncChannelRow.__tablename__}
 WHERE $3::interval IS NOT NULL AND {_UNANNOUNCED} AND finished_at > now() - $3::interval
 ORDER BY sync_id, channel
"""
_LOCK_ANNOUNCEMENTS = "SELECT pg_advisory_xact_lock(hashtextextended('demetra_loader.announcements', 0))"


class RejectedByDatabase(Exception):
    """PostgreSQL refused the data itself (SQLSTATE class 22 or 23): retrying the same rows cannot help."""


@contextmanager
def _refusals() -> Iterator[None]:
    try:
        yield
    except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError, Unencodable) as exc:
        raise RejectedByDatabase(f"{type(exc).__name__}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class DaysWritten:
    """What upserting one message's staged days did to the days already stored (days new to the table are
    its staged days less ``existing``)."""

    existing: int = 0  # its staged days that were stored already
    rewritten: int = 0  # of those, replaced (its fetch was newer)
    changed: int = 0  # of those, with different metrics
    restated: Sequence[RestatedDay] = ()


@dataclass(frozen=True, slots=True)
class RestatedDay:
    """A past day whose metrics a newer fetch changed: the stored version and metrics, and the new ones."""

    date: dt.date
    previous_fetched_at: dt.datetime
    old: tuple[float, ...]  # in DAILY_METRIC_COLUMNS order
    new: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class CompletedLoad:
    """A (sync, channel) whose loads reached its fetch.completed count, with its totals."""

    sync_id: str
    channel: str
    fetched: int
    loaded: int
    rows: int
    restated: int
    date_from: dt.date | None
    date_to: dt.date | None
    loaded_at: dt.datetime


@dataclass(frozen=True, slots=True)
class StoredRestatement:
    """A restatements row with its id (to set published_at once it is published)."""

    id: int
    values: RestatementValues


def _restated_days(detail: str | None) -> list[RestatedDay]:
    if detail is None:
        return []
    width = len(DAILY_METRIC_COLUMNS)
    days = []
    for item in orjson.loads(detail):
        days.append(
            RestatedDay(
                dt.date.fromisoformat(item[0]),
                dt.datetime.fromisoformat(item[1]),
                tuple(float(value) for value in item[2 : 2 + width]),
                tuple(float(value) for value in item[2 + width : 2 + 2 * width]),
            )
        )
    return days


def _stored(row: asyncpg.Record) -> StoredRestatement:
    values: RestatementValues = tuple(row[column] for column in RESTATEMENT_COLUMNS)
    return StoredRestatement(row["id"], values)


class PostgresRepository:
    """The loader's statements on one connection, inside a transaction opened by ``PostgresDatabase``."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection
        self._stage_used = False
        self._daily_stage_used = False

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

    async def upsert_days(self, days: Sequence[MessageDays]) -> dict[int, DaysWritten]:
        """Upsert the daily rows of these messages under the version guard (distinct (campaign_id, date)
        pairs); returns, per message index with a day stored already, what happened to those days. Raises
        ``RejectedByDatabase`` if any row is refused."""
        dates = [row[1] for _, rows in days for row in rows]
        if not dates:
            return {}
        with _refusals():
            if self._daily_stage_used:
                await self._connection.execute(f"TRUNCATE {_DAILY_STAGE}")
            self._daily_stage_used = True
            await self._copy_days(_DAILY_STAGE, days, _DAILY_STAGE_COLUMNS, message_column=True)
            result = await self._connection.fetch(_UPSERT_DAYS, min(dates), max(dates))
        return {
            row["message"]: DaysWritten(
                row["existing"], row["rewritten"], row["changed"], _restated_days(row["restated"])
            )
            for row in result
        }

    async def known_campaigns(self, campaign_ids: Sequence[str]) -> set[str]:
        """Which of these campaign_ids have a row in ``campaigns`` (a campaign without one has no days)."""
        rows = await self._connection.fetch(_EXISTING, list(campaign_ids))
        return {row["campaign_id"] for row in rows}

    async def copy_days(self, days: Sequence[MessageDays]) -> None:
        """COPY these messages' daily rows straight into campaign_daily: PostgreSQL's bulk insert, for days
        known to be new (their campaign has no row yet). A day stored meanwhile by another writer violates
        the primary key: ``RejectedByDatabase``, the transaction aborted, and the caller starts over on
        ``upsert_days``."""
        if any(rows for _, rows in days):
            with _refusals():
                await self._copy_days(_DAILY, days, DAILY_COLUMNS, message_column=False)

    async def _copy_days(
        self, table: str, days: Sequence[MessageDays], columns: Sequence[str], *, message_column: bool
    ) -> None:
        """Binary COPY of the rows as ``daily_copy`` encodes them, a chunk at a time."""

        async def chunks() -> AsyncIterator[bytes]:
            for chunk in encode_days(days, message_column=message_column):
                yield chunk

        await self._connection.copy_to_table(table, source=chunks(), columns=columns, format="binary")

    async def derive_campaigns(
        self,
        campaigns: Sequence[tuple[str, str, str]],
        days_within: Sequence[tuple[dt.date, dt.date]] | None = None,
    ) -> dict[str, bool]:
        """Re-derive the ``campaigns`` rows of these (campaign_id, name, sync_id) from their daily rows;
        returns {campaign_id: inserted?} of the rows written (a newer schema-1 snapshot is left alone).
        ``days_within``: per campaign, (first day, last day) that all of its stored days lie within (a
        campaign new in this batch: the batch's days of it), so that only those partitions are read."""
        if not campaigns:
            return {}
        with _refusals():
            if days_within is None:
                rows = await self._connection.fetch(_DERIVE_CAMPAIGNS, *_columns(campaigns, 3))
            else:
                identities = [
                    (*campaign, *days) for campaign, days in zip(campaigns, days_within, strict=True)
                ]
                rows = await self._connection.fetch(_DERIVE_NEW_CAMPAIGNS, *_columns(identities, 5))
        return {row["campaign_id"]: row["inserted"] for row in rows}

    async def insert_restatements(self, rows: Sequence[RestatementValues]) -> list[StoredRestatement]:
        """Insert restatements, ignoring event_ids recorded already; returns the new ones."""
        if not rows:
            return []
        with _refusals():
            inserted = await self._connection.fetch(
                _INSERT_RESTATEMENTS, *_columns(rows, len(RESTATEMENT_COLUMNS))
            )
        return [_stored(row) for row in inserted]

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A savepoint: an exception inside rolls back what the block wrote, and the transaction stays
        usable; PostgreSQL's refusals come out as ``RejectedByDatabase``."""
        with _refusals():
            async with self._connection.transaction():
                yield

    async def unpublished_restatements(self, older_than: dt.timedelta, limit: int) -> list[StoredRestatement]:
        """Restatements still unpublished ``older_than`` after they were recorded, oldest first."""
        return [_stored(row) for row in await self._connection.fetch(_UNPUBLISHED, older_than, limit)]

    async def mark_published(self, ids: Sequence[int]) -> None:
        await self._connection.execute(_MARK_PUBLISHED, list(ids))

    async def partition_months(self) -> set[dt.date]:
        """The months campaign_daily has a partition for."""
        names = await self._connection.fetch(DAILY_PARTITIONS.list_sql)
        return {month for row in names if (month := DAILY_PARTITIONS.month_from_name(row[0])) is not None}

    async def create_partitions(self, months: Iterable[dt.date]) -> None:
        for month in sorted(months):
            await self._connection.execute(DAILY_PARTITIONS.create_sql(month))

    async def drop_partitions(self, months: Iterable[dt.date]) -> None:
        for month in sorted(months):
            await self._connection.execute(DAILY_PARTITIONS.drop_sql(month))

    async def finish_batch(
        self, group_id: str, next_offsets: Mapping[Partition, int], events: Sequence[EventValues]
    ) -> None:
        """Record the batch's load events and move its offsets forward, in one statement."""
        ordered = sorted(next_offsets.items())
        new = await self._connection.fetch(
            _FINISH_BATCH,
            *event_columns(events),
            [topic for (topic, _), _ in ordered],
            [partition for (_, partition), _ in ordered],
            [offset for _, offset in ordered],
            group_id,
        )
        await refresh_syncs(self._connection, {row[0] for row in new})

    async def insert_events(self, rows: Sequence[EventValues]) -> int:
        """Insert event rows, ignoring event_ids already recorded, and refresh their syncs' projection;
        returns how many were new."""
        return await record_events(self._connection, rows)

    async def lock_announcements(self) -> None:
        """The announcer's lock, held until the transaction ends (replicas take turns)."""
        await self._connection.execute(_LOCK_ANNOUNCEMENTS)

    async def completed_unannounced(
        self, pairs: Sequence[tuple[str, str]], recent: dt.timedelta | None
    ) -> list[CompletedLoad]:
        """The (sync, channel) pairs, of ``pairs`` and (if ``recent``) of every pair that completed within
        ``recent``, that the sync projection says are completed and that were not announced."""
        rows = await self._connection.fetch(
            _COMPLETED_UNANNOUNCED, [sync for sync, _ in pairs], [channel for _, channel in pairs], recent
        )
        return [
            CompletedLoad(
                row["sync_id"],
                row["channel"],
                row["fetched"],
                row["loaded"],
                row["rows_loaded"],
                row["restated"],
                row["date_from"],
                row["date_to"],
                row["finished_at"],
            )
            for row in rows
        ]


def _columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows as one list per column, for ``unnest($1::type[], ...)``."""
    columns: list[list[Any]] = [[] for _ in range(width)]
    for row in rows:
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    return columns


class PostgresDatabase(TransactionalPool[PostgresRepository]):
    """The loader's pool: each connection keeps its staging tables (created once, at connect)."""

    def __init__(self, database_url: str, *, max_size: int, connect_timeout_s: float) -> None:
        super().__init__(
            database_url,
            PostgresRepository,
            max_size=max_size,
            connect_timeout_s=connect_timeout_s,
            command_timeout=300,
            init=_prepare_connection,
        )


async def _prepare_connection(connection: Any) -> None:
    await connection.execute(_CREATE_STAGE)
    await connection.execute(_CREATE_DAILY_STAGE)
