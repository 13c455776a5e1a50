"""Labelled anomalies injected into a campaign's daily metrics: the ground truth of the insights benchmark.

A pure, deterministic transform. Time is cut into blocks of ``BLOCK_DAYS`` from ``ANOMALY_EPOCH``; in each
block a campaign has an anomaly with probability ``rate`` (``MOCK_ANOMALY_RATE``; 0, the default, is
off). The anomaly's kind, size, duration (3-7 days, pacing 5-8) and start day within the block are drawn
from (channel, campaign index, block) alone, so they do not depend on which days a fetch asks for, and
each block ends with at least ``QUIET_DAYS`` normal days (the metric returns to normal, an insight can
resolve, the next baseline is clean).

What each kind does to a day (sizes realistic for an incident worth an alert):
    spend_spike / spend_drop   impressions, clicks, cost, conversions, revenue x size / size (2.5-4):
                               a budget or delivery change at the usual efficiency
    spend_pacing               the same x 1.4-1.6 for 5-8 days: overspending, no single day extreme
    cpm_spike (social) /       the price x size: the budget (cost) holds, impressions, clicks,
    cpc_spike (google_ads)     conversions and revenue / size
    ctr_drop                   clicks, conversions, revenue / size (cost / size too on google_ads, which
                               bills per click)
    conversion_rate_drop       conversions and revenue / size
    tracking_break             conversions and revenue 0 while everything else goes on
    cpa_spike                  a compound: price, CTR and conversion rate each move a little (none by
                               1.5x), CPA x size (social 2.5-3.0; google_ads 1.9-2.1, where only CPC and
                               conversion rate make CPA)
    roas_drop                  revenue / size: order value falls, conversions hold

The labels are for the benchmark only: detectors never see them.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from demetra_common.contracts import CampaignDay, Channel

ANOMALY_EPOCH = dt.date(2026, 1, 1)
BLOCK_DAYS = 21
QUIET_DAYS = 7
ID_PREFIXES: dict[Channel, str] = {
    Channel.FACEBOOK: "fb",
    Channel.INSTAGRAM: "ig",
    Channel.GOOGLE_ADS: "gads",
    Channel.TIKTOK: "tt",
}

SPEND_SPIKE = "spend_spike"
SPEND_DROP = "spend_drop"
SPEND_PACING = "spend_pacing"
CPM_SPIKE = "cpm_spike"
CPC_SPIKE = "cpc_spike"
CTR_DROP = "ctr_drop"
CONVERSION_RATE_DROP = "conversion_rate_drop"
TRACKING_BREAK = "tracking_break"
CPA_SPIKE = "cpa_spike"
ROAS_DROP = "roas_drop"


def anomaly_kinds(channel: Channel) -> tuple[str, ...]:
    """The kinds a channel can have: social channels bill per impression (CPM), google_ads per click."""
    price = CPC_SPIKE if channel is Channel.GOOGLE_ADS else CPM_SPIKE
    return (
        SPEND_SPIKE,
        SPEND_DROP,
        SPEND_PACING,
        price,
        CTR_DROP,
        CONVERSION_RATE_DROP,
        TRACKING_BREAK,
        CPA_SPIKE,
        ROAS_DROP,
    )


@dataclass(frozen=True, slots=True)
class AnomalyLabel:
    channel: Channel
    campaign_index: int
    kind: str
    start: dt.date
    end: dt.date  # inclusive
    size: float  # the factor of the kind's metric (x size up, / size down); 0 conversions: inf

    @property
    def campaign_id(self) -> str:
        return f"{ID_PREFIXES[self.channel]}_{self.campaign_index:08d}"

    def covers(self, day: dt.date) -> bool:
        return self.start <= day <= self.end


def _block_of(day: dt.date) -> int:
    return (day - ANOMALY_EPOCH).days // BLOCK_DAYS


def _block_anomaly(channel: Channel, index: int, block: int, rate: float) -> AnomalyLabel | None:
    draw = random.Random(f"anomaly:{channel.value}:{index}:{block}")
    if rate <= 0 or draw.random() >= rate:
        return None
    kind = draw.choice(anomaly_kinds(channel))
    if kind == SPEND_PACING:
        duration, size = draw.randint(5, 8), draw.uniform(1.4, 1.6)
    elif kind == CPA_SPIKE:
        # No single driver may reach x1.5: google_ads's CPA has two (CPC, CVR), social's three.
        low, high = (1.9, 2.1) if channel is Channel.GOOGLE_ADS else (2.5, 3.0)
        duration, size = draw.randint(3, 7), draw.uniform(low, high)
    elif kind == TRACKING_BREAK:
        duration, size = draw.randint(3, 7), math.inf
    else:
        duration, size = draw.randint(3, 7), draw.uniform(2.5, 4.0)
    offset = draw.randint(0, BLOCK_DAYS - QUIET_DAYS - duration)
    start = ANOMALY_EPOCH + dt.timedelta(days=block * BLOCK_DAYS + offset)
    return AnomalyLabel(channel, index, kind, start, start + dt.timedelta(days=duration - 1), size)


def campaign_anomalies(
    channel: Channel, index: int, date_from: dt.date, date_to: dt.date, rate: float
) -> list[AnomalyLabel]:
    """The campaign's anomalies overlapping date_from..date_to, clipped to it."""
    labels = []
    for block in range(_block_of(date_from), _block_of(date_to) + 1):
        label = _block_anomaly(channel, index, block, rate)
        if label is None or label.end < date_from or label.start > date_to:
            continue
        labels.append(
            AnomalyLabel(
                channel, index, label.kind, max(label.start, date_from), min(label.end, date_to), label.size
            )
        )
    return labels


