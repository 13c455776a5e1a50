"""The query API in-process against this test's own PostgreSQL database and Kafka topics.

Rows are seeded with SQL following the loader's conventions (demetra_common/tables.py): campaigns one row
per campaign_id; events with sync.requested / fetch.* / load rows carrying the contracts' payloads.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
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
from demetra_common.tables import CAMPAIGN_DATA_COLUMNS
from demetra_common.topics import Topics
from demetra_query_api.app import create_app
from demetra_query_api.settings import QueryApiSettings

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
        return tuple(
            Decimal(repr(self.cost)) if f == "cost" else getattr(self, f) for f in CAMPAIGN_DATA_COLUMNS
        )


async def insert_campaigns(db: asyncpg.Connection, rows: Iterable[Row]) -> None:
    await db.copy_records_to_table(
        "campaigns", records=[r.values() for r in rows], columns=CAMPAIGN_DATA_COLUMNS
    )


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


class SyncWriter:
    """Writes a sync's event rows the way the loader does."""

    def __init__(self, db: asyncpg.Connection, sync_id: str, start: dt.datetime) -> None:
        self.db, self.sync_id, self.start = db, sync_id, start

    def at(self, seconds: float) -> dt.datetime:
        return self.start + dt.timedelta(seconds=seconds)

    async def requested(
        self, channels: Iterable[Channel], trigger: Trigger = Trigger.SCHEDULE, seconds: float = 0
    ) -> SyncRequested:
        message = SyncRequested(
            sync_id=self.sync_id, trigger=trigger, channels=list(channels), requested_at=self.at(seconds)
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
        count: int | None = None,
        error: str | None = None,
        event_id: uuid.UUID | None = None,
    ) -> None:
        message = SyncEvent(
            sync_id=self.sync_id,
            channel=channel,
            type=kind,
            occurred_at=self.at(seconds),
            count=count,
            error=error,
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

    def sync(self, sync_id: str, start: dt.datetime = T0) -> SyncWriter:
        return SyncWriter(self.db, sync_id, start)

    async def event(self, sync_id: str, kind: EventType, **fields: Any) -> None:
        await insert_event(self.db, sync_id, kind, **fields)


@pytest.fixture
def seed(db: asyncpg.Connection) -> Seeder:
    return Seeder(db)
