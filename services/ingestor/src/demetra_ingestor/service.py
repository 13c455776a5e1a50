"""The ingestor's core: fetch one channel of one sync from its source and publish what it found.

For every sync that names the channel: ``fetch.started``; every campaign as a ``campaign.fetched``, page by
page, with a bounded number of pages in flight; once Kafka acknowledged all of them, ``fetch.completed``
with their exact count. A source that keeps failing (tenacity retries each page with exponential backoff and
jitter) or a fetch that overruns its deadline ends in ``fetch.failed`` with the reason instead.

Every id is derived from the sync, so a redelivered request republishes byte-identical campaigns and the
same events, which downstream recognises. Kafka errors are not handled here: they propagate, the request is
not acknowledged, and the sync runs again.

No FastStream or FastAPI here: the edges (handlers.py, publishing.py) adapt this to Kafka.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
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
    Campaign,
    CampaignFetched,
    Channel,
    SyncEvent,
    SyncEventType,
    SyncRequested,
    deterministic_event_id,
    utcnow,
)
from demetra_common.logging import sync_context
from demetra_common.topics import CAMPAIGN_FETCHED, SYNC_EVENTS
from demetra_ingestor import metrics
from demetra_ingestor.sources.base import CampaignSource, Page, SourceError, SourceRejected, SourceUnavailable

logger = logging.getLogger(__name__)

Delivery = asyncio.Future[Any]


class SyncSink(Protocol):
    """Where the ingestor's messages go (Kafka in production, a list in unit tests)."""

    async def publish_campaigns(self, messages: Sequence[CampaignFetched]) -> Delivery:
        """Hand ``messages`` to the producer; the future completes once Kafka acknowledged every one."""
        ...

    async def publish_event(self, event: SyncEvent) -> None:
        """Publish ``event`` and wait for Kafka's acknowledgement."""
        ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a source page request is retried: ``attempts`` in all, exponential backoff with jitter."""

    attempts: int = 5
    initial_s: float = 0.5
    max_s: float = 15.0
    jitter_s: float = 0.5


@dataclass(frozen=True, slots=True)
class FetchResult:
    sync_id: str
    channel: Channel
    count: int
    """campaign.fetched messages published (and acknowledged) for this channel of this sync."""
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None


def sync_event_id(sync_id: str, channel: Channel, event_type: SyncEventType) -> uuid.UUID:
    return deterministic_event_id(sync_id, channel.value, event_type.value)


def campaign_fetched(request: SyncRequested, reported_at: dt.datetime, campaign: Campaign) -> CampaignFetched:
    """The message for one fetched campaign: a pure function of the sync and the source's data."""
    return CampaignFetched(
        event_id=deterministic_event_id(request.sync_id, campaign.channel.value, campaign.campaign_id),
        sync_id=request.sync_id,
        channel=campaign.channel,
        fetched_at=reported_at,
        campaign=campaign,
    )


