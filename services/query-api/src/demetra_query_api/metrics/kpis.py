"""Advertising KPIs over a set of campaigns, computed from additive totals so any grouping sums correctly.

Each campaign row holds cumulative metrics plus two rates, ``conversion_rate`` (conversions / clicks) and
``roi`` ((revenue - cost) / cost). Rates do not add up, so the aggregate keeps their additive numerators:

- conversions = sum(conversion_rate x clicks)   -> conversion rate = conversions / clicks   (click-weighted)
- net return  = sum(roi x cost)                  -> ROI = net return / cost                   (cost-weighted)

which equal the rate of the combined campaigns: total conversions over total clicks, and total
(revenue - cost) over total cost. A plain mean of per-campaign ROI would let a 1-dollar test campaign weigh as
much as a 100,000-dollar one. The other KPIs: CTR = clicks / impressions, CPC = cost / clicks,
CPM = 1000 x cost / impressions. A KPI whose denominator is zero is ``None`` (not 0, not infinity).
"""

from __future__ import annotations

from dataclasses import dataclass


def _ratio(numerator: float, denominator: float, scale: float = 1.0) -> float | None:
    return scale * numerator / denominator if denominator else None


@dataclass(frozen=True, slots=True)
class Totals:
    campaigns: int = 0
    impressions: int = 0
    clicks: int = 0
    engagement: int = 0
    cost: float = 0.0
    conversions: float = 0.0
    net_return: float = 0.0

    def __add__(self, other: Totals) -> Totals:
        return Totals(
            campaigns=self.campaigns + other.campaigns,
            impressions=self.impressions + other.impressions,
            clicks=self.clicks + other.clicks,
            engagement=self.engagement + other.engagement,
            cost=self.cost + other.cost,
            conversions=self.conversions + other.conversions,
            net_return=self.net_return + other.net_return,
        )

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
    def conversion_rate(self) -> float | None:
        return _ratio(self.conversions, self.clicks)

    @property
    def roi(self) -> float | None:
        return _ratio(self.net_return, self.cost)

    def as_dict(self) -> dict[str, int | float | None]:
        return {
            "campaigns": self.campaigns,
            "impressions": self.impressions,
            "clicks": self.clicks,
            "engagement": self.engagement,
            "cost": round(self.cost, 2),
            "conversions": self.conversions,
            "ctr": self.ctr,
            "cpc": self.cpc,
            "cpm": self.cpm,
            "conversion_rate": self.conversion_rate,
            "roi": self.roi,
        }
