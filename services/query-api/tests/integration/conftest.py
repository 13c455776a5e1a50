"""The query API in-process against this test's own PostgreSQL database and Kafka topics.

Rows are seeded with SQL following the loader's conventions (demetra_common/tables.py): campaigns one row
per campaign_id; campaign_daily one row per (campaign_id, date), in monthly partitions created as needed;
restatements as the loader records them; insights as the insights service stores them; events with
sync.requested / fetch.* / load rows carrying the contracts' payloads.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from fastapi import FastAPI

from demetra_common.contracts import (
    Channel,
    EventType,
    LoadCounts,
    SyncEvent,
    SyncEventType,
    SyncRequested,
    Trigger,
)
from demetra_common.db import plain_dsn
from demetra_common.sync_projection import refresh_syncs
from demetra_common.tables import CAMPAIGN_DATA_COLUMNS, DAILY_COLUMNS, DAILY_PARTITIONS
from demetra_common.topics import Topics
from demetra_query_api.app import create_app
from demetra_query_api.metrics.service import refresh_summary
from demetra_query_api.settings import QueryApiSettings
from demetra_testkit import eventually

API_KEY = "test-key-for-the-query-api"
T0 = dt.datetime(2026, 11, 25, 14, 0, tzinfo=dt.UTC)


@pytest.fixture
def settings_factory(
    database_url: str, kafka_bootstrap: str, topics: Topics
) -> Callable[..., QueryApiSettings]:
    def make(**overrides: Any) -> QueryApiSettings:
        values: dict[str, Any] = {
            "database_url": database_url,
            "kafka_bootstrap_servers": kafka_bootstrap,
            "kafka_topic_prefix": topics.prefix,
            "api_key": API_KEY,
            "environment": "test",
            "response_cache_ttl_s": 0,  # tests read what they just wrote
            "summary_refresh_interval_s": 0.2,
            "cors_origins": ["https://dashboard.example.com"],
        }
        values.update(overrides)
        return QueryApiSettings(_env_file=None, **values)

    return make


@pytest.fixture
async def app_factory(database_url: str) -> AsyncIterator[Callable[[QueryApiSettings], Any]]:
    """Start apps (lifespan included) and stop them after the test, before its database is dropped."""
    stack: list[tuple[FastAPI, Any]] = []

    async def start(settings: QueryApiSettings) -> httpx.AsyncClient:
        app = create_app(settings)
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        stack.append((app, lifespan))
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")

    yield start
    for _, lifespan in reversed(stack):
        await lifespan.__aexit__(None, None, None)


@pytest.fixture
async def client(
    app_factory: Callable[[QueryApiSettings], Any], settings_factory: Callable[..., QueryApiSettings]
) -> AsyncIterator[httpx.AsyncClient]:
    async with await app_factory(settings_factory()) as http:
        yield http


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(plain_dsn(database_url))
    for json_type in ("json", "jsonb"):
        await connection.set_type_codec(
            json_type, schema="pg_catalog", encoder=lambda v: orjson.dumps(v).decode(), decoder=orjson.loads
        )
    yield connection
    await connection.close()


# --------------------------------------------------------------------------------------------- seeding


@dataclass(frozen=True)
class Row:
    campaign_id: str
    channel: str = "facebook"
    date: dt.date = dt.date(2026, 11, 1)
    impressions: int = 1000
    clicks: int = 10
    engagement: int = 5
    cost: float = 10.0
    conversion_rate: float = 0.1
    roi: float = 0.5
    fetched_at: dt.datetime = T0
    name: str = "Campaign"
    sync_id: str = "sched-seed"

    def values(self) -> tuple[Any, ...]:
        """In the order of CAMPAIGN_DATA_COLUMNS; cost as the exact decimal the numeric column holds."""
        return _stored(self, CAMPAIGN_DATA_COLUMNS)


async def insert_campaigns(db: asyncpg.Connection, rows: Iterable[Row]) -> None:
    await db.copy_records_to_table(
        "campaigns", records=[r.values() for r in rows], columns=CAMPAIGN_DATA_COLUMNS
    )


def _stored(row: Any, columns: tuple[str, ...]) -> tuple[Any, ...]:
    """``row``'s fields in the order of ``columns``; cost as the exact decimal the numeric column holds."""
    return tuple(Decimal(repr(row.cost)) if f == "cost" else getattr(row, f) for f in columns)


