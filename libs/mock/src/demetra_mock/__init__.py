"""Deterministic mock advertising accounts: what a platform would report for a channel at a moment.

Each channel has a catalogue of campaigns that launch one after another and run for ``LIFETIME``; at any
moment the ``size`` most recently launched ones are active, so every hour a few campaigns end and new
ones launch, while the metrics of the running ones grow. Everything is a pure function of
(channel, hour slot, size): fetching the same sync twice returns identical campaigns and metrics, which is
what makes a re-run sync harmless downstream.

Metrics follow per-platform distributions (search ads click more and cost more per click; TikTok engages
more and converts less) and are internally consistent: clicks <= impressions, cost = clicks x CPC,
roi = (conversions x order value - cost) / cost.

The query API's /api/test/mock-data and the ingestors' mock sources both use this module.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from faker import Faker

from demetra_common.contracts import Campaign, Channel

EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
LIFETIME = dt.timedelta(days=60)
SLOT = dt.timedelta(hours=1)
NAME_POOL = 997  # prime: names repeat rarely and never in step with the campaign index


@dataclass(frozen=True, slots=True)
class ChannelProfile:
    """Typical figures of a platform; each campaign draws its own around them."""

    id_prefix: str
    impressions_per_hour: float  # median of a lognormal
    ctr: float  # clicks / impressions
    cpc: float  # cost per click, account currency
    conversion_rate: float  # conversions / clicks
    order_value: float  # revenue per conversion
    engagement_rate: float  # interactions / impressions
    objectives: tuple[str, ...]


PROFILES: dict[Channel, ChannelProfile] = {
    Channel.FACEBOOK: ChannelProfile(
        "fb", 900.0, 0.009, 0.97, 0.09, 62.0, 0.060, ("Lead Gen", "Retargeting", "Lookalike", "Awareness")
    ),
    Channel.INSTAGRAM: ChannelProfile(
        "ig", 1100.0, 0.006, 1.20, 0.06, 55.0, 0.045, ("Stories", "Reels", "Influencer", "Shop")
    ),
    Channel.GOOGLE_ADS: ChannelProfile(
        "gads", 400.0, 0.032, 2.70, 0.045, 110.0, 0.002, ("Search Brand", "Search Generic", "PMax", "Display")
    ),
    Channel.TIKTOK: ChannelProfile(
        "tt",
        1600.0,
        0.010,
        0.60,
        0.015,
        38.0,
        0.090,
        ("Spark Ads", "TopView", "In-Feed", "Hashtag Challenge"),
    ),
}


def mock_slot(as_of: dt.datetime) -> dt.datetime:
    """The hour slot the data of ``as_of`` belongs to: the platform reports hourly snapshots."""
    as_of = as_of.astimezone(dt.UTC)
    return as_of.replace(minute=0, second=0, microsecond=0)


def active_window(as_of: dt.datetime, size: int) -> range:
    """Catalogue indices of the campaigns running at ``as_of`` (always ``size`` of them)."""
    if size < 1:
        raise ValueError("size must be at least 1")
    elapsed = (mock_slot(as_of) - EPOCH).total_seconds()
    cadence = LIFETIME.total_seconds() / size  # one launch every `cadence` seconds keeps `size` running
    newest = math.floor(elapsed / cadence)
    return range(newest - size + 1, newest + 1)


def mock_campaigns(
    channel: Channel, as_of: dt.datetime, size: int, *, offset: int = 0, limit: int | None = None
) -> Iterator[Campaign]:
    """The active campaigns of ``channel`` at ``as_of``'s hour, oldest launch first.

    ``offset`` / ``limit`` page through them without generating the rest.
    """
    slot = mock_slot(as_of)
    window = active_window(slot, size)
    stop = len(window) if limit is None else min(len(window), offset + limit)
    cadence = LIFETIME.total_seconds() / size
    profile = PROFILES[channel]
    names = _name_pool(channel)
    for index in window[offset:stop]:
        yield _campaign(channel, profile, names, index, slot, EPOCH + dt.timedelta(seconds=index * cadence))


def _campaign(
    channel: Channel,
    profile: ChannelProfile,
    names: tuple[str, ...],
    index: int,
    slot: dt.datetime,
    launched_at: dt.datetime,
) -> Campaign:
    # Per-campaign traits: fixed for the campaign's whole life, so its metrics only grow.
    traits = random.Random(f"{channel.value}:{index}")
    reach = profile.impressions_per_hour * traits.lognormvariate(0.0, 0.6)
    ctr = min(0.5, profile.ctr * traits.lognormvariate(0.0, 0.35))
    cpc = profile.cpc * traits.lognormvariate(0.0, 0.3)
    conversion_rate = min(0.95, profile.conversion_rate * traits.lognormvariate(0.0, 0.4))
    order_value = profile.order_value * traits.lognormvariate(0.0, 0.25)
    engagement_rate = profile.engagement_rate * traits.lognormvariate(0.0, 0.4)
    objective = profile.objectives[index % len(profile.objectives)]

    hours_running = max(0.0, (slot - launched_at).total_seconds() / 3600.0)
    # Delivery slows as the audience saturates; monotonic in time.
    impressions = int(reach * hours_running**0.93)
    clicks = min(impressions, int(impressions * ctr))
    cost = round(clicks * cpc, 2)
    conversions = clicks * conversion_rate
    revenue = conversions * order_value
    roi = round((revenue - cost) / cost, 4) if cost > 0 else 0.0
    return Campaign(
        campaign_id=f"{profile.id_prefix}_{index:08d}",
        channel=channel,
        name=f"{names[index % NAME_POOL]} | {objective}",
        date=slot.date(),
        impressions=impressions,
        clicks=clicks,
        engagement=int(impressions * engagement_rate),
        cost=cost,
        conversion_rate=round(conversion_rate, 4),
        roi=max(-1.0, roi),
    )


@lru_cache(maxsize=len(Channel))
def _name_pool(channel: Channel) -> tuple[str, ...]:
    """Campaign names from Faker, generated once per channel from a fixed seed."""
    fake = Faker()
    fake.seed_instance(f"demetra:{channel.value}")
    return tuple(fake.catch_phrase().title() for _ in range(NAME_POOL))
