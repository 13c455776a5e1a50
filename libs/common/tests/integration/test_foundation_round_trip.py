"""The foundation works end to end against the real broker and the real database."""

import asyncio
import datetime as dt

import pytest
from sqlalchemy import select

from demetra_common.contracts import SyncRequested, Trigger
from demetra_common.kafka import make_broker
from demetra_common.settings import CommonSettings
from demetra_common.tables import CampaignRow, EventRow
from demetra_common.topics import Topics
from demetra_testkit import make_engine, make_sessionmaker


async def test_subscriber_receives_sync_requested_published_through_the_factory(
    kafka_bootstrap: str, topics: Topics
) -> None:
    settings = CommonSettings(_env_file=None, kafka_bootstrap_servers=kafka_bootstrap)
    broker = make_broker(settings, client_id="foundation-test")
    received: asyncio.Queue[SyncRequested] = asyncio.Queue()

    @broker.subscriber(topics.sync_requested, group_id="foundation-test", auto_offset_reset="earliest")
    async def on_request(message: SyncRequested) -> None:
        await received.put(message)

    sent = SyncRequested(sync_id="api-roundtrip", trigger=Trigger.API)
    async with broker:
        await broker.start()
        await broker.publish(sent, topics.sync_requested, key=sent.sync_id.encode())
        got = await asyncio.wait_for(received.get(), timeout=30)
    assert got == sent


async def test_row_written_through_the_engine_factory_is_read_back(database_url: str) -> None:
    engine = make_engine(CommonSettings(_env_file=None, database_url=database_url))
    sessions = make_sessionmaker(engine)
    fetched_at = dt.datetime(2026, 11, 25, 14, tzinfo=dt.UTC)
    try:
        async with sessions.begin() as session:
            session.add(
                CampaignRow(
                    campaign_id="fb_1",
                    channel="facebook",
                    name="Launch",
                    date=fetched_at.date(),
                    impressions=100,
                    clicks=5,
                    engagement=7,
                    cost=12.5,
                    conversion_rate=0.2,
                    roi=0.5,
                    fetched_at=fetched_at,
                    sync_id="api-1",
                )
            )
        async with sessions() as session:
            row = (
                await session.execute(select(CampaignRow).where(CampaignRow.campaign_id == "fb_1"))
            ).scalar_one()
        assert (row.channel, row.clicks, row.cost, row.fetched_at) == ("facebook", 5, 12.5, fetched_at)
        assert row.created_at is not None
    finally:
        await engine.dispose()


async def test_database_rejects_clicks_above_impressions(database_url: str) -> None:
    from sqlalchemy.exc import IntegrityError

    engine = make_engine(CommonSettings(_env_file=None, database_url=database_url))
    try:
        with pytest.raises(IntegrityError, match="clicks_within_impressions"):
            async with make_sessionmaker(engine).begin() as session:
                session.add(
                    CampaignRow(
                        campaign_id="x",
                        channel="tiktok",
                        name="n",
                        date=dt.date(2026, 1, 1),
                        impressions=1,
                        clicks=2,
                        engagement=0,
                        cost=0,
                        conversion_rate=0,
                        roi=0,
                        fetched_at=dt.datetime.now(dt.UTC),
                        sync_id="s",
                    )
                )
    finally:
        await engine.dispose()


async def test_each_test_gets_an_empty_database(database_url: str) -> None:
    engine = make_engine(CommonSettings(_env_file=None, database_url=database_url))
    try:
        async with make_sessionmaker(engine)() as session:
            assert (await session.execute(select(CampaignRow))).first() is None
            assert (await session.execute(select(EventRow))).first() is None
    finally:
        await engine.dispose()
