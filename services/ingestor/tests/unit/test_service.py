"""The ingestor core with a fake sink and scripted sources: no Kafka."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence

import pytest

from demetra_common.contracts import (
    ALL_CHANNELS,
    ATTRIBUTION_WINDOW_DAYS,
    CampaignDay,
    CampaignDaysFetched,
    Channel,
    ChannelFetched,
    SyncEvent,
    SyncEventType,
    SyncRequested,
    Trigger,
    deterministic_event_id,
)
from demetra_ingestor.service import (
    DateWindow,
    Delivery,
    ExpiryPolicy,
    Ingestor,
    Received,
    RetryPolicy,
    WindowPolicy,
    WindowRefused,
    fetch_window,
)
from demetra_ingestor.sources.base import Page, SourceRejected, SourceUnavailable
from demetra_ingestor.sources.mock import MockSource
from demetra_mock import CampaignDays, campaigns_running, mock_campaign_days

SLOT = dt.datetime(2026, 11, 25, 14, tzinfo=dt.UTC)
TODAY = SLOT.date()
DAY = dt.timedelta(days=1)
NO_WAIT = RetryPolicy(attempts=3, initial_s=0, max_s=0, jitter_s=0)


def request(
    channels: Sequence[Channel] = ALL_CHANNELS,
    sync_id: str = "sched-20261125T1400Z",
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> SyncRequested:
    return SyncRequested(
        sync_id=sync_id,
        trigger=Trigger.SCHEDULE if date_from is None else Trigger.API,
        channels=list(channels),
        slot=SLOT,
        date_from=date_from,
        date_to=date_to,
    )


def lookback(channel: Channel) -> DateWindow:
    return DateWindow(TODAY - ATTRIBUTION_WINDOW_DAYS[channel] * DAY, TODAY)


class FakeSink:
    """Records what would go to Kafka, in order; campaign batches are acknowledged when ``ack`` says so."""

    def __init__(self, *, fail_campaigns: bool = False) -> None:
        self.log: list[CampaignDaysFetched | SyncEvent] = []
        self.fail_campaigns = fail_campaigns
        self.outstanding = 0
        self.max_outstanding = 0

    async def publish_campaigns(self, messages: Sequence[CampaignDaysFetched]) -> Delivery:
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

    def campaigns(self, channel: Channel | None = None) -> list[CampaignDaysFetched]:
        return [m for m in self.log if isinstance(m, CampaignDaysFetched) and channel in (None, m.channel)]

    def types(self) -> list[SyncEventType]:
        return [e.type for e in self.events()]


class FlakySource:
    """Fails the first ``failures`` requests with ``error``, then serves one page of ``size`` campaigns."""

    def __init__(self, channel: Channel, failures: int, error: Exception, size: int = 3) -> None:
        self.channel = channel
        self.failures = failures
        self.error = error
        self.size = size
        self.calls = 0

    async def fetch_page(
        self, as_of: dt.datetime, date_from: dt.date, date_to: dt.date, cursor: str | None
    ) -> Page:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return Page(list(mock_campaign_days(self.channel, as_of, self.size, date_from, date_to)), SLOT, None)


def mock_sources(size: int = 12, page_size: int = 5) -> dict[Channel, MockSource]:
    return {c: MockSource(c, size=size, page_size=page_size) for c in ALL_CHANNELS}


async def test_a_sync_publishes_started_every_campaigns_days_progress_then_completed_with_counts() -> None:
    sink = FakeSink()
    ingestor = Ingestor(mock_sources(size=12, page_size=5), sink, retry=NO_WAIT)

    result = await ingestor.ingest(request(), Channel.INSTAGRAM)

    window = lookback(Channel.INSTAGRAM)  # 28 days before today, and today
    expected = list(mock_campaign_days(Channel.INSTAGRAM, SLOT, 12, window.date_from, window.date_to))
    rows = sum(len(c.days) for c in expected)
    assert result is not None and not result.failed
    assert (result.count, result.rows) == (len(expected), rows)
    assert len(expected) > 12 and rows > 12 * 28  # campaigns that ended or launched in the window count too
    started, progress, completed = sink.events()
    assert (started.type, started.date_from, started.date_to) == (
        SyncEventType.FETCH_STARTED,
        window.date_from,
        window.date_to,
    )
    assert (progress.type, progress.through, progress.rows) == (SyncEventType.FETCH_PROGRESS, TODAY, rows)
    assert (completed.type, completed.count, completed.rows) == (
        SyncEventType.FETCH_COMPLETED,
        len(expected),
        rows,
    )
    assert sink.log[0] == started and sink.log[-2:] == [progress, completed]
    messages = sink.campaigns()
    assert [(m.campaign_id, m.name, m.days) for m in messages] == [
        (c.campaign_id, c.name, c.days) for c in expected
    ]
    assert {m.fetched_at for m in messages} == {SLOT}
    assert {m.channel for m in messages} == {Channel.INSTAGRAM}
    assert {m.schema_version for m in messages} == {2}


@pytest.mark.parametrize("channel", ALL_CHANNELS)
def test_a_sync_without_a_range_fetches_today_and_the_channels_attribution_window(channel: Channel) -> None:
    assert fetch_window(request(), channel, WindowPolicy()) == lookback(channel)


def test_the_lookback_can_be_configured_and_is_capped() -> None:
    assert fetch_window(request(), Channel.FACEBOOK, WindowPolicy(lookback_days=2)) == DateWindow(
        TODAY - 2 * DAY, TODAY
    )
    assert fetch_window(request(), Channel.TIKTOK, WindowPolicy(lookback_days=0)) == DateWindow(TODAY, TODAY)
    capped = WindowPolicy(lookback_days=90, lookback_max_days=28)
    assert fetch_window(request(), Channel.TIKTOK, capped) == DateWindow(TODAY - 28 * DAY, TODAY)
    assert fetch_window(request(), Channel.FACEBOOK, WindowPolicy(lookback_max_days=7)).days == 8


def test_a_backfill_fetches_its_range_with_date_to_clamped_to_the_as_of_day() -> None:
    backfill = request(date_from=TODAY - 89 * DAY, date_to=TODAY + 3 * DAY)
    assert fetch_window(backfill, Channel.TIKTOK, WindowPolicy()) == DateWindow(TODAY - 89 * DAY, TODAY)
    past = request(date_from=dt.date(2026, 3, 1), date_to=dt.date(2026, 3, 31))
    assert fetch_window(past, Channel.GOOGLE_ADS, WindowPolicy()) == DateWindow(
        dt.date(2026, 3, 1), dt.date(2026, 3, 31)
    )


def test_a_backfill_over_the_limit_or_after_the_as_of_day_is_refused() -> None:
    policy = WindowPolicy(backfill_max_days=30)
    assert (
        fetch_window(request(date_from=TODAY - 29 * DAY, date_to=TODAY), Channel.FACEBOOK, policy).days == 30
    )
    with pytest.raises(WindowRefused, match=r"spans 31 days .* BACKFILL_MAX_DAYS \(30\)"):
        fetch_window(request(date_from=TODAY - 30 * DAY, date_to=TODAY), Channel.FACEBOOK, policy)
    with pytest.raises(WindowRefused, match="after the sync's as-of day"):
        fetch_window(request(date_from=TODAY + DAY, date_to=TODAY + 2 * DAY), Channel.FACEBOOK, policy)


def test_windows_split_into_chunks_of_at_most_n_days() -> None:
    chunks = list(DateWindow(dt.date(2026, 1, 1), dt.date(2026, 1, 10)).chunks(4))
    assert chunks == [
        DateWindow(dt.date(2026, 1, 1), dt.date(2026, 1, 4)),
        DateWindow(dt.date(2026, 1, 5), dt.date(2026, 1, 8)),
        DateWindow(dt.date(2026, 1, 9), dt.date(2026, 1, 10)),
    ]
    assert list(DateWindow(dt.date(2026, 1, 1), dt.date(2026, 1, 1)).chunks(100)) == [
        DateWindow(dt.date(2026, 1, 1), dt.date(2026, 1, 1))
    ]


async def test_a_backfill_is_published_chunk_by_chunk_with_progress_after_each() -> None:
    sink = FakeSink()
    backfill = request(
        [Channel.GOOGLE_ADS], sync_id="api-backfill-1", date_from=TODAY - 24 * DAY, date_to=TODAY
    )
    ingestor = Ingestor(mock_sources(size=20, page_size=7), sink, retry=NO_WAIT, days_per_message=10)

    result = await ingestor.ingest(backfill, Channel.GOOGLE_ADS)

    expected = {
        c.campaign_id: c.days
        for c in mock_campaign_days(Channel.GOOGLE_ADS, SLOT, 20, TODAY - 24 * DAY, TODAY)
    }
    rows = sum(map(len, expected.values()))
    assert result is not None and not result.failed and result.rows == rows
    events = sink.events()
    assert [(e.type, e.through) for e in events] == [
        (SyncEventType.FETCH_STARTED, None),
        (SyncEventType.FETCH_PROGRESS, TODAY - 15 * DAY),
        (SyncEventType.FETCH_PROGRESS, TODAY - 5 * DAY),
        (SyncEventType.FETCH_PROGRESS, TODAY),
        (SyncEventType.FETCH_COMPLETED, None),
    ]
    assert (events[0].date_from, events[0].date_to) == (TODAY - 24 * DAY, TODAY)
    assert len({e.event_id for e in events}) == 5
    messages = sink.campaigns()
    assert events[-1].count == result.count == len(messages)
    assert events[-2].rows == events[-1].rows == rows
    # each progress counts the rows of every message published before it
    for position, entry in enumerate(sink.log):
        if isinstance(entry, SyncEvent) and entry.type is SyncEventType.FETCH_PROGRESS:
            before = [m for m in sink.log[:position] if isinstance(m, CampaignDaysFetched)]
            assert entry.rows == sum(len(m.days) for m in before)
    # every campaign's days exactly once, each message inside one chunk of at most 10 days
    days: dict[str, list[CampaignDay]] = {}
    for message in messages:
        assert (message.days[-1].date - message.days[0].date).days < 10
        days.setdefault(message.campaign_id, []).extend(message.days)
    assert days == expected
    assert len({m.event_id for m in messages}) == len(messages)


async def test_a_backfill_over_backfill_max_days_ends_in_fetch_failed_without_fetching() -> None:
    source = FlakySource(Channel.FACEBOOK, failures=0, error=SourceUnavailable("unused"))
    sink = FakeSink()
    ingestor = Ingestor({Channel.FACEBOOK: source}, sink, window=WindowPolicy(backfill_max_days=10))
    too_long = request([Channel.FACEBOOK], date_from=TODAY - 10 * DAY, date_to=TODAY)

    result = await ingestor.ingest(too_long, Channel.FACEBOOK)

    assert result is not None and result.failed
    assert sink.types() == [SyncEventType.FETCH_STARTED, SyncEventType.FETCH_FAILED]
    assert (sink.events()[0].date_from, sink.events()[0].date_to) == (TODAY - 10 * DAY, TODAY)
    assert sink.events()[-1].error == (
        f"the backfill spans 11 days ({TODAY - 10 * DAY}..{TODAY}), more than BACKFILL_MAX_DAYS (10)"
    )
    assert source.calls == 0 and sink.campaigns() == []


async def test_a_rerun_is_a_new_attempt_with_the_same_campaigns_and_ids_of_its_own() -> None:
    first, second = FakeSink(), FakeSink()
    await Ingestor(mock_sources(), first, retry=NO_WAIT).ingest(request(), Channel.TIKTOK)
    await Ingestor(mock_sources(), second, retry=NO_WAIT).ingest(request(), Channel.TIKTOK)

    def content(sink: FakeSink) -> list[tuple[str, object]]:
        return [(m.campaign_id, m.days) for m in sink.campaigns()]

    assert content(first) == content(second)
    [attempt] = {m.attempt for m in first.campaigns()} | {e.attempt for e in first.events()}
    [other] = {m.attempt for m in second.campaigns()} | {e.attempt for e in second.events()}
    assert attempt and other and attempt != other
    assert not {e.event_id for e in first.events()} & {e.event_id for e in second.events()}
    message = first.campaigns()[0]
    chunk_start = TODAY - ATTRIBUTION_WINDOW_DAYS[Channel.TIKTOK] * DAY
    assert message.event_id == deterministic_event_id(
        "sched-20261125T1400Z", "tiktok", message.campaign_id, chunk_start.isoformat(), attempt
    )
    assert first.events()[0].event_id == deterministic_event_id(
        "sched-20261125T1400Z", "tiktok", "fetch.started", attempt
    )
    assert first.events()[1].event_id == deterministic_event_id(
        "sched-20261125T1400Z", "tiktok", "fetch.progress", attempt, TODAY.isoformat()
    )


class MemoryCompletions:
    def __init__(self) -> None:
        self.fetched: dict[tuple[str, Channel], ChannelFetched] = {}

    async def completed(self, sync_id: str, channel: Channel) -> ChannelFetched | None:
        return self.fetched.get((sync_id, channel))

    async def record(self, fetched: ChannelFetched) -> None:
        self.fetched[(fetched.sync_id, fetched.channel)] = fetched


async def test_a_duplicate_of_a_completed_channel_is_skipped_without_calling_the_source() -> None:
    sink, completions = FakeSink(), MemoryCompletions()
    source = FlakySource(Channel.FACEBOOK, failures=0, error=SourceUnavailable("never"))
    ingestor = Ingestor({Channel.FACEBOOK: source}, sink, retry=NO_WAIT, completions=completions)
    first = await ingestor.ingest(request(), Channel.FACEBOOK)
    calls = source.calls
    duplicate = request()
    again = await ingestor.ingest(duplicate, Channel.FACEBOOK)

    assert first is not None and again is not None and not first.failed
    assert source.calls == calls  # the platform was not asked again
    assert (again.skipped, again.count, again.attempt) == (True, first.count, first.attempt)
    recorded = completions.fetched[("sched-20261125T1400Z", Channel.FACEBOOK)]
    assert (recorded.count, recorded.attempt) == (first.count, first.attempt)
    skip = sink.events()[-1]
    assert (skip.type, skip.count, skip.attempt) == (SyncEventType.FETCH_SKIPPED, first.count, first.attempt)
    assert len(sink.campaigns()) == first.count


async def test_a_failed_channel_is_fetched_again_and_remembered_once_completed() -> None:
    sink, completions = FakeSink(), MemoryCompletions()
    source = FlakySource(Channel.FACEBOOK, failures=1, error=SourceRejected("bad request"))
    ingestor = Ingestor({Channel.FACEBOOK: source}, sink, retry=NO_WAIT, completions=completions)
    failed = await ingestor.ingest(request(), Channel.FACEBOOK)
    assert failed is not None and failed.failed and not completions.fetched
    retried = await ingestor.ingest(request(), Channel.FACEBOOK)
    assert retried is not None and not retried.failed and not retried.skipped
    assert retried.attempt != failed.attempt
    assert completions.fetched[("sched-20261125T1400Z", Channel.FACEBOOK)].attempt == retried.attempt


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
    assert result is not None and result.count == len(sink.campaigns()) > 0 and not result.failed
    assert source.calls == 3
    assert sink.types() == [
        SyncEventType.FETCH_STARTED,
        SyncEventType.FETCH_PROGRESS,
        SyncEventType.FETCH_COMPLETED,
    ]


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
    assert sink.types() == [SyncEventType.FETCH_STARTED]


async def test_pages_in_flight_are_bounded() -> None:
    sink = FakeSink()
    await Ingestor(mock_sources(size=50, page_size=2), sink, pages_in_flight=3).ingest(
        request(), Channel.FACEBOOK
    )
    window = lookback(Channel.FACEBOOK)
    assert len(sink.campaigns()) == len(campaigns_running(SLOT, 50, window.date_from, window.date_to))
    assert sink.max_outstanding <= 4  # the bound, plus the page just handed over


def report(campaign_id: str, *dates: dt.date) -> CampaignDays:
    days = [
        CampaignDay(date=d, impressions=10, clicks=1, engagement=0, cost=1.0, conversions=0, revenue=0)
        for d in dates
    ]
    return CampaignDays(campaign_id, "A campaign", days)


class Scripted:
    """Serves one page with the given campaign reports, whatever is asked."""

    channel = Channel.FACEBOOK

    def __init__(self, *campaigns: CampaignDays) -> None:
        self.campaigns = campaigns

    async def fetch_page(
        self, as_of: dt.datetime, date_from: dt.date, date_to: dt.date, cursor: str | None
    ) -> Page:
        return Page(self.campaigns, SLOT, None)


async def test_a_source_returning_days_outside_the_range_fails_the_fetch() -> None:
    sink = FakeSink()
    source = Scripted(report("fb_1", TODAY - DAY, TODAY), report("fb_2", TODAY + DAY))
    ingestor = Ingestor({Channel.FACEBOOK: source}, sink, window=WindowPolicy(lookback_days=1))
    result = await ingestor.ingest(request([Channel.FACEBOOK]), Channel.FACEBOOK)
    assert result is not None and result.failed
    assert sink.events()[-1].error == f"source returned days of campaign fb_2 outside {TODAY - DAY}..{TODAY}"
    assert sink.campaigns() == []


async def test_a_source_returning_an_invalid_report_fails_the_fetch_and_empty_ones_are_skipped() -> None:
    sink = FakeSink()
    ingestor = Ingestor({Channel.FACEBOOK: Scripted(report("fb_1", TODAY, TODAY - DAY))}, sink)
    result = await ingestor.ingest(request([Channel.FACEBOOK]), Channel.FACEBOOK)
    assert result is not None and result.failed
    assert "invalid report of campaign fb_1" in (sink.events()[-1].error or "")
    assert "ascending" in (sink.events()[-1].error or "")

    sink = FakeSink()
    ingestor = Ingestor({Channel.FACEBOOK: Scripted(report("fb_1"), report("fb_2", TODAY))}, sink)
    result = await ingestor.ingest(request([Channel.FACEBOOK]), Channel.FACEBOOK)
    assert result is not None and (result.count, result.rows) == (1, 1)
    assert [m.campaign_id for m in sink.campaigns()] == ["fb_2"]


def test_a_source_must_serve_the_channel_it_is_registered_for() -> None:
    with pytest.raises(ValueError, match="serves"):
        Ingestor({Channel.FACEBOOK: MockSource(Channel.TIKTOK, size=1)}, FakeSink())


async def test_the_next_page_is_fetched_while_the_current_one_is_published() -> None:
    timeline: list[str] = []

    class LoggingSource:
        channel = Channel.FACEBOOK

        async def fetch_page(
            self, as_of: dt.datetime, date_from: dt.date, date_to: dt.date, cursor: str | None
        ) -> Page:
            page = int(cursor or 0)
            timeline.append(f"fetch {page}")
            campaigns = list(mock_campaign_days(self.channel, as_of, 3, TODAY, TODAY, offset=page, limit=1))
            return Page(campaigns, SLOT, str(page + 1) if page < 2 else None)

    class SlowSink(FakeSink):
        async def publish_campaigns(self, messages: Sequence[CampaignDaysFetched]) -> Delivery:
            timeline.append(f"publish {messages[0].campaign_id}")
            await asyncio.sleep(0.01)  # the producer is busy: the event loop may fetch meanwhile
            timeline.append("published")
            return await super().publish_campaigns(messages)

    campaign_ids = [c.campaign_id for c in mock_campaign_days(Channel.FACEBOOK, SLOT, 3, TODAY, TODAY)]
    await Ingestor({Channel.FACEBOOK: LoggingSource()}, SlowSink()).ingest(request(), Channel.FACEBOOK)
    assert timeline == [
        "fetch 0",
        f"publish {campaign_ids[0]}",
        "fetch 1",
        "published",
        f"publish {campaign_ids[1]}",
        "fetch 2",
        "published",
        f"publish {campaign_ids[2]}",
        "published",
    ]


class KnownSlot:
    def __init__(self, slot: dt.datetime | None) -> None:
        self.slot = slot

    async def newest_slot(self) -> dt.datetime | None:
        return self.slot


def read_at(published_at: dt.datetime, offset: int = 7) -> Received:
    return Received(f"sync.requested/0/{offset}", published_at)


@pytest.mark.parametrize(
    ("trigger", "newest", "expired"),
    [
        (Trigger.API, None, True),  # an old ad-hoc request: expired
        (Trigger.SCHEDULE, SLOT + DAY, True),  # an old slot, a newer one was requested since: expired
        (Trigger.SCHEDULE, SLOT, False),  # the newest slot is fetched however late
        (Trigger.SCHEDULE, None, False),  # no newer slot known: fetched
    ],
)
async def test_a_request_read_long_after_it_was_published_expires_unless_it_is_the_newest_slot(
    trigger: Trigger, newest: dt.datetime | None, expired: bool
) -> None:
    sink = FakeSink()
    now = SLOT + 7 * 3600 * dt.timedelta(seconds=1)
    expiry = ExpiryPolicy(dt.timedelta(hours=6), KnownSlot(newest))
    ingestor = Ingestor(mock_sources(), sink, retry=NO_WAIT, expiry=expiry, clock=lambda: now)
    stale = request().model_copy(
        update={"trigger": trigger, "slot": SLOT if trigger is Trigger.SCHEDULE else None}
    )
    result = await ingestor.ingest(stale, Channel.TIKTOK, read_at(SLOT))
    assert result is not None and result.expired is expired
    if expired:
        [event] = sink.events()
        assert event.type is SyncEventType.FETCH_EXPIRED and "SYNC_REQUEST_MAX_AGE" in (event.error or "")
        assert sink.campaigns() == []
    else:
        assert sink.types()[-1] is SyncEventType.FETCH_COMPLETED and sink.campaigns()
    fresh = await ingestor.ingest(stale, Channel.FACEBOOK, read_at(now - dt.timedelta(minutes=1)))
    assert fresh is not None and not fresh.expired and not fresh.failed


async def test_each_copy_of_a_duplicate_is_its_own_skip_and_a_redelivery_the_same() -> None:
    sink, completions = FakeSink(), MemoryCompletions()
    ingestor = Ingestor(mock_sources(), sink, retry=NO_WAIT, completions=completions)
    await ingestor.ingest(request(), Channel.TIKTOK, read_at(SLOT, 1))
    for offset in (2, 3, 3):  # two copies of the request, the second delivered twice
        await ingestor.ingest(request(), Channel.TIKTOK, read_at(SLOT, offset))
    skips = [e for e in sink.events() if e.type is SyncEventType.FETCH_SKIPPED]
    assert len(skips) == 3 and len({e.event_id for e in skips}) == 2
