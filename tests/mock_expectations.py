"""What a sync of the mock source must produce, computed from the mock's public API alone (the oracle of
the cross-service tests, independent of the ingestor and the loader).

A sync without a date range fetches, per channel, the as-of day and the ``lookback_days`` before it (the
tests pin SYNC_LOOKBACK_DAYS); it publishes one campaign.fetched message per campaign that ran in that
window (``campaigns_running``) carrying its days (``mock_campaign_days``), and the loader derives each
campaign's ``campaigns`` row from those days.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pytest

from demetra_common.contracts import Channel
from demetra_mock import CampaignDays, campaigns_running, mock_campaign_days, mock_slot

RATE_TOLERANCE = 1e-9  # rates: float sums in another order (PostgreSQL's) differ in the last bits
ROI_RANGE = (-1.0, 1000.0)


def sync_window(as_of: dt.datetime, lookback_days: int) -> tuple[dt.date, dt.date]:
    """The days a sync at ``as_of`` fetches: the as-of day and the ``lookback_days`` before it."""
    day = as_of.astimezone(dt.UTC).date()
    return day - dt.timedelta(days=lookback_days), day


def expected_messages(as_of: dt.datetime, size: int, lookback_days: int) -> int:
    """campaign.fetched messages of a channel (one per campaign that ran in the window), without generating
    a day: every channel runs the same launch calendar."""
    return len(campaigns_running(as_of, size, *sync_window(as_of, lookback_days)))


def campaign_row(channel: Channel, campaign: CampaignDays) -> tuple[Any, ...]:
    """The ``campaigns`` row the loader derives from ``campaign``'s days: totals are sums, date the latest
    day, conversion_rate = conversions / clicks (at most 1), roi = (revenue - cost) / cost within -1..1000;
    both 0 without clicks or cost. Columns as ``campaigns_table`` reads them; rates as ``pytest.approx``."""
    days = campaign.days
    clicks = sum(day.clicks for day in days)
    cost = round(sum(day.cost for day in days), 2)
    conversions = sum(day.conversions for day in days)
    revenue = sum(day.revenue for day in days)
    conversion_rate = min(1.0, conversions / clicks) if clicks else 0.0
    roi = min(ROI_RANGE[1], max(ROI_RANGE[0], (revenue - cost) / cost)) if cost > 0 else 0.0
    return (
        campaign.campaign_id,
        channel.value,
        campaign.name,
        days[-1].date,
        sum(day.impressions for day in days),
        clicks,
        sum(day.engagement for day in days),
        cost,
        pytest.approx(conversion_rate, rel=RATE_TOLERANCE),
        pytest.approx(roi, rel=RATE_TOLERANCE),
    )


@dataclass(frozen=True, slots=True)
class ExpectedChannel:
    """One channel of a sync, as the mock says it must turn out."""

    channel: Channel
    date_from: dt.date
    date_to: dt.date
    messages: int
    rows: int
    """Daily rows (campaign x day) of those messages."""
    reported: tuple[CampaignDays, ...]
    """The campaigns of those messages with their days."""

    @property
    def campaigns(self) -> dict[str, tuple[Any, ...]]:
        """The ``campaigns`` rows derived from the window's days alone (a first sync), by campaign_id (derived
        when asked: a test of counts alone does not pay for 100,000 rows)."""
        return {campaign.campaign_id: campaign_row(self.channel, campaign) for campaign in self.reported}


def expected_channel(channel: Channel, as_of: dt.datetime, size: int, lookback_days: int) -> ExpectedChannel:
    return _expected_in_slot(channel, mock_slot(as_of), size, lookback_days)


@functools.lru_cache(maxsize=8)
def _expected_in_slot(channel: Channel, as_of: dt.datetime, size: int, lookback_days: int) -> ExpectedChannel:
    """Cached by hour slot: the mock reports the same for any moment of one, and the fault tests ask for the
    same 25,000-campaign channels of a slot in turn (generating them costs seconds each)."""
    date_from, date_to = sync_window(as_of, lookback_days)
    reported = tuple(mock_campaign_days(channel, as_of, size, date_from, date_to))
    return ExpectedChannel(
        channel=channel,
        date_from=date_from,
        date_to=date_to,
        messages=expected_messages(as_of, size, lookback_days),
        rows=sum(len(campaign.days) for campaign in reported),
        reported=reported,
    )


def expected_sync(
    channels: Iterable[Channel], as_of: dt.datetime, size: int, lookback_days: int
) -> dict[str, ExpectedChannel]:
    """Every channel of a sync at ``as_of``, by channel name (as the sync status names them)."""
    return {channel.value: expected_channel(channel, as_of, size, lookback_days) for channel in channels}


def first_sync_channel(expected: ExpectedChannel) -> tuple[Any, ...]:
    """A channel's status fields after the first sync of an empty database: every campaign inserted, every
    row loaded, nothing restated; in ``channel_outcome``'s order."""
    return (
        "completed",
        expected.date_from,
        expected.date_to,
        expected.messages,
        expected.messages,
        expected.messages,
        expected.rows,
        expected.rows,
        0,
    )


def channel_outcome(channel: dict[str, Any]) -> tuple[Any, ...]:
    """(status, date_from, date_to, fetched, loaded, inserted, rows_fetched, rows_loaded, restated) of one
    channel of a sync status."""
    return (
        channel["status"],
        dt.date.fromisoformat(channel["date_from"]),
        dt.date.fromisoformat(channel["date_to"]),
        channel["fetched"],
        channel["loaded"],
        channel["inserted"],
        channel["rows_fetched"],
        channel["rows_loaded"],
        channel["restated"],
    )


def biggest_break(
    channel: Channel, slot: dt.datetime, size: int, date_from: dt.date, days: int
) -> tuple[str, float]:
    """The campaign of ``channel`` that runs from ``date_from`` through the newest day the mock reports at
    ``slot`` and spends most on the ``days`` days before ``slot``'s date, and that spend: the one whose
    tracking break of those days puts the most money at stake. The newest day is today's, or yesterday's in
    the 00:00 slot (no hour of today has passed)."""
    as_of = slot.date()
    last_days = {as_of - dt.timedelta(days=n) for n in range(1, days + 1)}
    campaigns = [c for c in mock_campaign_days(channel, slot, size, date_from, as_of) if c.days]
    newest = max(campaign.days[-1].date for campaign in campaigns)
    spend = {
        campaign.campaign_id: sum(day.cost for day in campaign.days if day.date in last_days)
        for campaign in campaigns
        if campaign.days[0].date == date_from and campaign.days[-1].date == newest
    }
    campaign_id = max(spend, key=spend.__getitem__)
    return campaign_id, spend[campaign_id]
