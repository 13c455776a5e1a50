"""The ingestor against the real broker: requests in, campaigns' days and sync events out, offsets as
promised."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any, TypeAlias

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import DefaultPartitioner

from demetra_common.contracts import (
    ALL_CHANNELS,
    CampaignDaysFetched,
    Channel,
    ChannelFetched,
    SyncEvent,
    SyncEventType,
    SyncRequested,
    Trigger,
    fetched_key,
)
from demetra_common.topics import CAMPAIGN_FETCHED, SYNC_EVENTS, Topics
from demetra_ingestor.app import create_app
from demetra_ingestor.handlers import consumer_group
from demetra_ingestor.service import WindowPolicy, fetch_window
from demetra_ingestor.settings import IngestorSettings
from demetra_mock import CampaignDays, mock_campaign_days
from demetra_testkit import eventually, read_topic

pytestmark = pytest.mark.timeout(180)

N = 30

Record: TypeAlias = ConsumerRecord[bytes, bytes]


@asynccontextmanager
async def ingestor(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An ingestor app running in this process (settings from the test's environment plus overrides)."""
    app = create_app(IngestorSettings(_env_file=None, **overrides))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ingestor") as client:
            yield client


@asynccontextmanager
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    """A plain Kafka client, nothing of the project's: what an operator or another team would use."""
    client = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await client.start()
    try:
        yield client
    finally:
        await client.stop()


async def request_sync(kafka_bootstrap: str, topics: Topics, request: SyncRequested) -> None:
    async with producer(kafka_bootstrap) as client:
        await client.send_and_wait(
            topics.sync_requested, request.model_dump_json().encode(), key=request.sync_id.encode()
        )


def sync_events(records: Iterable[Record]) -> list[SyncEvent]:
    return [SyncEvent.model_validate_json(r.value or b"") for r in records]


def by_channel(events: Iterable[SyncEvent]) -> dict[Channel, list[SyncEventType]]:
    grouped: dict[Channel, list[SyncEventType]] = defaultdict(list)
    for event in events:
        grouped[event.channel].append(event.type)
    return grouped


def expected(
    request: SyncRequested, channel: Channel, size: int = N, policy: WindowPolicy | None = None
) -> list[CampaignDays]:
    """What the mock reports for ``channel`` of ``request``: the campaigns the ingestor must publish."""
    window = fetch_window(request, channel, policy or WindowPolicy())
    return list(mock_campaign_days(channel, request.as_of(), size, window.date_from, window.date_to))


FETCHED = [SyncEventType.FETCH_STARTED, SyncEventType.FETCH_PROGRESS, SyncEventType.FETCH_COMPLETED]


def wire_form(records: Iterable[Record]) -> Counter[tuple[bytes | None, bytes | None, tuple[Any, ...]]]:
    return Counter((r.key, r.value, tuple(r.headers)) for r in records)


async def test_one_request_for_all_channels_yields_started_every_campaign_and_completed_per_channel(
    kafka_bootstrap: str, topics: Topics, service_env: dict[str, str]
) -> None:
    request = SyncRequested(sync_id="sched-20261125T1400Z", trigger=Trigger.SCHEDULE)
    reports = {channel: expected(request, channel) for channel in ALL_CHANNELS}
    total = sum(map(len, reports.values()))
    async with ingestor(mock_campaigns_per_channel=N, mock_page_size=7):
        await request_sync(kafka_bootstrap, topics, request)
        events = sync_events(await read_topic(kafka_bootstrap, topics.sync_events, count=12))
        first = await read_topic(kafka_bootstrap, topics.campaign_fetched, count=total, idle_after=1.0)

        # The same sync again: every channel completed, so nothing is fetched; one fetch.skipped each.
        await request_sync(kafka_bootstrap, topics, request)
        again = await read_topic(kafka_bootstrap, topics.sync_events, count=16, idle_after=1.0)
        both = await read_topic(kafka_bootstrap, topics.campaign_fetched, count=total, idle_after=1.0)
        remembered = await read_topic(kafka_bootstrap, topics.sync_fetched, count=4, idle_after=0.5)

    for channel in ALL_CHANNELS:
        assert by_channel(events)[channel] == FETCHED
        completed = next(
            e for e in events if e.channel is channel and e.type is SyncEventType.FETCH_COMPLETED
        )
        assert (completed.count, completed.rows) == (
            len(reports[channel]),
            sum(len(c.days) for c in reports[channel]),
        )

    messages = [CampaignDaysFetched.model_validate_json(r.value or b"") for r in first]
    assert Counter(m.channel for m in messages) == {
        channel: len(reports[channel]) for channel in ALL_CHANNELS
    }
    assert {(m.campaign_id, tuple(m.days)) for m in messages} == {
        (c.campaign_id, tuple(c.days)) for report in reports.values() for c in report
    }
    assert all(r.key == m.campaign_id.encode() for r, m in zip(first, messages, strict=True))
    partitions = list(range(Topics().layout()[CAMPAIGN_FETCHED]))
    assert all(r.partition == DefaultPartitioner()(r.key, partitions, partitions) for r in first)
    assert {m.sync_id for m in messages} == {request.sync_id}

    assert wire_form(both) == wire_form(first)
    skips = sync_events(again)[12:]
    assert {(e.channel, e.type, e.count) for e in skips} == {
        (channel, SyncEventType.FETCH_SKIPPED, len(reports[channel])) for channel in ALL_CHANNELS
    }
    attempts = {m.channel: m.attempt for m in messages}
    assert {e.channel: e.attempt for e in skips} == attempts and len(set(attempts.values())) == 4
    fetched = [ChannelFetched.model_validate_json(r.value or b"") for r in remembered]
    assert {(f.channel, f.attempt, f.count) for f in fetched} == {
        (channel, attempts[channel], len(reports[channel])) for channel in ALL_CHANNELS
    }
    assert {r.key for r in remembered} == {fetched_key(request.sync_id, c) for c in ALL_CHANNELS}


