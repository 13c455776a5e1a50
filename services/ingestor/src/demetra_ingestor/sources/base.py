"""The interface a platform client implements: async, paged, one channel per source.

A real Facebook, Instagram, Google Ads or TikTok client replaces the mock by implementing ``CampaignSource``;
nothing else in the ingestor changes. Errors are split into the ones worth retrying (the platform is down,
rate limits, timeouts) and the ones that are not (bad credentials, a revoked account).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from demetra_common.contracts import Campaign, Channel


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a platform's campaign report."""

    campaigns: Sequence[Campaign]
    reported_at: dt.datetime
    """The moment the platform's figures describe; becomes ``fetched_at`` of every campaign.fetched."""
    next_cursor: str | None
    """Opaque cursor of the next page; ``None`` on the last page."""


class SourceError(Exception):
    """The source could not deliver a page."""


class SourceUnavailable(SourceError):
    """A transient failure (outage, timeout, rate limit): the same request may succeed later."""


class SourceRejected(SourceError):
    """A permanent failure (credentials, permissions): retrying cannot help."""


class CampaignSource(Protocol):
    """One channel's campaign report, read page by page."""

    @property
    def channel(self) -> Channel: ...

    async def fetch_page(self, as_of: dt.datetime, cursor: str | None) -> Page:
        """The page at ``cursor`` (``None``: the first) of the campaigns as they stood at ``as_of``.

        Raises ``SourceUnavailable`` for failures worth retrying, ``SourceRejected`` for the others.
        """
        ...
