"""A mock platform API over ``demetra_mock``: deterministic pages, with optional injected faults."""

from __future__ import annotations

import asyncio
import datetime as dt
import random

from demetra_common.contracts import Channel
from demetra_ingestor.sources.base import Page, SourceUnavailable
from demetra_mock import campaigns_running, mock_campaign_days, mock_slot


class MockSource:
    """The daily report of ``channel``'s mock catalogue (``size`` campaigns running at any moment): the
    campaigns that ran in the requested date range, ``page_size`` per page; the cursor is the offset.

    Pages are a pure function of (channel, hour slot of ``as_of``, size, date range), so a sync fetched twice
    yields the same campaigns with the same days. ``reported_at`` is the hour slot, as a platform reporting
    hourly would say.

    Faults for tests and demos: ``latency_s`` before every page, a transient failure with probability
    ``error_rate`` per page, and ``always_fail`` for an outage that never ends.
    """

    def __init__(
        self,
        channel: Channel,
        *,
        size: int,
        page_size: int = 500,
        latency_s: float = 0.0,
        error_rate: float = 0.0,
        always_fail: bool = False,
        rng: random.Random | None = None,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self._channel = channel
        self.size = size
        self.page_size = page_size
        self.latency_s = latency_s
        self.error_rate = error_rate
        self.always_fail = always_fail
        self._rng = rng or random.Random()

    @property
    def channel(self) -> Channel:
        return self._channel

    async def fetch_page(
        self, as_of: dt.datetime, date_from: dt.date, date_to: dt.date, cursor: str | None
    ) -> Page:
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        if self.always_fail:
            raise SourceUnavailable(f"{self._channel.value} API unavailable (mock outage)")
        if self.error_rate and self._rng.random() < self.error_rate:
            raise SourceUnavailable(f"{self._channel.value} API answered 503 (mock transient error)")
        offset = int(cursor) if cursor else 0
        if offset < 0:
            raise ValueError(f"invalid cursor {cursor!r}")
        campaigns = list(
            mock_campaign_days(
                self._channel, as_of, self.size, date_from, date_to, offset=offset, limit=self.page_size
            )
        )
        following = offset + len(campaigns)
        total = len(campaigns_running(as_of, self.size, date_from, date_to))
        return Page(
            campaigns=campaigns,
            reported_at=mock_slot(as_of),
            next_cursor=str(following) if following < total else None,
        )
