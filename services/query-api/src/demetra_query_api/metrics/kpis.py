"""Advertising KPIs over any set of campaign days, computed from additive totals so any grouping sums
correctly: the one place the query API does KPI arithmetic (summary, timeseries, campaign history).

Daily rows carry additive metrics only (impressions, clicks, engagement, cost, conversions, revenue). Rates
do not add up, so a group keeps the sums and derives each rate from them:

- CTR = clicks / impressions          - CPC = cost / clicks            - CPM = 1000 x cost / impressions
- CPA = cost / conversions            - conversion rate = conversions / clicks
- ROAS = revenue / cost               - ROI = (revenue - cost) / cost

which equal the rate of the combined days and campaigns (total conversions over total clicks, ...). A mean
of per-day or per-campaign rates would let a 1-dollar test campaign weigh as much as a 100,000-dollar one.
A KPI whose denominator is zero is ``None`` (not 0, not infinity).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from demetra_common.contracts import DailyMetric


class Metric(StrEnum):
    """What a timeseries or a history can report: the additive metrics, then the rates derived from them."""

    IMPRESSIONS = "impressions"
    CLICKS = "clicks"
    ENGAGEMENT = "engagement"
    COST = "cost"
    CONVERSIONS = "conversions"
    REVENUE = "revenue"
    CTR = "ctr"
    CPC = "cpc"
    CPM = "cpm"
    CPA = "cpa"
    CONVERSION_RATE = "conversion_rate"
    ROAS = "roas"


ALL_METRICS: tuple[Metric, ...] = tuple(Metric)


# Every additive metric, in Metric's order: the sums a group keeps. They are the daily row's metrics
# (DailyMetric), which Metric names first, then the rates (a unit test checks it).
ADDITIVE: tuple[Metric, ...] = tuple(Metric(metric.value) for metric in DailyMetric)
# The additive metrics counted in whole numbers (integers; the others are doubles).
COUNTS: frozenset[Metric] = frozenset({Metric.IMPRESSIONS, Metric.CLICKS, Metric.ENGAGEMENT})
# Metrics reported rounded to this many decimals (cost to cents, as it is stored).
ROUNDED: dict[Metric, int] = {Metric.COST: 2}


@dataclass(frozen=True, slots=True)
class Rate:
    """``scale x numerator / denominator`` of two sums (attributes of Totals); None when the denominator is
    zero. The one declaration of a KPI: Totals computes it in Python (``of``), the repositories turn the same
    declaration into SQL (metrics.repository.metric_columns), with the same operations in the same order, so
    both give the same double."""

    numerator: str
    denominator: str
    scale: float = 1.0

    def of(self, numerator: float, denominator: float) -> float | None:
        return self.scale * numerator / denominator if denominator else None


# The KPIs, by name (the rates of Metric, and ROI, which only the summary reports).
RATES: dict[str, Rate] = {
    Metric.CTR.value: Rate("clicks", "impressions"),
    Metric.CPC.value: Rate("cost", "clicks"),
    Metric.CPM.value: Rate("cost", "impressions", 1000.0),
    Metric.CPA.value: Rate("cost", "conversions"),
    Metric.CONVERSION_RATE.value: Rate("conversions", "clicks"),
    Metric.ROAS.value: Rate("revenue", "cost"),
    "roi": Rate("net_return", "cost"),
}


@dataclass(frozen=True, slots=True)
class Totals:
    """Sums of daily metrics over a group of campaign days, and the KPIs derived from those sums.

    ``campaigns`` counts campaign days (a campaign that ran on 3 days of the group counts 3): on one day it
    is the number of campaigns that ran.
    """

    campaigns: int = 0
    impressions: int = 0
    clicks: int = 0
    engagement: int = 0
    cost: float = 0.0
    conversions: float = 0.0
    revenue: float = 0.0

    def __add__(self, other: Totals) -> Totals:
        return Totals(
            campaigns=self.campaigns + other.campaigns,
            impressions=self.impressions + other.impressions,
            clicks=self.clicks + other.clicks,
            engagement=self.engagement + other.engagement,
            cost=self.cost + other.cost,
            conversions=self.conversions + other.conversions,
            revenue=self.revenue + other.revenue,
        )

    @property
    def net_return(self) -> float:
        return self.revenue - self.cost

    @property
    def ctr(self) -> float | None:
        return self.rate("ctr")

    @property
    def cpc(self) -> float | None:
        return self.rate("cpc")

    @property
    def cpm(self) -> float | None:
        return self.rate("cpm")

    @property
    def cpa(self) -> float | None:
        return self.rate("cpa")

    @property
    def conversion_rate(self) -> float | None:
        return self.rate("conversion_rate")

    @property
    def roas(self) -> float | None:
        return self.rate("roas")

    @property
    def roi(self) -> float | None:
        return self.rate("roi")

    def rate(self, name: str) -> float | None:
        """The KPI ``name`` of RATES over these sums."""
        rate = RATES[name]
        return rate.of(getattr(self, rate.numerator), getattr(self, rate.denominator))

    def value(self, metric: Metric) -> int | float | None:
        if metric in RATES:
            return self.rate(metric.value)
        value: int | float = getattr(self, metric.value)
        return round(value, ROUNDED[metric]) if metric in ROUNDED else value

    def values(self, metrics: Iterable[Metric]) -> dict[str, int | float | None]:
        """``metrics`` by name (cost rounded to cents, as it is stored)."""
        return {metric.value: self.value(metric) for metric in metrics}

    def as_dict(self) -> dict[str, int | float | None]:
        """The summary's figures: every metric, plus campaigns and ROI."""
        return {"campaigns": self.campaigns, **self.values(ALL_METRICS), "roi": self.roi}