async def test_a_backfill_is_published_in_chunks_of_days_with_progress_and_a_too_long_one_fails(
    kafka_bootstrap: str, topics: Topics, service_env: dict[str, str]
) -> None:
    as_of = dt.datetime.now(dt.UTC)
    today = as_of.date()
    backfill = SyncRequested(
        sync_id="api-backfill-150",
        trigger=Trigger.API,
        requested_at=as_of,
        channels=[Channel.GOOGLE_ADS],
        date_from=today - dt.timedelta(days=149),
        date_to=today,
    )
    too_long = backfill.model_copy(
        update={"sync_id": "api-backfill-201", "date_from": today - dt.timedelta(days=200)}
    )
    report = expected(backfill, Channel.GOOGLE_ADS)
    rows = sum(len(c.days) for c in report)
    async with ingestor(channel=Channel.GOOGLE_ADS, mock_campaigns_per_channel=N, backfill_max_days=200):
        await request_sync(kafka_bootstrap, topics, backfill)
        await request_sync(kafka_bootstrap, topics, too_long)
        events = sync_events(await read_topic(kafka_bootstrap, topics.sync_events, count=6))
        records = await read_topic(kafka_bootstrap, topics.campaign_fetched, count=1, idle_after=1.0)

    started, *progress, completed = [e for e in events if e.sync_id == backfill.sync_id]
    assert (started.type, started.date_from, started.date_to) == (
        SyncEventType.FETCH_STARTED,
        backfill.date_from,
        today,
    )
    assert [(e.type, e.through) for e in progress] == [
        (SyncEventType.FETCH_PROGRESS, today - dt.timedelta(days=50)),  # 100 days, then the other 50
        (SyncEventType.FETCH_PROGRESS, today),
    ]
    assert progress[-1].rows == completed.rows == rows
    messages = [CampaignDaysFetched.model_validate_json(r.value or b"") for r in records]
    assert completed.count == len(messages) > len(report)  # campaigns running across both chunks: two
    days: dict[str, list[object]] = defaultdict(list)
    for message in sorted(messages, key=lambda m: m.days[0].date):
        days[message.campaign_id].extend(message.days)
    assert days == {c.campaign_id: c.days for c in report}

    assert [(e.type, e.error) for e in events if e.sync_id == too_long.sync_id] == [
        (SyncEventType.FETCH_STARTED, None),
        (
            SyncEventType.FETCH_FAILED,
            f"the backfill spans 201 days ({too_long.date_from}..{today}), more than BACKFILL_MAX_DAYS (200)",
        ),
    ]