def anomaly_labels(
    channel: Channel, indices: Iterable[int], date_from: dt.date, date_to: dt.date, rate: float
) -> list[AnomalyLabel]:
    """Every label of the given campaigns (catalogue indices, e.g. the daily mock's active window of a
    channel and size) between two days; clip each to the campaign's running days where that matters."""
    return [
        label for index in indices for label in campaign_anomalies(channel, index, date_from, date_to, rate)
    ]


def inject_anomalies(
    channel: Channel, index: int, days: Sequence[CampaignDay], rate: float
) -> list[CampaignDay]:
    """The campaign's days with its anomalies applied (the same list when it has none)."""
    if rate <= 0 or not days:
        return list(days)
    return apply_anomalies(
        channel, days, campaign_anomalies(channel, index, days[0].date, days[-1].date, rate)
    )


def apply_anomalies(
    channel: Channel, days: Sequence[CampaignDay], labels: Sequence[AnomalyLabel]
) -> list[CampaignDay]:
    """The days with these labels applied (the first label covering a day wins): how both the drawn
    anomalies and explicitly named ones (a test's ``MOCK_ANOMALIES``) change a campaign's days."""
    if not labels:
        return list(days)
    google = channel is Channel.GOOGLE_ADS
    return [_apply(day, next((lb for lb in labels if lb.covers(day.date)), None), google) for day in days]


def _apply(day: CampaignDay, label: AnomalyLabel | None, google: bool) -> CampaignDay:
    if label is None:
        return day
    volume = price = ctr = cvr = order_value = 1.0  # factors of the day's drivers
    size = label.size
    match label.kind:
        case "spend_spike" | "spend_pacing":
            volume = size
        case "spend_drop":
            volume = 1.0 / size
        case "cpm_spike" | "cpc_spike":
            price = size
        case "ctr_drop":
            ctr = 1.0 / size
        case "conversion_rate_drop":
            cvr = 1.0 / size
        case "tracking_break":
            cvr = 0.0
        case "cpa_spike":
            # CPA = price / (CTR x CVR) on social, CPC / CVR on google: spread the size over the drivers.
            if google:
                price, cvr = size**0.5, size**-0.5
            else:
                price, ctr, cvr = size**0.32, size**-0.32, size**-0.36
        case "roas_drop":
            order_value = 1.0 / size
    # Budget-capped delivery: a higher price buys less volume for the same cost. On google_ads cost is
    # clicks x CPC, so fewer clicks per impression also means less spend.
    cost = day.cost * volume * (ctr if google else 1.0)
    impressions = day.impressions * volume / price
    clicks = day.clicks * volume / price * ctr
    conversions = day.conversions * volume / price * ctr * cvr
    revenue = day.revenue * volume / price * ctr * cvr * order_value
    impressions_int = round(impressions)
    return day.model_copy(
        update={
            "impressions": impressions_int,
            "clicks": min(impressions_int, round(clicks)),
            "cost": round(cost, 2),
            "conversions": round(conversions, 4),
            "revenue": round(revenue, 2),
        }
    )
