"""Request and response models of /api/metrics/summary."""

from __future__ import annotations

import datetime as dt

from pydantic import AwareDatetime, BaseModel, Field

from demetra_common.contracts import Channel
from demetra_query_api.schemas import ChannelsAndDates


class Metrics(BaseModel):
    """Totals and KPIs of a set of campaigns. A KPI is null when its denominator is zero."""

    campaigns: int = Field(description="Number of campaigns.")
    impressions: int
    clicks: int
    engagement: int
    cost: float = Field(description="Total spend.")
    conversions: float = Field(description="Sum of conversion_rate x clicks: estimated conversions.")
    ctr: float | None = Field(description="Click-through rate: clicks / impressions.")
    cpc: float | None = Field(description="Cost per click: cost / clicks.")
    cpm: float | None = Field(description="Cost per thousand impressions: 1000 x cost / impressions.")
    conversion_rate: float | None = Field(
        description="Click-weighted: conversions / clicks (the rate of the campaigns taken together)."
    )
    roi: float | None = Field(
        description="Cost-weighted: sum(roi x cost) / cost, i.e. total (revenue - cost) / total cost."
    )


class DayMetrics(Metrics):
    date: dt.date


class ChannelMetrics(Metrics):
    channel: Channel
    as_of: AwareDatetime | None = Field(
        description="Freshness: the newest fetched_at of this channel's data (all dates); null if none."
    )
    days: list[DayMetrics] | None = Field(
        default=None, description="Per reporting date, oldest first; only with per_day=true."
    )


class MetricsSummary(BaseModel):
    """Per-channel totals and KPIs over a date range (inclusive; open ends mean no bound)."""

    date_from: dt.date | None
    date_to: dt.date | None
    computed_at: AwareDatetime | None = Field(
        description="When the underlying aggregate was last refreshed (it lags campaigns by a few seconds)."
    )
    channels: list[ChannelMetrics] = Field(description="Every channel asked for (all four by default).")
    totals: Metrics = Field(description="All the listed channels together.")


class SummaryQuery(ChannelsAndDates):
    """Range and grouping of GET /api/metrics/summary."""

    per_day: bool = Field(default=False, description="Also break each channel down per reporting date.")
