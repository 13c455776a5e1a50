"""Deterministic mock advertising accounts: what a platform would report for a channel, day by day.

Each channel has a catalogue of campaigns that launch one after another (campaign ``i`` at
``EPOCH + i x LIFETIME / size``) and run for ``LIFETIME``; at any moment ``size`` campaigns are running, so
every day about ``size / 60`` end and as many launch.

A campaign's traits (reach, CTR, CPC, conversion rate, order value, engagement rate, name) are drawn once
from (channel, index). Each of its days is drawn from (channel, index, date): the platform's day-of-week
seasonality, lognormal noise on every rate, a ramp-up after launch with some audience fatigue later, and
the share of the day the campaign ran (its first and last days are partial). Reported at ``as_of``:

- the as-of day itself is partial: only the part of the day before ``as_of``'s hour slot has happened;
- conversions and revenue of a day keep arriving after it: the final values x ``maturity(age)``, where age
  is (as-of date - the day) in days, reaching 1 at the channel's ``ATTRIBUTION_WINDOW_DAYS`` (Meta 28,
  Google Ads 14, TikTok 3). The curve is day-granular: within one UTC day a re-fetch reports the past days
  identically, and every new day restates the days still maturing.

Everything is a pure function of (channel, size, campaign, date, as_of's hour slot), so a re-run sync
publishes identical figures. Metrics follow per-platform distributions (search ads click more and cost
more per click; TikTok engages more and converts less) and are consistent: clicks <= impressions,
conversions <= clicks, cost = clicks x CPC, revenue = conversions x order value.

``mock_campaign_days`` is the daily report the ingestors' mock sources serve; ``mock_campaigns`` the
lifetime snapshot of the running campaigns (the query API's /api/test/mock-data), whose totals are the sums
of the same days, from launch to as_of.
"""

from __future__ import annotations

import datetime as dt
import math
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist

from faker import Faker

from demetra_common.contracts import ATTRIBUTION_WINDOW_DAYS, Campaign, CampaignDay, Channel

EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)  # campaign 0 launches here; ids stay non-negative after it
LIFETIME = dt.timedelta(days=60)
SLOT = dt.timedelta(hours=1)
NAME_POOL = 997  # prime: names repeat rarely and never in step with the campaign index

_DAY_S = 86_400
_LIFETIME_S = int(LIFETIME.total_seconds())
_EPOCH_ORDINAL = EPOCH.date().toordinal()
_MASK64 = (1 << 64) - 1


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
    weekdays: tuple[float, float, float, float, float, float, float]  # delivery, Monday .. Sunday
    same_day_conversions: float  # share of a day's final conversions already reported on the day itself


PROFILES: dict[Channel, ChannelProfile] = {
    Channel.FACEBOOK: ChannelProfile(
        "fb",
        900.0,
        0.009,
        0.97,
        0.09,
        62.0,
        0.060,
        ("Lead Gen", "Retargeting", "Lookalike", "Awareness"),
        (0.94, 0.95, 0.96, 0.98, 1.02, 1.08, 1.07),
        0.45,
    ),
    Channel.INSTAGRAM: ChannelProfile(
        "ig",
        1100.0,
        0.006,
        1.20,
        0.06,
        55.0,
        0.045,
        ("Stories", "Reels", "Influencer", "Shop"),
        (0.93, 0.94, 0.96, 0.98, 1.03, 1.09, 1.07),
        0.45,
    ),
    Channel.GOOGLE_ADS: ChannelProfile(
        "gads",
        400.0,
        0.032,
        2.70,
        0.045,
        110.0,
        0.002,
        ("Search Brand", "Search Generic", "PMax", "Display"),
        (1.09, 1.10, 1.08, 1.05, 0.98, 0.82, 0.88),  # search intent follows the working week
        0.55,
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
        (0.91, 0.92, 0.95, 0.98, 1.05, 1.11, 1.08),
        0.60,
    ),
}


@dataclass(frozen=True, slots=True)
class CampaignDays:
    """One campaign's days in a requested range, as the platform reports them at the as-of moment."""

    campaign_id: str
    name: str
    days: list[CampaignDay]
    """Only the days the campaign ran (some of the day before as_of), oldest first."""


