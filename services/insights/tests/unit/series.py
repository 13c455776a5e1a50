"""Hand-built daily series for the detector tests: steady campaigns with weekday seasonality and noise."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from demetra_common.contracts import Channel
from demetra_insights.core import ChannelPanel
from demetra_insights.core.panel import Matrix

FIRST_DAY = dt.date(2026, 9, 7)  # a Monday
WEEKEND_LIFT = np.array([0.0, 0.0, 0.0, 0.0, 0.1, 0.35, 0.3])  # log, Monday first: a strong weekly cycle


@dataclass
class Series:
    """Mutable metrics (campaigns x days) from which a panel is cut; edit, then call ``panel()``."""

    channel: Channel
    impressions: Matrix
    clicks: Matrix
    cost: Matrix
    conversions: Matrix
    revenue: Matrix

    @property
    def days(self) -> int:
        return int(self.cost.shape[1])

    def day(self, column: int) -> dt.date:
        return FIRST_DAY + dt.timedelta(days=column)

    def panel(self, maturity: Matrix | None = None) -> ChannelPanel:
        """The panel a sync at the start of the day after the last sees (conversions x ``maturity``)."""
        factor = np.ones(self.days) if maturity is None else maturity
        return ChannelPanel(
            self.channel,
            tuple(f"c{row:03d}" for row in range(self.cost.shape[0])),
            FIRST_DAY,
            self.day(self.days),
            self.impressions.copy(),
            self.clicks.copy(),
            self.cost.copy(),
            self.conversions * factor,
            self.revenue * factor,
        )

    def scale(self, row: int, columns: slice | int, **factors: float) -> None:
        for name, factor in factors.items():
            getattr(self, name)[row, columns] *= factor


def steady(
    channel: Channel = Channel.FACEBOOK,
    *,
    campaigns: int = 60,
    days: int = 45,
    spend: float = 400.0,
    seed: int = 7,
    spend_noise: float = 0.1,
) -> Series:
    rng = np.random.default_rng(seed)
    weekday = (np.arange(days) + FIRST_DAY.weekday()) % 7

    def noise(sigma: float) -> Matrix:
        return np.exp(rng.normal(0.0, sigma, (campaigns, days)))

    level = rng.lognormal(0.0, 0.3, (campaigns, 1))
    cost = spend * level * np.exp(WEEKEND_LIFT[weekday])[None, :] * noise(spend_noise)
    impressions = np.round(cost / 8.0 * 1000 * noise(0.08))
    clicks = np.round(impressions * 0.01 * noise(0.08))
    conversions = clicks * 0.08 * noise(0.1)
    revenue = conversions * 60.0 * noise(0.08)
    return Series(channel, impressions, clicks, np.round(cost, 2), conversions, revenue)
