"""The ingestor's core: fetch one channel of one sync from its source, day by day, and publish what it found.

Every sync fetches a window of days per channel (``fetch_window``): a backfill's ``date_from..date_to``
(``date_to`` clamped to the sync's as-of day), otherwise the as-of day and the ``lookback`` days before it
(the channel's attribution window unless configured, capped). For every sync that names the channel:
``fetch.started`` with the window; then chunk by chunk of at most ``MAX_DAYS_PER_MESSAGE`` days, every
campaign that ran in the chunk as one ``campaign.fetched`` (``CampaignDaysFetched``, its days in the chunk),
page by page with a bounded number of pages in flight, and once Kafka acknowledged the chunk's messages a
``fetch.progress`` (through the chunk's last day, daily rows so far); finally ``fetch.completed`` with the
exact count of messages and of daily rows. A window over ``BACKFILL_MAX_DAYS``, a source that keeps failing
(tenacity retries each page with exponential backoff and jitter) or a fetch that overruns its deadline ends
in ``fetch.failed`` with the reason instead.

A sync id is one sync. Every fetch is an attempt with an id of its own (``attempt``), carried by every
message and event it publishes, so a fetch run again (after a crash mid-fetch, a redelivery, a retry) is
counted apart from the partial one before it; the sync's status counts the attempt of the newest fetch
outcome. Once a channel's fetch completed, its ``ChannelFetched`` record is written (``Completions``: the
compacted sync.fetched topic) before the request is acknowledged; a request for a (sync, channel) found
there is not fetched again but answered with ``fetch.skipped``. A failed channel has no such record: a
request for it fetches again (a retry). A request read more than ``SYNC_REQUEST_MAX_AGE`` after it was
published (a new consumer group reading the topic from its start, offsets that expired, a new channel) is
not fetched but answered with ``fetch.expired``, unless it is a scheduled sync of the newest slot the
scheduler requested (``Slots``; when unknown, no scheduled request expires): the newest slot is never
lost. Kafka errors are not handled here: they propagate, the request is not acknowledged, and it is read
again.

No FastStream or FastAPI here: the edges (handlers.py, publishing.py) adapt this to Kafka.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import ValidationError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from demetra_common.contracts import (
    ATTRIBUTION_WINDOW_DAYS,
    MAX_DAYS_PER_MESSAGE,
    CampaignDaysFetched,
    Channel,
    ChannelFetched,
    SyncEvent,
    SyncEventType,
    SyncRequested,
    deterministic_event_id,
    utcnow,
)
from demetra_common.logging import sync_context
from demetra_common.topics import CAMPAIGN_FETCHED, SYNC_EVENTS
from demetra_ingestor import metrics
from demetra_ingestor.sources.base import (
    CampaignReport,
    CampaignSource,
    Page,
    SourceError,
    SourceRejected,
    SourceUnavailable,
)

logger = logging.getLogger(__name__)

Delivery = asyncio.Future[Any]


class SyncSink(Protocol):
    """Where the ingestor's messages go (Kafka in production, a list in unit tests)."""

    async def publish_campaigns(self, messages: Sequence[CampaignDaysFetched]) -> Delivery:
        """Hand ``messages`` to the producer; the future completes once Kafka acknowledged every one."""
        ...

    async def publish_event(self, event: SyncEvent) -> None:
        """Publish ``event`` and wait for Kafka's acknowledgement."""
        ...


class Completions(Protocol):
    """The ingestor's memory of the (sync, channel) pairs fetched completely (sync.fetched in production)."""

    async def completed(self, sync_id: str, channel: Channel) -> ChannelFetched | None:
        """The completed fetch of ``channel`` in ``sync_id``, as known once every record written so far
        (by any replica) is read; None when there is none."""
        ...

    async def record(self, fetched: ChannelFetched) -> None:
        """Remember ``fetched`` durably (acknowledged by Kafka) before the request is acknowledged."""
        ...


class Slots(Protocol):
    """The scheduler's newest requested slot (its scheduler.state record in production)."""

    async def newest_slot(self) -> dt.datetime | None: ...


@dataclass(frozen=True, slots=True)
class Received:
    """Where a request was read from and when it was published (its Kafka record's timestamp)."""

    position: str
    """Names its record (topic, partition, offset): a redelivery of the record names the same."""
    published_at: dt.datetime


