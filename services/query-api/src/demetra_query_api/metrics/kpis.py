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
# The metrics of the summary's response (which predates the daily history: no revenue, cpa, roas there).
SUMMARY_METRICS: tuple[Metric, ...] = (
    Metric.IMPRESSIONS,
    Metric.CLICKS,
    Metric.ENGAGEMENT,
    Metric.COST,
    Metric.CONVERSIONS,
    Metric.CTR,
    Metric.CPC,
    Metric.CPM,
    Metric.CONVERSION_RATE,
)


def _ratio(numerator: float, denominator: float, scale: float = 1.0) -> float | None:
    return scale * numerator / denominator if denominator else None


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
        return _ratio(self.clicks, self.impressions)

    @property
    def cpc(self) -> float | None:
        return _ratio(self.cost, self.clicks)

    @property
    def cpm(self) -> float | None:
        return _ratio(self.cost, self.impressions, 1000.0)

    @property
    def cpa(self) -> float | None:
        return _ratio(self.cost, self.conversions)

    @property
    def conversion_rate(self) -> float | None:
        return _ratio(self.conversions, self.clicks)

    @property
    def roas(self) -> float | None:
        return _ratio(self.revenue, self.cost)

    @property
    def roi(self) -> float | None:
        return _ratio(self.net_return, self.cost)

    def values(self, metrics: Iterable[Metric]) -> dict[str, int | float | None]:
        """``metrics`` by name (cost rounded to cents, as it is stored)."""
        return {
            metric.value: round(self.cost, 2) if metric is Metric.COST else getattr(self, metric.value)
            for metric in metrics
        }

    def as_dict(self) -> dict[str, int | float | None]:
        """The summary's figures."""
        return {"campaigns": self.campaigns, **self.values(SUMMARY_METRICS), "roi": self.roi}
