"""The interface a platform client implements: async, paged, one channel per source, day-ranged.

A real Facebook (insights with a daily time increment), Google Ads (segmented by date) or TikTok
(stat_time_day) client replaces the mock by implementing ``CampaignSource``; nothing else in the ingestor
changes. Errors are split into the ones worth retrying (the platform is down, rate limits, timeouts) and the
ones that are not (bad credentials, a revoked account).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from demetra_common.contracts import CampaignDay, Channel


class CampaignReport(Protocol):
    """One campaign's days in the requested range (``demetra_mock.CampaignDays`` is one)."""

    @property
    def campaign_id(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def days(self) -> Sequence[CampaignDay]:
        """The days in the range on which the campaign ran, oldest first, each once."""
        ...


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a platform's daily campaign report over a date range."""

    campaigns: Sequence[CampaignReport]
    reported_at: dt.datetime
    """The moment the platform's figures describe; becomes ``fetched_at`` of every campaign.fetched."""
    next_cursor: str | None
    """Opaque cursor of the next page; ``None`` on the last page."""


class SourceError(Exception):
    """The source could not deliver a page."""


class SourceUnavailable(SourceError):
    """A transient failure (outage, timeout, rate limit): the same request may succeed later."""


class SourceRejected(SourceError):
    """A permanent failure (credentials, permissions, an invalid report): retrying cannot help."""


class CampaignSource(Protocol):
    """One channel's daily campaign report, read page by page."""

    @property
    def channel(self) -> Channel: ...

    async def fetch_page(
        self, as_of: dt.datetime, date_from: dt.date, date_to: dt.date, cursor: str | None
    ) -> Page:
        """The page at ``cursor`` (``None``: the first) of the campaigns that ran on some day of
        ``date_from..date_to`` (inclusive), with those days, as the platform reported them at ``as_of``.

        Raises ``SourceUnavailable`` for failures worth retrying, ``SourceRejected`` for the others.
        """
        ...
