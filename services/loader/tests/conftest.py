"""Fixtures for the loader tests: message factories, a publisher, the loader in-process, SQL reads."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeAlias

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord
from fastapi import FastAPI

from demetra_common.contracts import Campaign, CampaignDay, CampaignDaysFetched, CampaignFetched, Channel
from demetra_common.db import plain_dsn
from demetra_loader.app import create_app
from demetra_loader.repository import PostgresDatabase
from demetra_loader.settings import LoaderSettings

T0 = dt.datetime(2026, 11, 25, 14, tzinfo=dt.UTC)
_counter = itertools.count()

FetchedFactory = Callable[..., CampaignFetched]


def fetched(
    campaign_id: str | None = None,
    *,
    sync_id: str = "sched-20261125T1400Z",
    channel: Channel = Channel.FACEBOOK,
    fetched_at: dt.datetime = T0,
    impressions: int = 1000,
    clicks: int = 10,
    **fields: Any,
) -> CampaignFetched:
    """A valid campaign.fetched message; every field can be overridden."""
    campaign = Campaign(
        campaign_id=campaign_id or f"c{next(_counter):07d}",
        channel=channel,
        name=fields.pop("name", "Black Friday Retargeting"),
        date=fields.pop("date", fetched_at.date()),
        impressions=impressions,
        clicks=clicks,
        engagement=fields.pop("engagement", 7),
        cost=fields.pop("cost", 12.5),
        conversion_rate=fields.pop("conversion_rate", 0.1),
        roi=fields.pop("roi", 0.5),
    )
    return CampaignFetched(
        sync_id=sync_id, channel=channel, fetched_at=fetched_at, campaign=campaign, **fields
    )


@pytest.fixture
def make_fetched() -> FetchedFactory:
    return fetched


DaysFactory = Callable[..., CampaignDaysFetched]
# The metrics of a default day (the n-th day of a message has n more impressions).
DAY = {"impressions": 1000, "clicks": 10, "engagement": 7, "cost": 12.5, "conversions": 1.5, "revenue": 30.0}


def days_fetched(
    campaign_id: str | None = None,
    *,
    sync_id: str = "sched-20261125T1400Z",
    channel: Channel = Channel.FACEBOOK,
    fetched_at: dt.datetime = T0,
    first: dt.date | None = None,
    count: int = 3,
    changes: dict[dt.date, dict[str, Any]] | None = None,
    name: str = "Black Friday Retargeting",
) -> CampaignDaysFetched:
    """A valid schema-2 campaign.fetched: ``count`` days from ``first`` (default: ending on fetched_at's day),
    each with DAY's metrics (impressions + n on the n-th day) unless ``changes`` says otherwise."""
    start = first or fetched_at.date() - dt.timedelta(days=count - 1)
    days = []
    for n in range(count):
        date = start + dt.timedelta(days=n)
        metrics = {**DAY, "impressions": DAY["impressions"] + n, **(changes or {}).get(date, {})}
        days.append(CampaignDay(date=date, **metrics))
    return CampaignDaysFetched(
        sync_id=sync_id,
        channel=channel,
        fetched_at=fetched_at,
        campaign_id=campaign_id or f"d{next(_counter):07d}",
        name=name,
        days=days,
    )


@pytest.fixture
def make_days() -> DaysFactory:
    return days_fetched


Message: TypeAlias = CampaignFetched | CampaignDaysFetched | tuple[bytes | None, bytes | None]
Publish = Callable[[str, Iterable[Message]], Awaitable[None]]


@pytest.fixture
async def publish(kafka_bootstrap: str) -> AsyncIterator[Publish]:
    """``await publish(topic, messages)``: sends in order and waits for every ack. A CampaignFetched is
    keyed by campaign_id as the ingestors do (either schema); a (key, value) pair is sent as it is."""
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    await producer.start()

    async def send(topic: str, messages: Iterable[Message]) -> None:
        futures = []
        for message in messages:
            key: bytes | None
            value: bytes | None
            if isinstance(message, CampaignFetched):
                key, value = message.campaign.campaign_id.encode(), message.model_dump_json().encode()
            elif isinstance(message, CampaignDaysFetched):
                key, value = message.campaign_id.encode(), message.model_dump_json().encode()
            else:
                key, value = message
            futures.append(await producer.send(topic, value, key=key))
        for future in futures:
            await future

    try:
        yield send
    finally:
        await producer.stop()


@pytest.fixture
def loader_settings(service_env: dict[str, str]) -> LoaderSettings:
    """Settings pointing at this test's topics and database, with short waits."""
    return LoaderSettings(
        _env_file=None,
        loader_batch_max_wait_ms=50,
        loader_retry_initial_s=0.05,
        loader_retry_max_s=0.5,
    )


RunLoader = Callable[..., AbstractAsyncContextManager[FastAPI]]


@pytest.fixture
def run_loader(loader_settings: LoaderSettings) -> RunLoader:
    """``async with run_loader(**overrides) as app:`` runs the loader in this process (its real lifespan)."""

    @asynccontextmanager
    async def running(**overrides: Any) -> AsyncIterator[FastAPI]:
        settings = loader_settings.model_copy(update=overrides)
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            yield app

    return running


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[PostgresDatabase]:
    """The loader's own connection pool on this test's database, for driving its core directly."""
    database = PostgresDatabase(database_url, max_size=2, connect_timeout_s=5)
    await database.open()
    yield database
    await database.close()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A plain connection to this test's database, for assertions."""
    connection = await asyncpg.connect(plain_dsn(database_url))
    try:
        yield connection
    finally:
        await connection.close()


KafkaRecord = Callable[..., ConsumerRecord[bytes, bytes]]


@pytest.fixture
def kafka_record() -> KafkaRecord:
    """``kafka_record(topic, partition, offset, value, key=None, headers=())``: a consumed record, as
    aiokafka hands them to the loader, for driving the core without a broker."""

    def make(
        topic: str,
        partition: int,
        offset: int,
        value: bytes | None,
        key: bytes | None = None,
        headers: tuple[tuple[str, bytes], ...] = (),
    ) -> ConsumerRecord[bytes, bytes]:
        return ConsumerRecord(
            topic=topic,
            partition=partition,
            offset=offset,
            timestamp=int(T0.timestamp() * 1000),
            timestamp_type=0,
            key=key,
            value=value,
            checksum=None,
            serialized_key_size=len(key or b""),
            serialized_value_size=len(value or b""),
            headers=headers,
        )

    return make


LoadCounts = Callable[[asyncpg.Connection], Awaitable[dict[tuple[str, str], Counter[str]]]]


async def _load_counts(db: asyncpg.Connection) -> dict[tuple[str, str], Counter[str]]:
    totals: dict[tuple[str, str], Counter[str]] = {}
    for row in await db.fetch("SELECT sync_id, channel, payload FROM events WHERE type = 'load'"):
        totals.setdefault((row["sync_id"], row["channel"]), Counter()).update(json.loads(row["payload"]))
    return totals


@pytest.fixture
def load_counts() -> LoadCounts:
    """``await load_counts(connection)``: the load events' counts summed per (sync_id, channel)."""
    return _load_counts
