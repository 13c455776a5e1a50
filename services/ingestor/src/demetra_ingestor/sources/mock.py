"""A mock platform API over ``demetra_mock``: deterministic pages, with optional injected faults."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import math
import random
from collections.abc import Sequence

from demetra_common.contracts import Channel
from demetra_ingestor.sources.base import Page, SourceUnavailable
from demetra_mock import CampaignDays, campaigns_running, mock_campaign_days, mock_slot
from demetra_mock.anomalies import ID_PREFIXES, AnomalyLabel, anomaly_kinds, apply_anomalies, inject_anomalies


def parse_anomaly(spec: str) -> AnomalyLabel:
    """``kind:campaign_id:start:days``, e.g. ``tracking_break:tt_00000042:2026-11-20:3``: an anomaly the
    mock source applies to that campaign's days (for tests; the labels never reach the detectors)."""
    try:
        kind, campaign_id, start_text, days_text = spec.strip().split(":")
        prefix, index_text = campaign_id.rsplit("_", 1)
        channel = next(channel for channel, known in ID_PREFIXES.items() if known == prefix)
        start, days, index = dt.date.fromisoformat(start_text), int(days_text), int(index_text)
    except (ValueError, StopIteration) as exc:
        raise ValueError(f"{spec!r} is not kind:campaign_id:YYYY-MM-DD:days ({exc})") from exc
    if kind not in anomaly_kinds(channel):
        raise ValueError(f"{spec!r}: {kind} is not one of {', '.join(anomaly_kinds(channel))}")
    if days < 1:
        raise ValueError(f"{spec!r}: days must be at least 1")
    size = math.inf if kind == "tracking_break" else 3.0
    return AnomalyLabel(channel, index, kind, start, start + dt.timedelta(days=days - 1), size)


class MockSource:
    """The daily report of ``channel``'s mock catalogue (``size`` campaigns running at any moment): the
    campaigns that ran in the requested date range, ``page_size`` per page; the cursor is the offset.

    Pages are a pure function of (channel, hour slot of ``as_of``, size, date range), so a sync fetched twice
    yields the same campaigns with the same days. ``reported_at`` is the hour slot, as a platform reporting
    hourly would say.

    Faults for tests and demos: ``latency_s`` before every page, a transient failure with probability
    ``error_rate`` per page, and ``always_fail`` for an outage that never ends.

    Anomalies for tests and benchmarks (``demetra_mock.anomalies``): each campaign's drawn anomalies when
    ``anomaly_rate`` > 0, and the explicit ``anomalies`` (labels of this channel's campaigns). Both are
    deterministic, so re-fetching a day yields the same anomalous numbers.
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
        anomaly_rate: float = 0.0,
        anomalies: Sequence[AnomalyLabel] = (),
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
        self.anomaly_rate = anomaly_rate
        self._anomalies: dict[str, list[AnomalyLabel]] = {}
        for label in anomalies:
            if label.channel is channel:
                self._anomalies.setdefault(label.campaign_id, []).append(label)

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
        if self.anomaly_rate > 0 or self._anomalies:
            campaigns = [self._with_anomalies(campaign) for campaign in campaigns]
        following = offset + len(campaigns)
        total = len(campaigns_running(as_of, self.size, date_from, date_to))
        return Page(
            campaigns=campaigns,
            reported_at=mock_slot(as_of),
            next_cursor=str(following) if following < total else None,
        )

    def _with_anomalies(self, campaign: CampaignDays) -> CampaignDays:
        days = campaign.days
        if self.anomaly_rate > 0:
            index = int(campaign.campaign_id.rsplit("_", 1)[1])
            days = inject_anomalies(self._channel, index, days, self.anomaly_rate)
        labels = self._anomalies.get(campaign.campaign_id)
        if labels:
            days = apply_anomalies(self._channel, days, labels)
        return campaign if days is campaign.days else dataclasses.replace(campaign, days=days)