def mock_slot(as_of: dt.datetime) -> dt.datetime:
    """The hour slot the data of ``as_of`` belongs to: the platform reports hourly snapshots."""
    as_of = as_of.astimezone(dt.UTC)
    return as_of.replace(minute=0, second=0, microsecond=0)


def active_window(as_of: dt.datetime, size: int) -> range:
    """Catalogue indices of the campaigns running at ``as_of``'s slot (just before it): always ``size``."""
    _check_size(size)
    now = _seconds(mock_slot(as_of))
    # launched before now and ended at now or later: launch in [now - LIFETIME, now)
    return range(_first_launched_at_or_after(now - _LIFETIME_S, size), _first_launched_at_or_after(now, size))


def campaigns_running(as_of: dt.datetime, size: int, date_from: dt.date, date_to: dt.date) -> range:
    """Catalogue indices of the campaigns that ran on some day of ``date_from..date_to`` before ``as_of``'s
    slot, in launch order: the campaigns ``mock_campaign_days`` reports, each with at least one day."""
    _check_size(size)
    start = _day_seconds(date_from.toordinal())
    end = min(_day_seconds(date_to.toordinal() + 1), _seconds(mock_slot(as_of)))
    if end <= start:
        return range(0)
    # launch < end and launch + LIFETIME > start
    return range(
        _first_launched_at_or_after(start - _LIFETIME_S + 1, size), _first_launched_at_or_after(end, size)
    )


def mock_campaign_days(
    channel: Channel,
    as_of: dt.datetime,
    size: int,
    date_from: dt.date,
    date_to: dt.date,
    *,
    offset: int = 0,
    limit: int | None = None,
) -> Iterator[CampaignDays]:
    """The daily report of ``channel`` for ``date_from..date_to`` as it stands at ``as_of``'s hour slot: every
    campaign that ran in the range (``campaigns_running``, launch order) with its days in the range.

    ``offset`` / ``limit`` page through the campaigns without generating the rest.
    """
    slot = mock_slot(as_of)
    now = _seconds(slot)
    window = campaigns_running(slot, size, date_from, date_to)
    stop = len(window) if limit is None else min(len(window), offset + limit)
    model = _ChannelModel.of(channel)
    names = _name_pool(channel)
    first, last = date_from.toordinal(), date_to.toordinal()
    fromordinal = dt.date.fromordinal
    for index in window[offset:stop]:
        traits = model.traits(index, names)
        days = [
            CampaignDay(
                date=fromordinal(ordinal),
                impressions=impressions,
                clicks=clicks,
                engagement=engagement,
                cost=cost,
                conversions=conversions,
                revenue=revenue,
            )
            for ordinal, impressions, clicks, engagement, cost, conversions, revenue in model.days(
                traits, _launch_seconds(index, size), first, last, now
            )
        ]
        yield CampaignDays(traits.campaign_id, traits.name, days)