class Ingestor:
    """Runs the fetch of one channel of one sync, for the channels it has a source for."""

    def __init__(
        self,
        sources: Mapping[Channel, CampaignSource],
        sink: SyncSink,
        *,
        retry: RetryPolicy | None = None,
        fetch_timeout_s: float = 900.0,
        pages_in_flight: int = 8,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        for channel, source in sources.items():
            if source.channel is not channel:
                raise ValueError(f"source for {channel.value} serves {source.channel.value}")
        self._sources = dict(sources)
        self._sink = sink
        self._retry = retry or RetryPolicy()
        self._fetch_timeout_s = fetch_timeout_s
        self._pages_in_flight = pages_in_flight
        self._clock = clock

    async def ingest(self, request: SyncRequested, channel: Channel) -> FetchResult | None:
        """Fetch and publish ``channel`` of ``request``; ``None`` when the request does not name it."""
        if channel not in request.channels:
            return None
        source = self._sources[channel]
        with sync_context(request.sync_id):
            await self._event(request, channel, SyncEventType.FETCH_STARTED)
            began = time.monotonic()
            deadline = asyncio.timeout(self._fetch_timeout_s)
            error: str | None = None
            count = 0
            try:
                async with deadline:
                    count = await self._fetch_and_publish(source, request)
            except SourceError as exc:
                error = str(exc)
            except TimeoutError:
                if not deadline.expired():
                    raise
                error = f"fetch did not finish within {self._fetch_timeout_s:g}s"
            elapsed = time.monotonic() - began

            if error is None:
                await self._event(request, channel, SyncEventType.FETCH_COMPLETED, count=count)
                metrics.FETCH_DURATION.labels(channel.value, "completed").observe(elapsed)
                logger.info("fetched %d %s campaigns in %.2fs", count, channel.value, elapsed)
                return FetchResult(request.sync_id, channel, count)

            await self._event(request, channel, SyncEventType.FETCH_FAILED, error=error)
            metrics.FETCH_DURATION.labels(channel.value, "failed").observe(elapsed)
            metrics.FETCH_FAILURES.labels(channel.value).inc()
            logger.warning("fetch of %s failed after %.2fs: %s", channel.value, elapsed, error)
            return FetchResult(request.sync_id, channel, count, error)

    async def _fetch_and_publish(self, source: CampaignSource, request: SyncRequested) -> int:
        as_of = request.as_of()
        in_flight: deque[tuple[Delivery, int]] = deque()
        published = 0
        # The next page is requested as soon as its cursor is known, so a real platform's latency overlaps
        # with publishing the page at hand.
        ahead: asyncio.Task[Page] | None = asyncio.ensure_future(self._page(source, as_of, None))
        try:
            while ahead is not None:
                page = await ahead
                ahead = None
                if page.next_cursor is not None:
                    ahead = asyncio.ensure_future(self._page(source, as_of, page.next_cursor))
                messages = self._messages(request, source.channel, page)
                if messages:
                    in_flight.append((await self._sink.publish_campaigns(messages), len(messages)))
                while len(in_flight) > self._pages_in_flight:
                    published += await self._acknowledged(source.channel, *in_flight.popleft())
            while in_flight:
                published += await self._acknowledged(source.channel, *in_flight.popleft())
        finally:
            if ahead is not None:
                ahead.cancel()
                _discard(ahead)
            for delivery, _ in in_flight:
                _discard(delivery)
        return published

    async def _acknowledged(self, channel: Channel, delivery: Delivery, size: int) -> int:
        await delivery
        metrics.MESSAGES_PUBLISHED.labels(channel.value, CAMPAIGN_FETCHED).inc(size)
        return size

    @staticmethod
    def _messages(request: SyncRequested, channel: Channel, page: Page) -> list[CampaignFetched]:
        messages = []
        for campaign in page.campaigns:
            try:
                message = campaign_fetched(request, page.reported_at, campaign)
            except ValidationError as exc:
                raise SourceRejected(
                    f"source returned an invalid campaign {campaign.campaign_id}: {exc}"
                ) from exc
            if message.channel is not channel:
                raise SourceRejected(f"{channel.value} source returned a {message.channel.value} campaign")
            messages.append(message)
        return messages

    async def _page(self, source: CampaignSource, as_of: dt.datetime, cursor: str | None) -> Page:
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
            page: Page = await retrying(source.fetch_page, as_of, cursor)
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
        *,
        count: int | None = None,
        error: str | None = None,
    ) -> None:
        event = SyncEvent(
            event_id=sync_event_id(request.sync_id, channel, event_type),
            sync_id=request.sync_id,
            channel=channel,
            type=event_type,
            occurred_at=self._clock(),
            count=count,
            error=error[:4000] if error else None,
        )
        await self._sink.publish_event(event)
        metrics.MESSAGES_PUBLISHED.labels(channel.value, SYNC_EVENTS).inc()


def _discard(delivery: asyncio.Future[Any]) -> None:
    """Forget a future the fetch no longer waits for, without an 'exception never retrieved' warning."""
    if delivery.done():
        if not delivery.cancelled():
            delivery.exception()
    else:
        delivery.add_done_callback(lambda done: None if done.cancelled() else done.exception())
