"""A channel's daily history as campaigns x days matrices, the shape every detector works on."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from demetra_common.contracts import CampaignDay, Channel

Matrix = npt.NDArray[np.float64]
METRICS: tuple[str, ...] = ("impressions", "clicks", "cost", "conversions", "revenue")


@dataclass(frozen=True, eq=False)
class ChannelPanel:
    """One channel's campaigns (rows) over consecutive days (columns), as reported at ``as_of``.

    A cell is NaN where the campaign did not run that day. Conversions and revenue of day d are as mature
    as ``as_of - d`` allows (they keep growing until the channel's attribution window); the detectors
    correct for that from the data, see ``maturity.py``.
    """

    channel: Channel
    campaign_ids: tuple[str, ...]
    first_day: dt.date
    as_of: dt.date  # the sync's as-of day: day d's conversions are (as_of - d) days old
    impressions: Matrix
    clicks: Matrix
    cost: Matrix
    conversions: Matrix
    revenue: Matrix

    def __post_init__(self) -> None:
        shape = (len(self.campaign_ids), self.days)
        for name in METRICS:
            if getattr(self, name).shape != shape:
                raise ValueError(f"{name} has shape {getattr(self, name).shape}, expected {shape}")

    @property
    def days(self) -> int:
        return int(self.cost.shape[1])

    def day(self, column: int) -> dt.date:
        return self.first_day + dt.timedelta(days=column)

    def column(self, day: dt.date) -> int:
        column = (day - self.first_day).days
        if not 0 <= column < self.days:
            raise ValueError(f"{day} is outside the panel ({self.first_day} + {self.days} days)")
        return column

    def ages(self) -> npt.NDArray[np.int64]:
        """Each column's age in days at ``as_of`` (how long its conversions have had to arrive)."""
        last_age = (self.as_of - self.day(self.days - 1)).days
        return np.arange(self.days - 1, -1, -1, dtype=np.int64) + last_age

    def weekdays(self) -> npt.NDArray[np.int64]:
        return (np.arange(self.days, dtype=np.int64) + self.first_day.weekday()) % 7

    def channel_total(self) -> ChannelPanel:
        """The channel's summed series as a one-row panel (campaign id ``None`` in its insights)."""
        running = np.isfinite(self.cost)

        def total(values: Matrix) -> Matrix:
            summed = np.where(running, values, 0.0).sum(axis=0, keepdims=True)
            return np.where(running.any(axis=0, keepdims=True), summed, np.nan)

        return ChannelPanel(
            self.channel,
            ("",),
            self.first_day,
            self.as_of,
            *(total(getattr(self, name)) for name in METRICS),
        )

    @classmethod
    def from_frame(cls, channel: Channel, as_of: dt.date, frame: pd.DataFrame) -> ChannelPanel:
        """From long rows (campaign_id, date, impressions, clicks, cost, conversions, revenue), e.g. the
        ``campaign_daily`` rows of one channel; missing (campaign, day) cells become NaN."""
        frame = frame.assign(date=pd.to_datetime(frame["date"]))
        first, last = frame["date"].min(), frame["date"].max()
        columns = pd.date_range(first, last, freq="D")
        ids = sorted(frame["campaign_id"].unique())
        matrices = []
        for name in METRICS:
            wide = frame.pivot(index="campaign_id", columns="date", values=name)
            matrices.append(wide.reindex(index=ids, columns=columns).to_numpy(dtype=np.float64))
        return cls(channel, tuple(ids), first.date(), as_of, *matrices)

    @classmethod
    def from_days(
        cls, channel: Channel, as_of: dt.date, campaigns: Mapping[str, Sequence[CampaignDay]]
    ) -> ChannelPanel:
        """From each campaign's list of ``CampaignDay`` (the contract the loader stores)."""
        rows: Iterable[dict[str, object]] = (
            {"campaign_id": campaign_id, **day.model_dump(exclude={"engagement"})}
            for campaign_id, days in campaigns.items()
            for day in days
        )
        return cls.from_frame(channel, as_of, pd.DataFrame(list(rows)))
