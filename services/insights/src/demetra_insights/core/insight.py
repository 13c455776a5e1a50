"""What an insight says: its kind, how bad, where, when, observed vs expected, money at stake, and why."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from demetra_common.contracts import Channel, InsightKind, Severity

# (channel, campaign_id or None for the channel's total, kind): at most one open insight per key.
InsightKey = tuple[Channel, str | None, InsightKind]


@dataclass(frozen=True, slots=True)
class Insight:
    kind: InsightKind
    severity: Severity
    channel: Channel
    campaign_id: str | None  # None: the channel's summed series
    first_day: dt.date
    last_day: dt.date
    metric: str  # what observed/expected measure: "spend", "cpm", "conversion_rate", ...
    observed: float
    expected: float
    baseline_from: dt.date
    baseline_to: dt.date
    money_at_stake: float  # account currency, over first_day..last_day
    explanation: str

    @property
    def key(self) -> InsightKey:
        return (self.channel, self.campaign_id, self.kind)


def severity_for(kind: InsightKind, money: float, *, warning_money: float, critical_money: float) -> Severity:
    """Money decides: >= critical_money is critical, >= warning_money a warning, else info. A tracking
    break is never below a warning (every decision on that campaign is now blind)."""
    if money >= critical_money:
        return Severity.CRITICAL
    if money >= warning_money or kind is InsightKind.TRACKING_BREAK:
        return Severity.WARNING
    return Severity.INFO