@dataclass(frozen=True, slots=True)
class ExpiryPolicy:
    """Requests published longer ago than ``max_age`` are not fetched, but the newest slot's (``Slots``)."""

    max_age: dt.timedelta
    slots: Slots | None = None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a source page request is retried: ``attempts`` in all, exponential backoff with jitter."""

    attempts: int = 5
    initial_s: float = 0.5
    max_s: float = 15.0
    jitter_s: float = 0.5


@dataclass(frozen=True, slots=True)
class WindowPolicy:
    """Which days a sync fetches: see ``fetch_window``."""

    lookback_days: int | None = None
    """Days before the as-of day a sync without a range fetches again; None: the channel's attribution
    window (``ATTRIBUTION_WINDOW_DAYS``)."""
    lookback_max_days: int = 28
    backfill_max_days: int = 400


@dataclass(frozen=True, slots=True)
class DateWindow:
    """The days one channel of one sync fetches, ``date_from..date_to`` inclusive."""

    date_from: dt.date
    date_to: dt.date

    @property
    def days(self) -> int:
        return (self.date_to - self.date_from).days + 1

    def chunks(self, days: int) -> Iterator[DateWindow]:
        """Consecutive windows of at most ``days`` days covering this one, oldest first."""
        start = self.date_from
        while start <= self.date_to:
            end = min(self.date_to, start + dt.timedelta(days=days - 1))
            yield DateWindow(start, end)
            start = end + dt.timedelta(days=1)


class WindowRefused(ValueError):
    """The request's range cannot be fetched (the reason of its fetch.failed)."""


def fetch_window(request: SyncRequested, channel: Channel, policy: WindowPolicy) -> DateWindow:
    """The days ``channel`` fetches for ``request``.

    A backfill (``date_from``/``date_to``) fetches its range, ``date_to`` clamped to the as-of day (the
    platform has nothing later); one spanning more than ``backfill_max_days`` is refused. Any other sync
    fetches the as-of day and the ``lookback`` days before it (``lookback_days``, else the channel's
    attribution window; at most ``lookback_max_days``), where late conversions still restate the figures.
    """
    as_of_day = request.as_of().astimezone(dt.UTC).date()
    if request.date_from is None or request.date_to is None:
        lookback = policy.lookback_days
        if lookback is None:
            lookback = ATTRIBUTION_WINDOW_DAYS[channel]
        lookback = min(lookback, policy.lookback_max_days)
        return DateWindow(as_of_day - dt.timedelta(days=lookback), as_of_day)
    if request.date_from > as_of_day:
        raise WindowRefused(f"date_from {request.date_from} is after the sync's as-of day {as_of_day}")
    window = DateWindow(request.date_from, min(request.date_to, as_of_day))
    if window.days > policy.backfill_max_days:
        raise WindowRefused(
            f"the backfill spans {window.days} days ({window.date_from}..{window.date_to}), "
            f"more than BACKFILL_MAX_DAYS ({policy.backfill_max_days})"
        )
    return window


@dataclass(frozen=True, slots=True)
class FetchResult:
    sync_id: str
    channel: Channel
    count: int
    """campaign.fetched messages published (and acknowledged) for this channel of this sync."""
    rows: int = 0
    """Daily rows (campaign x day) those messages carried."""
    error: str | None = None
    attempt: str | None = None
    skipped: bool = False
    """A duplicate of a completed fetch: nothing fetched, ``count`` and ``rows`` are the completed fetch's."""
    expired: bool = False
    """Read after SYNC_REQUEST_MAX_AGE: nothing fetched."""

    @property
    def failed(self) -> bool:
        return self.error is not None


@dataclass(slots=True)
class _Tally:
    count: int = 0
    rows: int = 0


def sync_event_id(
    sync_id: str, channel: Channel, event_type: SyncEventType, attempt: str | None, *parts: object
) -> uuid.UUID:
    return deterministic_event_id(sync_id, channel.value, event_type.value, attempt, *parts)


def new_attempt() -> str:
    """A fresh attempt id: random, so that a fetch re-run after a crash never shares one with the partial
    fetch before it."""
    return uuid.uuid4().hex


def campaign_days_fetched(
    request: SyncRequested,
    channel: Channel,
    attempt: str,
    chunk: DateWindow,
    reported_at: dt.datetime,
    campaign: CampaignReport,
) -> CampaignDaysFetched:
    """The message for one campaign's days in one chunk: a pure function of the attempt and the source's
    data."""
    return CampaignDaysFetched(
        event_id=deterministic_event_id(
            request.sync_id, channel.value, campaign.campaign_id, chunk.date_from.isoformat(), attempt
        ),
        sync_id=request.sync_id,
        channel=channel,
        attempt=attempt,
        fetched_at=reported_at,
        campaign_id=campaign.campaign_id,
        name=campaign.name,
        days=list(campaign.days),
    )