async def test_a_channel_whose_source_fails_reports_fetch_failed_without_delaying_the_others(
    kafka_bootstrap: str, topics: Topics, service_env: dict[str, str]
) -> None:
    request = SyncRequested(sync_id="api-failing-tiktok", trigger=Trigger.API)
    # TikTok's retries take about 1.5s in all; the other channels must not wait for them.
    async with ingestor(
        mock_campaigns_per_channel=N,
        mock_fail_channels=[Channel.TIKTOK],
        fetch_retry_attempts=4,
        fetch_retry_initial_s=0.25,
        fetch_retry_jitter_s=0.0,
    ):
        await request_sync(kafka_bootstrap, topics, request)
        events = sync_events(await read_topic(kafka_bootstrap, topics.sync_events, count=11))
        served = (Channel.FACEBOOK, Channel.INSTAGRAM, Channel.GOOGLE_ADS)
        count = sum(len(expected(request, channel)) for channel in served)
        campaigns = await read_topic(kafka_bootstrap, topics.campaign_fetched, count=count, idle_after=1.0)

    grouped = by_channel(events)
    assert grouped[Channel.TIKTOK] == [SyncEventType.FETCH_STARTED, SyncEventType.FETCH_FAILED]
    for channel in served:
        assert grouped[channel] == FETCHED
    failed = next(e for e in events if e.type is SyncEventType.FETCH_FAILED)
    assert failed.error == "gave up after 4 attempts: tiktok API unavailable (mock outage)"
    # One key (the sync_id), one partition: the log order is the order of publication.
    assert events[-1] == failed
    assert len(campaigns) == count
    assert all(not r.key.startswith(b"tt_") for r in campaigns if r.key)


async def test_a_request_written_by_hand_with_a_plain_client_starts_a_sync(
    kafka_bootstrap: str, topics: Topics, service_env: dict[str, str]
) -> None:
    hand_written = b'{"sync_id": "by-hand-1", "trigger": "manual", "channels": ["facebook", "google_ads"]}'
    async with ingestor(mock_campaigns_per_channel=N), producer(kafka_bootstrap) as client:
        await client.send_and_wait(topics.sync_requested, hand_written, key=b"by-hand-1")
        events = sync_events(await read_topic(kafka_bootstrap, topics.sync_events, count=6, idle_after=1.0))
        request = SyncRequested.model_validate_json(hand_written)  # as of about now, like the ingestor's
        count = len(expected(request, Channel.FACEBOOK)) + len(expected(request, Channel.GOOGLE_ADS))
        campaigns = await read_topic(kafka_bootstrap, topics.campaign_fetched, count=count)

    assert set(by_channel(events)) == {Channel.FACEBOOK, Channel.GOOGLE_ADS}  # the others ignore it
    assert {e.sync_id for e in events} == {"by-hand-1"}
    assert {json.loads(r.value or b"")["channel"] for r in campaigns} == {"facebook", "google_ads"}


async def committed(kafka_bootstrap: str, group: str, partition: TopicPartition) -> int | None:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return offsets[partition].offset if partition in offsets else None


async def test_invalid_requests_are_skipped_and_committed_without_blocking_the_next(
    kafka_bootstrap: str, topics: Topics, service_env: dict[str, str]
) -> None:
    key = b"same-partition"
    poison = [
        b"{not json",
        b'{"sync_id": "no-trigger"}',
        b'{"sync_id": "future", "trigger": "manual", "schema_version": 2}',
        b'{"sync_id": "bad id!", "trigger": "manual"}',
        b"",
    ]
    valid = b'{"sync_id": "after-poison", "trigger": "manual", "channels": ["instagram"]}'
    async with (
        ingestor(channel=Channel.INSTAGRAM, mock_campaigns_per_channel=N),
        producer(kafka_bootstrap) as client,
    ):
        for value in poison:
            await client.send_and_wait(topics.sync_requested, value, key=key)
        await client.send_and_wait(
            topics.sync_requested, b"{}", key=key, headers=[("content-type", b"application/json")]
        )
        metadata = await client.send_and_wait(topics.sync_requested, valid, key=key)
        events = sync_events(await read_topic(kafka_bootstrap, topics.sync_events, count=3))
        partition = TopicPartition(topics.sync_requested, metadata.partition)

        async def all_committed() -> bool:
            offset = await committed(kafka_bootstrap, consumer_group(topics, Channel.INSTAGRAM), partition)
            return offset == metadata.offset + 1

        await eventually(all_committed, timeout=30, what="every request of the partition committed")

    assert [(e.sync_id, e.type) for e in events] == [("after-poison", t) for t in FETCHED]


async def records_on(kafka_bootstrap: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=None)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(Topics().layout()[SYNC_EVENTS])]
        return sum((await consumer.end_offsets(partitions)).values())
    finally:
        await consumer.stop()


