"""The ingestor core with a fake sink and scripted sources: no Kafka."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence

import pytest

from demetra_common.contracts import (
    ALL_CHANNELS,
    CampaignFetched,
    Channel,
    SyncEvent,
    SyncEventType,
    SyncRequested,
    Trigger,
    deterministic_event_id,
)
from demetra_ingestor.service import Delivery, Ingestor, RetryPolicy
from demetra_ingestor.sources.base import Page, SourceRejected, SourceUnavailable
from demetra_ingestor.sources.mock import MockSource
from demetra_mock import mock_campaigns

SLOT = dt.datetime(2026, 11, 25, 14, tzinfo=dt.UTC)
NO_WAIT = RetryPolicy(attempts=3, initial_s=0, max_s=0, jitter_s=0)


def request(
    channels: Sequence[Channel] = ALL_CHANNELS, sync_id: str = "sched-20261125T1400Z"
) -> SyncRequested:
    return SyncRequested(sync_id=sync_id, trigger=Trigger.SCHEDULE, channels=list(channels), slot=SLOT)


class FakeSink:
    """Records what would go to Kafka, in order; campaign batches are acknowledged when ``ack`` says so."""

    def __init__(self, *, fail_campaigns: bool = False) -> None:
        self.log: list[CampaignFetched | SyncEvent] = []
        self.fail_campaigns = fail_campaigns
        self.outstanding = 0
        self.max_outstanding = 0

    async def publish_campaigns(self, messages: Sequence[CampaignFetched]) -> Delivery:
        if self.fail_campaigns:
            raise ConnectionError("broker unreachable")
        self.log.extend(messages)
        self.outstanding += 1
        self.max_outstanding = max(self.max_outstanding, self.outstanding)
        delivery: Delivery = asyncio.get_running_loop().create_future()

        def acknowledge() -> None:
            self.outstanding -= 1
            delivery.set_result(None)

        asyncio.get_running_loop().call_soon(acknowledge)
        return delivery

    async def publish_event(self, event: SyncEvent) -> None:
        self.log.append(event)

    def events(self, channel: Channel | None = None) -> list[SyncEvent]:
        return [m for m in self.log if isinstance(m, SyncEvent) and channel in (None, m.channel)]

    def campaigns(self, channel: Channel | None = None) -> list[CampaignFetched]:
        return [m for m in self.log if isinstance(m, CampaignFetched) and channel in (None, m.channel)]


class FlakySource:
    """Fails the first ``failures`` requests with ``error``, then serves one page of ``size`` campaigns."""

    def __init__(self, channel: Channel, failures: int, error: Exception, size: int = 3) -> None:
        self.channel = channel
        self.failures = failures
        self.error = error
        self.size = size
        self.calls = 0

    async def fetch_page(self, as_of: dt.datetime, cursor: str | None) -> Page:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return Page(list(mock_campaigns(self.channel, as_of, self.size)), SLOT, None)


def mock_sources(size: int = 12, page_size: int = 5) -> dict[Channel, MockSource]:
    return {c: MockSource(c, size=size, page_size=page_size) for c in ALL_CHANNELS}


async def test_a_sync_publishes_started_every_campaign_then_completed_with_the_count() -> None:
    sink = FakeSink()
    ingestor = Ingestor(mock_sources(size=12, page_size=5), sink, retry=NO_WAIT)

    result = await ingestor.ingest(request(), Channel.INSTAGRAM)

    assert result is not None and not result.failed and result.count == 12
    started, completed = sink.events()
    assert (started.type, completed.type, completed.count) == (
        SyncEventType.FETCH_STARTED,
        SyncEventType.FETCH_COMPLETED,
        12,
    )
    assert sink.log[0] == started and sink.log[-1] == completed
    campaigns = sink.campaigns()
    assert [m.campaign.campaign_id for m in campaigns] == [
        c.campaign_id for c in mock_campaigns(Channel.INSTAGRAM, SLOT, 12)
    ]
    assert {m.fetched_at for m in campaigns} == {SLOT}
    assert {m.channel for m in campaigns} == {Channel.INSTAGRAM}


async def test_ids_are_derived_from_the_sync_so_a_rerun_is_identical() -> None:
    first, second = FakeSink(), FakeSink()
    await Ingestor(mock_sources(), first, retry=NO_WAIT).ingest(request(), Channel.TIKTOK)
    await Ingestor(mock_sources(), second, retry=NO_WAIT).ingest(request(), Channel.TIKTOK)

    assert first.campaigns() == second.campaigns()
    assert [e.event_id for e in first.events()] == [e.event_id for e in second.events()]
    message = first.campaigns()[0]
    assert message.event_id == deterministic_event_id(
        "sched-20261125T1400Z", "tiktok", message.campaign.campaign_id
    )
    assert first.events()[0].event_id == deterministic_event_id(
        "sched-20261125T1400Z", "tiktok", "fetch.started"
    )


async def test_a_request_that_does_not_name_the_channel_is_ignored() -> None:
    sink = FakeSink()
    result = await Ingestor(mock_sources(), sink).ingest(request([Channel.FACEBOOK]), Channel.GOOGLE_ADS)
    assert result is None
    assert sink.log == []


async def test_transient_source_errors_are_retried_until_the_page_arrives() -> None:
    source = FlakySource(Channel.FACEBOOK, failures=2, error=SourceUnavailable("503"))
    sink = FakeSink()
    result = await Ingestor({Channel.FACEBOOK: source}, sink, retry=NO_WAIT).ingest(
        request(), Channel.FACEBOOK
    )
    assert result is not None and result.count == 3 and not result.failed
    assert source.calls == 3
    assert [e.type for e in sink.events()] == [SyncEventType.FETCH_STARTED, SyncEventType.FETCH_COMPLETED]


async def test_a_source_that_keeps_failing_ends_in_fetch_failed_with_the_reason() -> None:
    source = FlakySource(Channel.FACEBOOK, failures=99, error=SourceUnavailable("503 from graph API"))
    sink = FakeSink()
    result = await Ingestor({Channel.FACEBOOK: source}, sink, retry=NO_WAIT).ingest(
        request(), Channel.FACEBOOK
    )
    assert result is not None and result.failed
    assert source.calls == NO_WAIT.attempts
    failed = sink.events()[-1]
    assert failed.type is SyncEventType.FETCH_FAILED
    assert failed.error == "gave up after 3 attempts: 503 from graph API"
    assert sink.campaigns() == []


async def test_a_rejected_request_is_not_retried() -> None:
    source = FlakySource(Channel.TIKTOK, failures=99, error=SourceRejected("token revoked"))
    sink = FakeSink()
    await Ingestor({Channel.TIKTOK: source}, sink, retry=NO_WAIT).ingest(request(), Channel.TIKTOK)
    assert source.calls == 1
    assert sink.events()[-1].error == "source rejected the request: token revoked"


async def test_retries_wait_with_exponential_backoff() -> None:
    source = FlakySource(Channel.FACEBOOK, failures=2, error=SourceUnavailable("503"))
    policy = RetryPolicy(attempts=3, initial_s=0.05, max_s=1, jitter_s=0)
    loop = asyncio.get_running_loop()
    began = loop.time()
    await Ingestor({Channel.FACEBOOK: source}, FakeSink(), retry=policy).ingest(request(), Channel.FACEBOOK)
    assert loop.time() - began >= 0.05 + 0.1


async def test_a_fetch_over_its_deadline_fails() -> None:
    slow = MockSource(Channel.GOOGLE_ADS, size=10, page_size=1, latency_s=0.05)
    sink = FakeSink()
    result = await Ingestor({Channel.GOOGLE_ADS: slow}, sink, fetch_timeout_s=0.12).ingest(
        request(), Channel.GOOGLE_ADS
    )
    assert result is not None and result.failed
    assert sink.events()[-1].error == "fetch did not finish within 0.12s"


async def test_kafka_errors_propagate_so_the_request_is_not_acknowledged() -> None:
    sink = FakeSink(fail_campaigns=True)
    with pytest.raises(ConnectionError):
        await Ingestor(mock_sources(), sink).ingest(request(), Channel.FACEBOOK)
    assert [e.type for e in sink.events()] == [SyncEventType.FETCH_STARTED]


async def test_pages_in_flight_are_bounded() -> None:
    sink = FakeSink()
    await Ingestor(mock_sources(size=50, page_size=2), sink, pages_in_flight=3).ingest(
        request(), Channel.FACEBOOK
    )
    assert len(sink.campaigns()) == 50
    assert sink.max_outstanding <= 4  # the bound, plus the page just handed over


async def test_a_source_returning_another_channels_campaign_fails_the_fetch() -> None:
    class Confused:
        channel = Channel.FACEBOOK

        async def fetch_page(self, as_of: dt.datetime, cursor: str | None) -> Page:
            return Page(list(mock_campaigns(Channel.TIKTOK, as_of, 1)), SLOT, None)

    sink = FakeSink()
    result = await Ingestor({Channel.FACEBOOK: Confused()}, sink).ingest(request(), Channel.FACEBOOK)
    assert result is not None and result.failed
    assert "tiktok" in (sink.events()[-1].error or "")


def test_a_source_must_serve_the_channel_it_is_registered_for() -> None:
    with pytest.raises(ValueError, match="serves"):
        Ingestor({Channel.FACEBOOK: MockSource(Channel.TIKTOK, size=1)}, FakeSink())


async def test_the_next_page_is_fetched_while_the_current_one_is_published() -> None:
    timeline: list[str] = []

    class LoggingSource:
        channel = Channel.FACEBOOK

        async def fetch_page(self, as_of: dt.datetime, cursor: str | None) -> Page:
            page = int(cursor or 0)
            timeline.append(f"fetch {page}")
            campaigns = list(mock_campaigns(self.channel, as_of, 3, offset=page, limit=1))
            return Page(campaigns, SLOT, str(page + 1) if page < 2 else None)

    class SlowSink(FakeSink):
        async def publish_campaigns(self, messages: Sequence[CampaignFetched]) -> Delivery:
            timeline.append(f"publish {messages[0].campaign.campaign_id[-1]}")
            await asyncio.sleep(0.01)  # the producer is busy: the event loop may fetch meanwhile
            timeline.append("published")
            return await super().publish_campaigns(messages)

    campaign_ids = [c.campaign_id for c in mock_campaigns(Channel.FACEBOOK, SLOT, 3)]
    await Ingestor({Channel.FACEBOOK: LoggingSource()}, SlowSink()).ingest(request(), Channel.FACEBOOK)
    assert timeline == [
        "fetch 0",
        f"publish {campaign_ids[0][-1]}",
        "fetch 1",
        "published",
        f"publish {campaign_ids[1][-1]}",
        "fetch 2",
        "published",
        f"publish {campaign_ids[2][-1]}",
        "published",
    ]
