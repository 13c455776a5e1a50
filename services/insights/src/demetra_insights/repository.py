"""Every SQL statement of the insights service (asyncpg). Repositories never commit;
``PostgresDatabase.transaction()`` does. ``service.py`` says what the core needs of them."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any, Final

import asyncpg
import pandas as pd

from demetra_common.contracts import Channel, InsightKind, InsightStatus, Severity
from demetra_common.db import TransactionalPool
from demetra_common.tables import CampaignDayRow, InsightRow
from demetra_insights.core import Insight, InsightKey
from demetra_insights.core.panel import METRICS
from demetra_insights.service import DailyHistory, StoredInsight

_DAILY = CampaignDayRow.__tablename__
_INSIGHTS = InsightRow.__tablename__
# The columns the service writes: all but the ones PostgreSQL fills in or the outbox and lifecycle set.
WRITTEN: Final = tuple(
    column.name
    for column in InsightRow.__table__.columns
    if column.name not in ("published_version", "opened_at", "updated_at", "resolved_at")
)
_TYPES: Final = {
    "id": "uuid",
    "first_day": "date",
    "last_day": "date",
    "baseline_from": "date",
    "baseline_to": "date",
    "observed": "float8",
    "expected": "float8",
    "money_at_stake": "float8",
    "version": "int",
}

# One statement over campaign_daily by (channel, date): its index, and partition pruning on date.
_DAILY_HISTORY = f"""
SELECT campaign_id, date, {", ".join(f"{metric}::float8 AS {metric}" for metric in METRICS)}, fetched_at
  FROM {_DAILY}
 WHERE channel = $1 AND date BETWEEN $2 AND $3
"""
_LOCK_CHANNEL = "SELECT pg_advisory_xact_lock(hashtextextended('demetra_insights:' || $1, 0))"
_OPEN = f"SELECT * FROM {_INSIGHTS} WHERE channel = $1 AND status = 'open' FOR UPDATE"
_RESOLVED_THROUGH = f"""
SELECT campaign_id, kind, max(last_day) AS last_day FROM {_INSIGHTS}
 WHERE channel = $1 AND status = 'resolved'
 GROUP BY campaign_id, kind
"""
_UNNEST = ", ".join(f"${n}::{_TYPES.get(name, 'text')}[]" for n, name in enumerate(WRITTEN, start=1))
# A new id is inserted; a known one takes the new version, figures and status (resolved_at once).
_WRITE = f"""
INSERT INTO {_INSIGHTS} AS i ({", ".join(WRITTEN)})
SELECT * FROM unnest({_UNNEST})
ON CONFLICT (id) DO UPDATE SET
    {", ".join(f"{name} = excluded.{name}" for name in WRITTEN if name != "id")},
    updated_at = now(),
    resolved_at = CASE WHEN excluded.status = 'resolved' THEN coalesce(i.resolved_at, now()) END
"""
_UNPUBLISHED = f"""
SELECT * FROM {_INSIGHTS}
 WHERE published_version < version AND ($1::text IS NULL OR channel = $1)
 ORDER BY updated_at, id LIMIT $2
   FOR UPDATE SKIP LOCKED
"""
_MARK_PUBLISHED = f"""
UPDATE {_INSIGHTS} AS i SET published_version = greatest(i.published_version, p.version)
  FROM unnest($1::uuid[], $2::int[]) AS p(id, version)
 WHERE i.id = p.id
"""


def _stored(row: asyncpg.Record) -> StoredInsight:
    insight = Insight(
        kind=InsightKind(row["kind"]),
        severity=Severity(row["severity"]),
        channel=Channel(row["channel"]),
        campaign_id=row["campaign_id"],
        first_day=row["first_day"],
        last_day=row["last_day"],
        metric=row["metric"],
        observed=row["observed"],
        expected=row["expected"],
        baseline_from=row["baseline_from"],
        baseline_to=row["baseline_to"],
        money_at_stake=row["money_at_stake"],
        explanation=row["explanation"],
    )
    return StoredInsight(row["id"], row["version"], InsightStatus(row["status"]), insight, row["sync_id"])


def _values(row: StoredInsight) -> dict[str, Any]:
    insight = row.insight
    return {
        "id": row.id,
        "channel": insight.channel.value,
        "campaign_id": insight.campaign_id,
        "kind": insight.kind.value,
        "severity": insight.severity.value,
        "status": row.status.value,
        "first_day": insight.first_day,
        "last_day": insight.last_day,
        "metric": insight.metric,
        "observed": insight.observed,
        "expected": insight.expected,
        "baseline_from": insight.baseline_from,
        "baseline_to": insight.baseline_to,
        "money_at_stake": insight.money_at_stake,
        "explanation": insight.explanation,
        "sync_id": row.sync_id,
        "version": row.version,
    }


class PostgresRepository:
    """The service's statements on one connection, inside a transaction opened by ``PostgresDatabase``."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection

    async def lock_channel(self, channel: Channel) -> None:
        await self._connection.execute(_LOCK_CHANNEL, channel.value)

    async def daily_history(self, channel: Channel, first: dt.date, last: dt.date) -> DailyHistory:
        rows = await self._connection.fetch(_DAILY_HISTORY, channel.value, first, last)
        columns = ["campaign_id", "date", *METRICS]
        frame = pd.DataFrame([tuple(row[name] for name in columns) for row in rows], columns=columns)
        newest = max((row["fetched_at"] for row in rows), default=None)
        return DailyHistory(frame, newest)

    async def open_insights(self, channel: Channel) -> list[StoredInsight]:
        return [_stored(row) for row in await self._connection.fetch(_OPEN, channel.value)]

    async def resolved_through(self, channel: Channel) -> dict[InsightKey, dt.date]:
        rows = await self._connection.fetch(_RESOLVED_THROUGH, channel.value)
        return {(channel, row["campaign_id"], InsightKind(row["kind"])): row["last_day"] for row in rows}

    async def write_insights(self, rows: Sequence[StoredInsight]) -> None:
        if not rows:
            return
        values = [_values(row) for row in rows]
        await self._connection.execute(_WRITE, *([value[name] for value in values] for name in WRITTEN))

    async def unpublished(self, channel: Channel | None, limit: int) -> list[StoredInsight]:
        rows = await self._connection.fetch(_UNPUBLISHED, channel.value if channel else None, limit)
        return [_stored(row) for row in rows]

    async def mark_published(self, versions: Sequence[tuple[uuid.UUID, int]]) -> None:
        await self._connection.execute(
            _MARK_PUBLISHED, [id_ for id_, _ in versions], [version for _, version in versions]
        )


class PostgresDatabase(TransactionalPool[PostgresRepository]):
    """The insights service's pool (connects lazily: the service starts while PostgreSQL is down)."""

    def __init__(self, database_url: str, *, max_size: int, connect_timeout_s: float) -> None:
        super().__init__(
            database_url, PostgresRepository, max_size=max_size, connect_timeout_s=connect_timeout_s
        )
