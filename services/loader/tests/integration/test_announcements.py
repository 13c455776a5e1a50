"""ChannelLoaded on channel.loaded: announced once a sync's channel is completely loaded, whichever of its
loads and its fetch.completed is recorded last, and not again on a replay."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg

from demetra_common.contracts import Channel, ChannelLoaded, SyncEvent, SyncEventType
from demetra_common.sync_projection import refresh_syncs
from demetra_common.topics import Topics
from demetra_loader.core.announcements import channel_loaded_event_id
from demetra_testkit import eventually, read_topic

T1 = dt.datetime(2026, 11, 20, 9, tzinfo=dt.UTC)
GOOGLE = Channel.GOOGLE_ADS
ANNOUNCED = "SELECT sync_id, channel FROM events WHERE type = 'load.announced' ORDER BY sync_id, channel"


def started(sync_id: str, channel: Channel) -> tuple[bytes, bytes]:
    """fetch.started with the fetch's window, as the ingestors publish it."""
    event = SyncEvent(
        sync_id=sync_id,
        channel=channel,
        type=SyncEventType.FETCH_STARTED,
        date_from=T1.date() - dt.timedelta(days=2),
        date_to=T1.date(),
    )
    return sync_id.encode(), event.model_dump_json().encode()


def completed(sync_id: str, channel: Channel, count: int) -> tuple[bytes, bytes]:
    event = SyncEvent(
        sync_id=sync_id, channel=channel, type=SyncEventType.FETCH_COMPLETED, count=count, rows=count * 3
    )
    return sync_id.encode(), event.model_dump_json().encode()


async def test_a_channel_is_announced_once_whichever_fact_arrives_last(
    run_loader: Any,
    publish: Any,
    make_days: Any,
    topics: Topics,
    db: asyncpg.Connection,
    kafka_bootstrap: str,
) -> None:
    tiktok = [make_days(f"tt_{n}", sync_id="s-1", channel=Channel.TIKTOK, fetched_at=T1) for n in range(5)]
    google = [make_days(f"g_{n}", sync_id="s-1", channel=Channel.GOOGLE_ADS, fetched_at=T1) for n in range(4)]
    async with run_loader():
        await publish(topics.sync_events, [started("s-1", channel) for channel in (Channel.TIKTOK, GOOGLE)])
        await publish(topics.campaign_fetched, tiktok)  # loads first, then the count
        await publish(topics.sync_events, [completed("s-1", Channel.TIKTOK, 5)])
        await publish(topics.sync_events, [completed("s-1", Channel.GOOGLE_ADS, 4)])  # the count first
        await publish(topics.campaign_fetched, google[:3])
        first = await read_topic(kafka_bootstrap, topics.channel_loaded, count=1, idle_after=1.5)
        await publish(topics.campaign_fetched, google[3:])
        records = await read_topic(kafka_bootstrap, topics.channel_loaded, count=2, idle_after=1.5)
        # A replay of the fetch.completed and of the loads announces nothing more.
        await publish(topics.sync_events, [completed("s-1", Channel.TIKTOK, 5)])
        await publish(topics.campaign_fetched, tiktok)
        again = await read_topic(kafka_bootstrap, topics.channel_loaded, count=2, idle_after=2.0)
    assert [ChannelLoaded.model_validate_json(r.value or b"").channel for r in first] == [Channel.TIKTOK]
    events = {(e := ChannelLoaded.model_validate_json(r.value or b"")).channel: e for r in records}
    assert set(events) == {Channel.TIKTOK, Channel.GOOGLE_ADS}
    tt = events[Channel.TIKTOK]
    assert (tt.fetched, tt.loaded, tt.rows) == (5, 5, 15)
    assert (tt.date_from, tt.date_to) == (T1.date() - dt.timedelta(days=2), T1.date())
    assert tt.event_id == channel_loaded_event_id("s-1", Channel.TIKTOK)
    assert all(r.key == b"s-1" for r in records)
    assert len(again) == 2
    assert [tuple(row) for row in await db.fetch(ANNOUNCED)] == [("s-1", "google_ads"), ("s-1", "tiktok")]


async def test_a_complete_channel_left_unannounced_is_announced_at_start(
    run_loader: Any,
    publish: Any,
    make_days: Any,
    topics: Topics,
    db: asyncpg.Connection,
    kafka_bootstrap: str,
) -> None:
    messages = [
        make_days(f"fb_{n}", sync_id="s-2", channel=Channel.FACEBOOK, fetched_at=T1) for n in range(3)
    ]
    async with run_loader():
        await publish(topics.campaign_fetched, messages)
        await publish(topics.sync_events, [completed("s-2", Channel.FACEBOOK, 3)])
        await read_topic(kafka_bootstrap, topics.channel_loaded, count=1)

        async def recorded() -> bool:
            return bool(await db.fetch(ANNOUNCED))

        await eventually(recorded, what="the announcement recorded")
    # As if the loader had died between the commit and the publish: the periodic pass (at start) makes up.
    async with db.transaction():
        await db.execute("DELETE FROM events WHERE type = 'load.announced'")
        await refresh_syncs(db, ["s-2"])
    async with run_loader():
        records = await read_topic(kafka_bootstrap, topics.channel_loaded, count=2, idle_after=1.5)
        await eventually(recorded, what="the announcement recorded again")
    first, again = (ChannelLoaded.model_validate_json(record.value or b"") for record in records)
    assert again.event_id == first.event_id  # the same announcement: consumers dedup or re-do nothing