async def test_the_offset_is_committed_only_after_the_fetch_was_published(
    kafka_bootstrap: str, topics: Topics, service_env: dict[str, str]
) -> None:
    request = SyncRequested(sync_id="slow-1", trigger=Trigger.MANUAL, channels=[Channel.FACEBOOK])
    group = consumer_group(topics, Channel.FACEBOOK)
    # About 6s of fetching (yesterday and today: the 12 running campaigns, and one that ended): longer than
    # a consumer's auto-commit interval (5s), were one used. Yesterday too: in the 00:00 slot no hour of
    # today has passed, and today alone has no campaign's day to page through.
    slow = {
        "mock_campaigns_per_channel": 12,
        "mock_page_size": 1,
        "mock_latency_ms": 500,
        "sync_lookback_days": 1,
    }
    async with ingestor(channel=Channel.FACEBOOK, **slow), producer(kafka_bootstrap) as client:
        metadata = await client.send_and_wait(
            topics.sync_requested, request.model_dump_json().encode(), key=request.sync_id.encode()
        )
        partition = TopicPartition(topics.sync_requested, metadata.partition)
        observed: list[int | None] = []

        async def fetch_completed() -> bool:
            offset = await committed(kafka_bootstrap, group, partition)
            published = await records_on(kafka_bootstrap, topics.sync_events)
            if published < 3:  # fetch.completed not yet out: the request must still be uncommitted
                observed.append(offset)
            return published >= 3

        await eventually(fetch_completed, timeout=60, interval=0.25, what="fetch.completed")

        async def done() -> bool:
            return await committed(kafka_bootstrap, group, partition) == metadata.offset + 1

        await eventually(done, timeout=30, what="offset committed after fetch.completed")

    assert len(observed) > 10
    assert set(observed) <= {None, -1}


async def test_a_fetch_interrupted_by_shutdown_runs_again_after_restart_as_a_new_attempt(
    kafka_bootstrap: str, topics: Topics, service_env: dict[str, str]
) -> None:
    request = SyncRequested(sync_id="interrupted-1", trigger=Trigger.MANUAL, channels=[Channel.GOOGLE_ADS])
    slow = {
        "channel": Channel.GOOGLE_ADS,
        "mock_campaigns_per_channel": N,
        "mock_page_size": 3,
        "mock_latency_ms": 300,
        "shutdown_grace_s": 0,  # no time to finish: the fetch is cut off as by a crash
    }
    async with ingestor(**slow):
        await request_sync(kafka_bootstrap, topics, request)
        await read_topic(kafka_bootstrap, topics.sync_events, count=1)  # fetch.started
    interrupted = sync_events(await read_topic(kafka_bootstrap, topics.sync_events, count=1, idle_after=1.0))
    assert [e.type for e in interrupted] == [SyncEventType.FETCH_STARTED]

    async with ingestor(**{**slow, "mock_latency_ms": 0}):
        events = sync_events(await read_topic(kafka_bootstrap, topics.sync_events, count=4))
    assert [e.type for e in events] == [SyncEventType.FETCH_STARTED, *FETCHED]
    # A new attempt: its own events, counted apart from the interrupted one's downstream.
    assert events[0].attempt != events[1].attempt == events[3].attempt
    assert events[0].event_id != events[1].event_id
    assert events[3].count == len(expected(request, Channel.GOOGLE_ADS))


async def test_health_readiness_and_metrics(
    kafka_bootstrap: str, topics: Topics, service_env: dict[str, str]
) -> None:
    request = SyncRequested(sync_id="metrics-1", trigger=Trigger.MANUAL, channels=[Channel.TIKTOK])
    async with ingestor(channel=Channel.TIKTOK, mock_campaigns_per_channel=N) as client:
        assert (await client.get("/health")).json() == {"status": "ok"}
        ready = await client.get("/ready")
        assert ready.status_code == 200 and ready.json()["checks"] == {"kafka": "ok"}

        await request_sync(kafka_bootstrap, topics, request)
        await read_topic(kafka_bootstrap, topics.sync_events, count=3)
        metrics = (await client.get("/metrics")).text
    assert 'demetra_ingestor_messages_published_total{channel="tiktok",topic="campaign.fetched"}' in metrics
    assert 'demetra_ingestor_fetch_duration_seconds_count{channel="tiktok",outcome="completed"}' in metrics
    assert 'demetra_ingestor_days_published_total{channel="tiktok"}' in metrics