class Ingestor:
    """Runs the fetch of one channel of one sync, for the channels it has a source for."""

    def __init__(
        self,
        sources: Mapping[Channel, CampaignSource],
        sink: SyncSink,
        *,
        retry: RetryPolicy | None = None,
        window: WindowPolicy | None = None,
        fetch_timeout_s: float = 900.0,
        pages_in_flight: int = 8,
        days_per_message: int = MAX_DAYS_PER_MESSAGE,
        clock: Callable[[], dt.datetime] = utcnow,
        completions: Completions | None = None,
        expiry: ExpiryPolicy | None = None,
    ) -> None:
        """``completions``: where completed fetches are remembered so duplicates are skipped; None
        remembers nothing (every request is fetched), for tests of the fetch alone. ``expiry``: None, no
        request expires."""
        for channel, source in sources.items():
            if source.channel is not channel:
                raise ValueError(f"the source registered for {channel.value} serves {source.channel.value}")
        if not 1 <= days_per_message <= MAX_DAYS_PER_MESSAGE:
            raise ValueError(f"days_per_message must lie in 1..{MAX_DAYS_PER_MESSAGE}")
        self._sources = dict(sources)
        self._sink = sink
        self._retry = retry or RetryPolicy()
        self._window = window or WindowPolicy()
        self._fetch_timeout_s = fetch_timeout_s
        self._pages_in_flight = pages_in_flight
        self._days_per_message = days_per_message
        self._clock = clock
        self._completions = completions
        self._expiry = expiry

    async def ingest(
        self, request: SyncRequested, channel: Channel, received: Received | None = None
    ) -> FetchResult | None:
        """Fetch and publish ``channel`` of ``request``; ``None`` when the request does not name it. A
        (sync, channel) already fetched completely is not fetched again (``fetch.skipped``), nor a request
        ``received`` too long after it was published (``fetch.expired``)."""
        if channel not in request.channels:
            return None
        with sync_context(request.sync_id):
            if self._completions is not None:
                done = await self._completions.completed(request.sync_id, channel)
                if done is not None:
                    return await self._skip(request, channel, received, done)
            if received is not None and (why := await self._expired(request, received)):
                return await self._expire(request, channel, received, why)
            result = await self._fetch(request, channel, new_attempt())
            if not result.failed and self._completions is not None:
                await self._completions.record(
                    ChannelFetched(
                        event_id=deterministic_event_id(
                            "sync.fetched", request.sync_id, channel.value, result.attempt
                        ),
                        sync_id=request.sync_id,
                        channel=channel,
                        attempt=result.attempt,
                        count=result.count,
                        rows=result.rows,
                        completed_at=self._clock(),
                    )
                )
            return result

    async def _expired(self, request: SyncRequested, received: Received) -> str | None:
        """Why ``request`` is too old to fetch, or None."""
        if self._expiry is None:
            return None
        age = self._clock() - received.published_at
        if age <= self._expiry.max_age:
            return None
        why = (
            f"published {received.published_at.isoformat()}, read {age.total_seconds():.0f} s later: older "
            f"than SYNC_REQUEST_MAX_AGE ({self._expiry.max_age.total_seconds():g} s)"
        )
        if request.slot is None:
            return why
        newest = await self._expiry.slots.newest_slot() if self._expiry.slots is not None else None
        if newest is None or newest <= request.slot:
            return None  # the newest scheduled slot (or none known to be newer) is fetched, however late
        return f"{why}; a newer slot ({newest.isoformat()}) was requested since"

    async def _expire(
        self, request: SyncRequested, channel: Channel, received: Received, why: str
    ) -> FetchResult:
        await self._event(request, channel, SyncEventType.FETCH_EXPIRED, None, received, error=why)
        metrics.REQUESTS_NOT_FETCHED.labels(channel.value, "expired").inc()
        logger.info("%s request expired: %s", channel.value, why)
        return FetchResult(request.sync_id, channel, 0, expired=True)

    async def _skip(
        self, request: SyncRequested, channel: Channel, received: Received | None, done: ChannelFetched
    ) -> FetchResult:
        await self._event(
            request,
            channel,
            SyncEventType.FETCH_SKIPPED,
            done.attempt,
            received,
            count=done.count,
            rows=done.rows,
            error=f"already fetched completely (attempt {done.attempt}, {done.count} campaigns) "
            f"at {done.completed_at.isoformat()}",
        )
        metrics.REQUESTS_NOT_FETCHED.labels(channel.value, "skipped").inc()
        logger.info("%s already fetched completely (attempt %s): skipped", channel.value, done.attempt)
        return FetchResult(
            request.sync_id, channel, done.count, done.rows, attempt=done.attempt, skipped=True
        )

    async def _fetch(self, request: SyncRequested, channel: Channel, attempt: str) -> FetchResult:
        source = self._sources[channel]
        began = time.monotonic()
        tally = _Tally()
        error: str | None = None
        try:
            window = fetch_window(request, channel, self._window)
        except WindowRefused as exc:
            await self._event(
                request,
                channel,
                SyncEventType.FETCH_STARTED,
                attempt,
                date_from=request.date_from,
                date_to=request.date_to,
            )
            error = str(exc)
        else:
            await self._event(
                request,
                channel,
                SyncEventType.FETCH_STARTED,
                attempt,
                date_from=window.date_from,
                date_to=window.date_to,
            )
            deadline = asyncio.timeout(self._fetch_timeout_s)
            try:
                async with deadline:
                    await self._fetch_and_publish(source, request, attempt, window, tally)
            except SourceError as exc:
                error = str(exc)
            except TimeoutError:
                if not deadline.expired():
                    raise
                error = f"fetch did not finish within {self._fetch_timeout_s:g}s"
        elapsed = time.monotonic() - began

        if error is None:
            await self._event(
                request, channel, SyncEventType.FETCH_COMPLETED, attempt, count=tally.count, rows=tally.rows
            )
            metrics.FETCH_DURATION.labels(channel.value, "completed").observe(elapsed)
            logger.info(
                "fetched %d %s campaigns (%d days) in %.2fs",
                tally.count,
                channel.value,
                tally.rows,
                elapsed,
            )
            return FetchResult(request.sync_id, channel, tally.count, tally.rows, attempt=attempt)

        await self._event(request, channel, SyncEventType.FETCH_FAILED, attempt, error=error)
        metrics.FETCH_DURATION.labels(channel.value, "failed").observe(elapsed)
        metrics.FETCH_FAILURES.labels(channel.value).inc()
        logger.warning("fetch of %s failed after %.2fs: %s", channel.value, elapsed, error)
        return FetchResult(request.sync_id, channel, tally.count, tally.rows, error, attempt=attempt)

    async def _fetch_and_publish(
        self,
        source: CampaignSource,
        request: SyncRequested,
        attempt: str,
        window: DateWindow,
        tally: _Tally,
    ) -> None:
        """Chunk by chunk: its campaigns published and acknowledged, then its fetch.progress."""
        for chunk in window.chunks(self._days_per_message):
            await self._publish_chunk(source, request, attempt, chunk, tally)
            await self._event(
                request,
                source.channel,
                SyncEventType.FETCH_PROGRESS,
                attempt,
                through=chunk.date_to,
                rows=tally.rows,
            )

    async def _publish_chunk(
        self,
        source: CampaignSource,
        request: SyncRequested,
        attempt: str,
        chunk: DateWindow,
        tally: _Tally,
    ) -> None:
        as_of = request.as_of()
        in_flight: deque[tuple[Delivery, int, int]] = deque()
        # The next page is requested as soon as its cursor is known, so a real platform's latency overlaps
        # with publishing the page at hand.
        ahead: asyncio.Task[Page] | None = asyncio.ensure_future(self._page(source, as_of, chunk, None))
        try:
            while ahead is not None:
                page = await ahead
                ahead = None
                if page.next_cursor is not None:
                    ahead = asyncio.ensure_future(self._page(source, as_of, chunk, page.next_cursor))
                messages = self._messages(request, source.channel, attempt, chunk, page)
                if messages:
                    rows = sum(len(m.days) for m in messages)
                    in_flight.append((await self._sink.publish_campaigns(messages), len(messages), rows))
                while len(in_flight) > self._pages_in_flight:
                    self._acknowledged(source.channel, tally, *await _delivered(in_flight.popleft()))
            while in_flight:
                self._acknowledged(source.channel, tally, *await _delivered(in_flight.popleft()))
        finally:
            if ahead is not None:
                ahead.cancel()
                _discard(ahead)
            for delivery, _, _ in in_flight:
                _discard(delivery)

    @staticmethod
    def _acknowledged(channel: Channel, tally: _Tally, count: int, rows: int) -> None:
        tally.count += count
        tally.rows += rows
        metrics.MESSAGES_PUBLISHED.labels(channel.value, CAMPAIGN_FETCHED).inc(count)
        metrics.DAYS_PUBLISHED.labels(channel.value).inc(rows)

    @staticmethod
    def _messages(
        request: SyncRequested, channel: Channel, attempt: str, chunk: DateWindow, page: Page
    ) -> list[CampaignDaysFetched]:
        messages = []
        for campaign in page.campaigns:
            if not campaign.days:
                continue  # nothing ran in the chunk: a platform may still list the campaign
            try:
                message = campaign_days_fetched(request, channel, attempt, chunk, page.reported_at, campaign)
            except ValidationError as exc:
                raise SourceRejected(
                    f"source returned an invalid report of campaign {campaign.campaign_id}: {exc}"
                ) from exc
            if message.days[0].date < chunk.date_from or message.days[-1].date > chunk.date_to:
                raise SourceRejected(
                    f"source returned days of campaign {campaign.campaign_id} outside "
                    f"{chunk.date_from}..{chunk.date_to}"
                )
            messages.append(message)
        return messages

    async def _page(
        self, source: CampaignSource, as_of: dt.datetime, chunk: DateWindow, cursor: str | None
    ) -> Page:
        policy = self._retry
        retrying = AsyncRetrying(
            stop=stop_after_attempt(policy.attempts),
            wait=wait_exponential_jitter(
                multiplier=policy.initial_s, max=policy.max_s, jitter=policy.jitter_s
            ),
            retry=retry_if_exception_type(SourceUnavailable),
            before_sleep=self._log_retry(source.channel),
            reraise=True,
        )
        try:
            page: Page = await retrying(source.fetch_page, as_of, chunk.date_from, chunk.date_to, cursor)
        except SourceUnavailable as exc:
            attempts = retrying.statistics.get("attempt_number", policy.attempts)
            raise SourceUnavailable(f"gave up after {attempts} attempts: {exc}") from exc
        except SourceRejected as exc:
            raise SourceRejected(f"source rejected the request: {exc}") from exc
        return page

    @staticmethod
    def _log_retry(channel: Channel) -> Callable[[RetryCallState], None]:
        def before_sleep(state: RetryCallState) -> None:
            metrics.SOURCE_RETRIES.labels(channel.value).inc()
            wait = state.next_action.sleep if state.next_action else 0.0
            error = state.outcome.exception() if state.outcome else None
            logger.info(
                "%s source failed (attempt %d), retrying in %.2fs: %s",
                channel.value,
                state.attempt_number,
                wait,
                error,
            )

        return before_sleep

    async def _event(
        self,
        request: SyncRequested,
        channel: Channel,
        event_type: SyncEventType,
        attempt: str | None,
        received: Received | None = None,
        *,
        count: int | None = None,
        rows: int | None = None,
        date_from: dt.date | None = None,
        date_to: dt.date | None = None,
        through: dt.date | None = None,
        error: str | None = None,
    ) -> None:
        # A chunk's progress is its own event (one per chunk); started, completed and failed once per
        # attempt; a skip or an expiry once per request record that caused it (a redelivery of that record
        # is the same event, another copy of the request another one).
        parts: tuple[str, ...] = () if through is None else (through.isoformat(),)
        if event_type in (SyncEventType.FETCH_SKIPPED, SyncEventType.FETCH_EXPIRED):
            parts = (received.position if received else str(request.event_id),)
        event = SyncEvent(
            event_id=sync_event_id(request.sync_id, channel, event_type, attempt, *parts),
            sync_id=request.sync_id,
            channel=channel,
            type=event_type,
            attempt=attempt,
            occurred_at=self._clock(),
            count=count,
            rows=rows,
            date_from=date_from,
            date_to=date_to,
            through=through,
            error=error[:4000] if error else None,
        )
        await self._sink.publish_event(event)
        metrics.MESSAGES_PUBLISHED.labels(channel.value, SYNC_EVENTS).inc()


async def _delivered(pending: tuple[Delivery, int, int]) -> tuple[int, int]:
    """(messages, daily rows) of a page handed to the sink, once Kafka acknowledged them."""
    delivery, count, rows = pending
    await delivery
    return count, rows


def _discard(delivery: asyncio.Future[Any]) -> None:
    """Forget a future the fetch no longer waits for, without an 'exception never retrieved' warning."""
    if delivery.done():
        if not delivery.cancelled():
            delivery.exception()
    else:
        delivery.add_done_callback(lambda done: None if done.cancelled() else done.exception())
