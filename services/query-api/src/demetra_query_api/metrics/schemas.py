"""Request and response models of /api/metrics/summary and /api/metrics/timeseries."""

from __future__ import annotations

import datetime as dt

from pydantic import AwareDatetime, BaseModel, Field

from demetra_common.contracts import Channel
from demetra_query_api.metrics.kpis import Metric
from demetra_query_api.metrics.timeseries import Granularity
from demetra_query_api.schemas import ChannelsAndDates, MetricValues, ReportRange


class Metrics(BaseModel):
    """Totals and KPIs of a set of campaign days. A KPI is null when its denominator is zero."""

    campaigns: int = Field(
        description="Campaign days: on one day the number of campaigns that ran; over several days the sum."
    )
    impressions: int
    clicks: int
    engagement: int
    cost: float = Field(description="Total spend.")
    conversions: float = Field(description="Conversions attributed to the days so far.")
    revenue: float = Field(description="Conversion value attributed to the days so far.")
    ctr: float | None = Field(description="Click-through rate: clicks / impressions.")
    cpc: float | None = Field(description="Cost per click: cost / clicks.")
    cpm: float | None = Field(description="Cost per thousand impressions: 1000 x cost / impressions.")
    cpa: float | None = Field(description="Cost per acquisition: cost / conversions.")
    conversion_rate: float | None = Field(
        description="conversions / clicks (the rate of the campaign days taken together)."
    )
    roas: float | None = Field(description="Return on ad spend: revenue / cost.")
    roi: float | None = Field(description="(revenue - cost) / cost over the campaign days taken together.")


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


# ----------------------------------------------------------------------------------------- timeseries

DEFAULT_METRICS: tuple[Metric, ...] = (
    Metric.IMPRESSIONS,
    Metric.CLICKS,
    Metric.COST,
    Metric.CONVERSIONS,
    Metric.REVENUE,
    Metric.CTR,
    Metric.CPC,
    Metric.CPA,
    Metric.ROAS,
)


class TimeseriesQuery(ReportRange):
    """Channels, metrics, periods and range of GET /api/metrics/timeseries."""

    channel: list[Channel] = Field(
        default_factory=list,
        description="Only these channels, one series each; repeat for several. All four when omitted.",
    )
    metrics: list[Metric] = Field(
        default_factory=lambda: list(DEFAULT_METRICS),
        max_length=2 * len(Metric),
        description="Metrics of each point; repeat for several (metrics=clicks&metrics=ctr). Default: "
        + ", ".join(DEFAULT_METRICS)
        + ".",
    )
    granularity: Granularity = Field(
        default=Granularity.DAY,
        description="One point per day, ISO week (Monday to Sunday) or calendar month.",
    )
    total: bool = Field(default=False, description="Also the series of the listed channels together.")


class TimeseriesPoint(MetricValues):
    """One period of a series: the metrics asked for, over the period's days within the range."""

    period: dt.date = Field(description="The period's first day: the day, its ISO week's Monday, the 1st.")
    date_from: dt.date = Field(description="The first day counted (the first period may start before it).")
    date_to: dt.date = Field(description="The last day counted (the last period may end after it).")


class Series(BaseModel):
    points: list[TimeseriesPoint] = Field(description="One per period of the range, oldest first.")


class ChannelSeries(Series):
    channel: Channel


class Timeseries(BaseModel):
    """Metrics per period, one series per channel, from the daily history (reporting day, UTC)."""

    date_from: dt.date
    date_to: dt.date
    granularity: Granularity
    metrics: list[Metric]
    series: list[ChannelSeries] = Field(description="Every channel asked for, in the order asked.")
    total: Series | None = Field(description="The channels together per period; only with total=true.")