@dataclass(frozen=True)
class DayRow:
    campaign_id: str
    date: dt.date
    channel: str = "facebook"
    impressions: int = 1000
    clicks: int = 10
    engagement: int = 5
    cost: float = 10.0
    conversions: float = 1.0
    revenue: float = 20.0
    fetched_at: dt.datetime = T0
    sync_id: str = "sched-seed"


async def insert_days(db: asyncpg.Connection, rows: Iterable[DayRow]) -> None:
    rows = list(rows)
    for month in sorted({DAILY_PARTITIONS.month_of(row.date) for row in rows}):
        await db.execute(DAILY_PARTITIONS.create_sql(month))
    await db.copy_records_to_table(
        "campaign_daily", records=[_stored(r, DAILY_COLUMNS) for r in rows], columns=DAILY_COLUMNS
    )


@dataclass(frozen=True)
class RestatementRow:
    campaign_id: str
    date: dt.date
    metric: str = "conversions"
    channel: str = "facebook"
    old_value: float = 1.0
    new_value: float = 2.0
    sync_id: str = "sched-later"
    fetched_at: dt.datetime = T0 + dt.timedelta(days=1)
    previous_fetched_at: dt.datetime = T0
    event_id: uuid.UUID = field(default_factory=uuid.uuid4)


RESTATEMENT_COLUMNS = (
    "event_id", "campaign_id", "channel", "date", "metric", "old_value", "new_value", "sync_id",
    "fetched_at", "previous_fetched_at",
)  # fmt: skip


async def insert_restatements(db: asyncpg.Connection, rows: Iterable[RestatementRow]) -> list[int]:
    """The rows in order (ids ascending as given); returns their ids."""
    ids = []
    for row in rows:
        placeholders = ", ".join(f"${i}" for i in range(1, len(RESTATEMENT_COLUMNS) + 1))
        ids.append(
            await db.fetchval(
                f"INSERT INTO restatements ({', '.join(RESTATEMENT_COLUMNS)}) VALUES ({placeholders}) "
                "RETURNING id",
                *(getattr(row, name) for name in RESTATEMENT_COLUMNS),
            )
        )
    return ids


@dataclass(frozen=True)
class InsightSeed:
    """An insights row as the insights service stores it (campaign_id None: the channel's total)."""

    campaign_id: str | None
    first_day: dt.date
    channel: str = "facebook"
    kind: str = "cpa_spike"
    severity: str = "warning"
    status: str = "open"
    last_day: dt.date | None = None  # default: first_day
    metric: str = "cpa"
    observed: float = 30.0
    expected: float = 12.0
    money_at_stake: float = 150.0
    explanation: str = "CPA rose to 30.00 from the usual 12.00."
    sync_id: str = "sched-seed"
    opened_at: dt.datetime = T0
    resolved_at: dt.datetime | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)

    def values(self) -> tuple[Any, ...]:
        last_day = self.last_day or self.first_day
        return (
            self.id, self.channel, self.campaign_id, self.kind, self.severity, self.status, self.first_day,
            last_day, self.metric, self.observed, self.expected, self.first_day - dt.timedelta(days=28),
            self.first_day - dt.timedelta(days=1), self.money_at_stake, self.explanation, self.sync_id, 1, 1,
            self.opened_at, self.resolved_at or self.opened_at, self.resolved_at,
        )  # fmt: skip


INSIGHT_COLUMNS = (
    "id", "channel", "campaign_id", "kind", "severity", "status", "first_day", "last_day", "metric",
    "observed", "expected", "baseline_from", "baseline_to", "money_at_stake", "explanation", "sync_id",
    "version", "published_version", "opened_at", "updated_at", "resolved_at",
)  # fmt: skip


async def insert_insights(db: asyncpg.Connection, rows: Iterable[InsightSeed]) -> None:
    await db.copy_records_to_table("insights", records=[r.values() for r in rows], columns=INSIGHT_COLUMNS)