def mock_campaigns(
    channel: Channel, as_of: dt.datetime, size: int, *, offset: int = 0, limit: int | None = None
) -> Iterator[Campaign]:
    """The campaigns of ``channel`` running at ``as_of``'s hour slot, oldest launch first, with their
    lifetime totals: the sums of their days (``mock_campaign_days``) from launch to as_of.

    ``date`` is the campaign's latest day; cost is rounded to cents, conversion_rate (conversions / clicks)
    and roi ((revenue - cost) / cost, within -1..1000; 0 without cost) to 4 decimals.
    ``offset`` / ``limit`` page through them without generating the rest.
    """
    slot = mock_slot(as_of)
    now = _seconds(slot)
    window = active_window(slot, size)
    stop = len(window) if limit is None else min(len(window), offset + limit)
    model = _ChannelModel.of(channel)
    names = _name_pool(channel)
    last = slot.date().toordinal()
    for index in window[offset:stop]:
        traits = model.traits(index, names)
        launched = _launch_seconds(index, size)
        days = model.days(traits, launched, _EPOCH_ORDINAL + launched // _DAY_S, last, now)
        yield _totals(channel, traits, days)


def maturity(channel: Channel, age_days: int) -> float:
    """The share of a day's final conversions (and value) reported ``age_days`` after it (0: on the day)."""
    return _ChannelModel.of(channel).maturity[min(max(age_days, 0), ATTRIBUTION_WINDOW_DAYS[channel])]


_Day = tuple[int, int, int, int, float, float, float]
"""(date ordinal, impressions, clicks, engagement, cost, conversions, revenue)"""


@dataclass(frozen=True, slots=True)
class _Traits:
    """What a campaign keeps for its whole life."""

    index: int
    campaign_id: str
    name: str
    impressions_per_day: float
    ctr: float
    cpc: float
    conversion_rate: float
    order_value: float
    engagement_rate: float


# Lognormal noise factors per day, exp(sigma x z), read from a table by 10 bits of the day's hash: one hash
# per campaign-day instead of six random draws.
_NOISE_BITS = 10
_NORMAL_QUANTILES = tuple(
    NormalDist().inv_cdf((k + 0.5) / (1 << _NOISE_BITS)) for k in range(1 << _NOISE_BITS)
)
# sigma of the daily noise on impressions, CTR, CPC, conversion rate, order value, engagement rate
_DAILY_SIGMAS = (0.25, 0.12, 0.08, 0.30, 0.15, 0.20)
# Delivery by days since launch: the audience is learned over the first days, then slowly tires.
_RAMP = tuple(
    (1.0 - 0.55 * math.exp(-age / 2.5)) * (1.0 - 0.2 * age / LIFETIME.days)
    for age in range(LIFETIME.days + 2)
)


@dataclass(frozen=True, slots=True)
class _ChannelModel:
    channel: Channel
    profile: ChannelProfile
    salt: int
    noise: tuple[tuple[float, ...], ...]
    maturity: tuple[float, ...]
    """By age in days, 0 .. the attribution window: concave, strictly rising to exactly 1."""

    @staticmethod
    @lru_cache(maxsize=len(Channel))
    def of(channel: Channel) -> _ChannelModel:
        profile = PROFILES[channel]
        window = ATTRIBUTION_WINDOW_DAYS[channel]
        late = 1.0 - profile.same_day_conversions
        return _ChannelModel(
            channel=channel,
            profile=profile,
            salt=zlib.crc32(channel.value.encode()),
            noise=tuple(tuple(math.exp(sigma * z) for z in _NORMAL_QUANTILES) for sigma in _DAILY_SIGMAS),
            maturity=tuple(1.0 - late * (1.0 - age / window) ** 3 for age in range(window + 1)),
        )

    def traits(self, index: int, names: Sequence[str]) -> _Traits:
        profile = self.profile
        # Six lognormal draws from one hash of (channel, campaign): "day 0", which no date has (ordinals
        # start at 1), so traits never correlate with a day's noise.
        h = _mix(self._key(index))
        z = _NORMAL_QUANTILES
        reach = profile.impressions_per_hour * math.exp(0.6 * z[h & 1023])
        ctr = min(0.5, profile.ctr * math.exp(0.35 * z[(h >> 10) & 1023]))
        cpc = profile.cpc * math.exp(0.3 * z[(h >> 20) & 1023])
        conversion_rate = min(0.95, profile.conversion_rate * math.exp(0.4 * z[(h >> 30) & 1023]))
        order_value = profile.order_value * math.exp(0.25 * z[(h >> 40) & 1023])
        engagement_rate = profile.engagement_rate * math.exp(0.4 * z[(h >> 50) & 1023])
        objective = profile.objectives[index % len(profile.objectives)]
        return _Traits(
            index=index,
            campaign_id=f"{profile.id_prefix}_{index:08d}",
            name=f"{names[index % NAME_POOL]} | {objective}",
            impressions_per_day=24.0 * reach,
            ctr=ctr,
            cpc=cpc,
            conversion_rate=conversion_rate,
            order_value=order_value,
            engagement_rate=engagement_rate,
        )

    def _key(self, index: int) -> int:
        """The hash input of campaign ``index``'s day with ordinal ``d`` is ``_key(index) + d``."""
        return index * 0x100000001B3 + self.salt * 0x9E3779B97F4A7C15

    def days(self, traits: _Traits, launched: int, first: int, last: int, now: int) -> list[_Day]:
        """The campaign's days with ordinals in ``first..last`` on which it ran before ``now`` (seconds after
        EPOCH, an hour slot)."""
        ended = launched + _LIFETIME_S
        launch_ordinal = _EPOCH_ORDINAL + launched // _DAY_S
        as_of_ordinal = _EPOCH_ORDINAL + now // _DAY_S
        first = max(first, launch_ordinal)
        last = min(last, _EPOCH_ORDINAL + (min(ended, now) - 1) // _DAY_S)
        n_imp, n_ctr, n_cpc, n_cr, n_ov, n_er = self.noise
        weekdays = self.profile.weekdays
        maturity = self.maturity
        window = len(maturity) - 1
        per_second = traits.impressions_per_day / _DAY_S
        ctr, cpc, order_value = traits.ctr, traits.cpc, traits.order_value
        conversion_rate, engagement_rate = traits.conversion_rate, traits.engagement_rate
        base = self._key(traits.index)
        stop = ended if ended < now else now
        days: list[_Day] = []
        append = days.append
        for ordinal in range(first, last + 1):
            start = (ordinal - _EPOCH_ORDINAL) * _DAY_S
            ran = (stop if stop < start + _DAY_S else start + _DAY_S) - (
                launched if launched > start else start
            )
            if ran <= 0:
                continue
            # _mix inlined (the loop's hot spot): 64 bits of (channel, campaign, day), 10 per noise factor
            h = (base + ordinal) & _MASK64
            h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
            h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & _MASK64
            h ^= h >> 31
            impressions = int(
                per_second
                * ran
                * weekdays[(ordinal - 1) % 7]  # date.fromordinal(1) is a Monday
                * _RAMP[ordinal - launch_ordinal]
                * n_imp[h & 1023]
            )
            clicks = int(impressions * ctr * n_ctr[(h >> 10) & 1023])
            if clicks > impressions:
                clicks = impressions
            converted = clicks * conversion_rate * n_cr[(h >> 30) & 1023]
            if converted > clicks:
                converted = clicks
            age = as_of_ordinal - ordinal
            converted *= maturity[age if age < window else window]
            append(
                (
                    ordinal,
                    impressions,
                    clicks,
                    int(impressions * engagement_rate * n_er[(h >> 50) & 1023]),
                    round(clicks * cpc * n_cpc[(h >> 20) & 1023], 2),
                    round(converted, 2),
                    round(converted * order_value * n_ov[(h >> 40) & 1023], 2),
                )
            )
        return days


def _totals(channel: Channel, traits: _Traits, days: list[_Day]) -> Campaign:
    impressions = sum(day[1] for day in days)
    clicks = sum(day[2] for day in days)
    cost = round(sum(day[4] for day in days), 2)
    conversions = sum(day[5] for day in days)
    revenue = sum(day[6] for day in days)
    roi = round((revenue - cost) / cost, 4) if cost > 0 else 0.0
    return Campaign(
        campaign_id=traits.campaign_id,
        channel=channel,
        name=traits.name,
        date=dt.date.fromordinal(days[-1][0]),
        impressions=impressions,
        clicks=clicks,
        engagement=sum(day[3] for day in days),
        cost=cost,
        conversion_rate=round(conversions / clicks, 4) if clicks else 0.0,
        roi=min(1000.0, max(-1.0, roi)),
    )


def _mix(x: int) -> int:
    """splitmix64's finaliser: 64 well-mixed bits from any integer."""
    x &= _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def _check_size(size: int) -> None:
    if size < 1:
        raise ValueError("size must be at least 1")


def _seconds(moment: dt.datetime) -> int:
    return int((moment - EPOCH).total_seconds())


def _day_seconds(ordinal: int) -> int:
    return (ordinal - _EPOCH_ORDINAL) * _DAY_S


def _launch_seconds(index: int, size: int) -> int:
    """When campaign ``index`` launches, in whole seconds after EPOCH (one every LIFETIME / size)."""
    return index * _LIFETIME_S // size


def _first_launched_at_or_after(seconds: int, size: int) -> int:
    """The lowest index whose launch is at or after ``seconds``: ceil(seconds x size / LIFETIME)."""
    return -((-seconds * size) // _LIFETIME_S)


@lru_cache(maxsize=len(Channel))
def _name_pool(channel: Channel) -> tuple[str, ...]:
    """Campaign names from Faker, generated once per channel from a fixed seed."""
    fake = Faker()
    fake.seed_instance(f"demetra:{channel.value}")
    return tuple(fake.catch_phrase().title() for _ in range(NAME_POOL))