async def insert_event(
    db: asyncpg.Connection,
    sync_id: str,
    kind: EventType,
    *,
    occurred_at: dt.datetime,
    channel: Channel | None = None,
    payload: Mapping[str, Any] | None = None,
    recorded_at: dt.datetime | None = None,
    event_id: uuid.UUID | None = None,
) -> None:
    """One events row, and its sync's projection refreshed in the same transaction, as the loader does
    (with ``recorded_at`` of the test's choosing, which the loader leaves to PostgreSQL)."""
    async with db.transaction():
        await db.execute(
            "INSERT INTO events (event_id, sync_id, channel, type, payload, occurred_at, recorded_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (event_id) DO NOTHING",
            event_id or uuid.uuid4(),
            sync_id,
            channel.value if channel else None,
            kind.value,
            dict(payload or {}),
            occurred_at,
            recorded_at or occurred_at,
        )
        await refresh_syncs(db, [sync_id])


class SyncWriter:
    """Writes a sync's event rows the way the loader does."""

    def __init__(self, db: asyncpg.Connection, sync_id: str, start: dt.datetime) -> None:
        self.db, self.sync_id, self.start = db, sync_id, start

    def at(self, seconds: float) -> dt.datetime:
        return self.start + dt.timedelta(seconds=seconds)

    async def requested(
        self,
        channels: Iterable[Channel],
        trigger: Trigger = Trigger.SCHEDULE,
        seconds: float = 0,
        **fields: Any,
    ) -> SyncRequested:
        message = SyncRequested(
            sync_id=self.sync_id,
            trigger=trigger,
            channels=list(channels),
            requested_at=self.at(seconds),
            **fields,
        )
        await insert_event(
            self.db,
            self.sync_id,
            EventType.SYNC_REQUESTED,
            occurred_at=self.at(seconds),
            payload=message.model_dump(mode="json"),
            event_id=message.event_id,
        )
        return message

    async def fetch(
        self,
        channel: Channel,
        kind: SyncEventType,
        seconds: float,
        *,
        event_id: uuid.UUID | None = None,
        **fields: Any,
    ) -> None:
        """A SyncEvent of ``kind``; ``fields`` as SyncEvent takes them (count, rows, error, through...)."""
        message = SyncEvent(
            sync_id=self.sync_id, channel=channel, type=kind, occurred_at=self.at(seconds), **fields
        )
        await insert_event(
            self.db,
            self.sync_id,
            EventType(kind.value),
            channel=channel,
            occurred_at=self.at(seconds),
            payload=message.model_dump(mode="json"),
            event_id=event_id or message.event_id,
        )

    async def load(self, channel: Channel, seconds: float, **counts: int) -> None:
        await insert_event(
            self.db,
            self.sync_id,
            EventType.LOAD,
            channel=channel,
            occurred_at=self.at(seconds),
            payload=LoadCounts(**counts).model_dump(),
        )


class Seeder:
    """What tests use to put rows in their database (fixtures, since test modules cannot import conftest)."""

    def __init__(self, db: asyncpg.Connection) -> None:
        self.db = db

    def row(self, campaign_id: str, **fields: Any) -> Row:
        return Row(campaign_id, **fields)

    async def campaigns(self, rows: Iterable[Row]) -> None:
        await insert_campaigns(self.db, rows)

    def day(self, campaign_id: str, date: dt.date, **fields: Any) -> DayRow:
        return DayRow(campaign_id, date, **fields)

    async def days(self, rows: Iterable[DayRow]) -> None:
        await insert_days(self.db, rows)

    def restatement(self, campaign_id: str, date: dt.date, **fields: Any) -> RestatementRow:
        return RestatementRow(campaign_id, date, **fields)

    async def restatements(self, rows: Iterable[RestatementRow]) -> list[int]:
        return await insert_restatements(self.db, rows)

    def insight(self, campaign_id: str | None, first_day: dt.date, **fields: Any) -> InsightSeed:
        return InsightSeed(campaign_id, first_day, **fields)

    async def insights(self, rows: Iterable[InsightSeed]) -> None:
        await insert_insights(self.db, rows)

    async def refreshed_summary(self) -> None:
        """Refresh the daily aggregate now (retrying while the app's own refresher holds the lock)."""

        async def refreshed() -> bool:
            return await refresh_summary(self.db, max_age=dt.timedelta(hours=1), force=True)

        await eventually(refreshed, timeout=30, what="a forced refresh of the summary aggregate")

    def sync(self, sync_id: str, start: dt.datetime = T0) -> SyncWriter:
        return SyncWriter(self.db, sync_id, start)

    async def event(self, sync_id: str, kind: EventType, **fields: Any) -> None:
        await insert_event(self.db, sync_id, kind, **fields)


@pytest.fixture
def seed(db: asyncpg.Connection) -> Seeder:
    return Seeder(db)
