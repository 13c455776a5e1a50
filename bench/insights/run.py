"""Insights benchmark: how good the detectors are, measured against labelled anomalies, in one run.

    uv run --frozen python bench/insights/run.py [--campaigns 2000] [--days 90] [--rate 0.25]

1. Daily history of 4 channels x ``--campaigns`` active campaigns over ``--days`` scored days, after
   WARMUP_DAYS of history (so campaigns have a baseline and the slowest channel, facebook's 28-day
   attribution window, has mature days from the first scored sync). Campaigns launch and end (a 60-day
   life, ``--campaigns`` running on any day), so some are always learning.
2. Labelled anomalies from ``demetra_mock.anomalies`` at ``--rate`` on the scored days; the labels go to
   the scoring only, never to the detectors.
3. One sync per scored day and channel, as the daily sync would see it: at the start of day t+1 the panel
   holds every day up to t, conversions as mature as their age allows; ``analyse`` judges day t and
   ``reconcile`` opens / updates / resolves insights.
4. Scored: precision (opened campaign insights of the label's kind within its days) and recall (labels
   detected) per kind and overall, detection delay (sync day - the label's first day), the time of one
   channel's analysis, and the same run at rate 0 for false alarms per 1,000 clean campaign-days.
Labels on campaigns still learning when they start (fewer than min_history_days of history) are not
scored: by design nothing is said about them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import statistics
import time
from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from demetra_common.contracts import ALL_CHANNELS, ATTRIBUTION_WINDOW_DAYS, CampaignDay, Channel
from demetra_insights.core import ChannelPanel, DetectorParams, Insight, analyse, reconcile
from demetra_mock.anomalies import ID_PREFIXES, AnomalyLabel, campaign_anomalies, inject_anomalies

Matrix = npt.NDArray[np.float64]
FIRST_DAY = dt.date(2026, 6, 1)
WARMUP_DAYS = 56
LIFETIME_DAYS = 60
PARAMS = DetectorParams()


# --- STAND-IN for demetra_mock's daily API (issue 11, being written in another work tree) ----------------
# It mimics that mock's rules: per-campaign traits around per-platform figures, weekday seasonality
# (volume and conversion rate), lognormal noise, a ramp-up after launch, a 60-day life, and conversions
# that mature over the channel's ATTRIBUTION_WINDOW_DAYS. Replace `daily_history` by the mock's daily API
# when it lands; nothing else in this file draws data.


@dataclass(frozen=True, slots=True)
class _Profile:
    impressions_per_hour: float
    ctr: float
    cpc: float
    conversion_rate: float
    order_value: float
    maturity_tau: float  # days: how fast late conversions arrive


_PROFILES = {
    Channel.FACEBOOK: _Profile(900.0, 0.009, 0.97, 0.09, 62.0, 2.5),
    Channel.INSTAGRAM: _Profile(1100.0, 0.006, 1.20, 0.06, 55.0, 2.5),
    Channel.GOOGLE_ADS: _Profile(400.0, 0.032, 2.70, 0.045, 110.0, 2.0),
    Channel.TIKTOK: _Profile(1600.0, 0.010, 0.60, 0.015, 38.0, 0.8),
}
_SOCIAL_VOLUME = np.array([0.0, 0.0, 0.02, 0.03, 0.05, 0.12, 0.10])  # log, Monday first
_SEARCH_VOLUME = np.array([0.08, 0.08, 0.06, 0.04, 0.0, -0.20, -0.15])
_SOCIAL_CVR = np.array([0.0, 0.0, 0.0, 0.0, -0.03, -0.08, -0.05])
_SEARCH_CVR = np.array([0.03, 0.03, 0.02, 0.0, -0.03, -0.10, -0.06])


@dataclass(frozen=True, eq=False)
class History:
    """Final (fully attributed) daily metrics of a channel's campaigns; NaN outside a campaign's life."""

    channel: Channel
    indices: npt.NDArray[np.int64]
    launch: npt.NDArray[np.int64]  # first column the campaign runs
    impressions: Matrix
    clicks: Matrix
    cost: Matrix
    conversions: Matrix
    revenue: Matrix
    tau: float

    def maturity(self, ages: npt.NDArray[np.int64]) -> Matrix:
        window = ATTRIBUTION_WINDOW_DAYS[self.channel]
        share = (1 - np.exp(-np.maximum(ages, 0) / self.tau)) / (1 - math.exp(-window / self.tau))
        return np.where(ages >= window, 1.0, np.minimum(share, 1.0))


def stand_in_daily_history(channel: Channel, size: int, days: int) -> History:
    rng = np.random.default_rng(ALL_CHANNELS.index(channel))
    profile = _PROFILES[channel]
    cadence = LIFETIME_DAYS / size
    indices = np.arange(-size + 1, math.ceil(days / cadence) + 1)
    launch = np.floor(indices * cadence).astype(np.int64)
    n = indices.size
    columns = np.arange(days)
    age = columns[None, :] - launch[:, None]
    alive = (age >= 0) & (age < LIFETIME_DAYS)
    weekday = (columns + FIRST_DAY.weekday()) % 7
    social = channel is not Channel.GOOGLE_ADS

    def trait(sigma: float) -> Matrix:
        return rng.lognormal(0.0, sigma, n)[:, None]

    noisiness = rng.uniform(0.8, 1.25, n)[:, None]

    def noise(sigma: float) -> Matrix:
        return np.exp(rng.normal(0.0, sigma, (n, days)) * noisiness)

    amplitude = trait(0.25)
    volume_season = np.exp(amplitude * (_SOCIAL_VOLUME if social else _SEARCH_VOLUME)[weekday][None, :])
    cvr_season = np.exp(amplitude * (_SOCIAL_CVR if social else _SEARCH_CVR)[weekday][None, :])
    ramp = 1 - 0.6 * np.exp(-np.maximum(age, 0) / 2.0)
    trend = np.exp(rng.normal(0.0, 0.004, n)[:, None] * np.maximum(age, 0))
    ctr = np.minimum(0.5, profile.ctr * trait(0.35)) * noise(0.08)
    cpc = profile.cpc * trait(0.3)
    base_spend = profile.impressions_per_hour * 24 * profile.ctr * profile.cpc * trait(0.6)
    cost = base_spend * volume_season * ramp * trend * noise(0.10)
    if social:
        cpm = cpc * profile.ctr * 1000 * noise(0.08)
        impressions = cost / cpm * 1000
        clicks = impressions * ctr
    else:
        clicks = cost / (cpc * noise(0.08))
        impressions = clicks / ctr
    impressions = np.round(impressions)
    clicks = np.minimum(np.round(clicks), impressions)
    conversions = clicks * np.minimum(0.95, profile.conversion_rate * trait(0.4)) * cvr_season * noise(0.12)
    revenue = conversions * profile.order_value * trait(0.25) * noise(0.10)

    def life(values: Matrix) -> Matrix:
        return np.where(alive, values, np.nan)

    return History(
        channel,
        indices,
        launch,
        life(impressions),
        life(clicks),
        life(np.round(cost, 2)),
        life(conversions),
        life(revenue),
        profile.maturity_tau,
    )


daily_history = stand_in_daily_history  # the one line to swap for demetra_mock's daily API
# --- end of the stand-in ------------------------------------------------------------------------------


def inject(history: History, first_scored: int, rate: float) -> list[AnomalyLabel]:
    """Apply the labelled anomalies of the scored days (through demetra_mock.anomalies) in place."""
    days = history.cost.shape[1]
    labels: list[AnomalyLabel] = []
    for row, index in enumerate(history.indices.tolist()):
        start = max(int(history.launch[row]), first_scored)
        end = min(int(history.launch[row]) + LIFETIME_DAYS, days) - 1
        if end < start:
            continue
        found = campaign_anomalies(history.channel, index, _day(start), _day(end), rate)
        for label in found:
            first, last = (label.start - FIRST_DAY).days, (label.end - FIRST_DAY).days
            span = range(first, last + 1)
            before = [_campaign_day(history, row, column) for column in span]
            after = inject_anomalies(history.channel, index, before, rate)
            for column, day in zip(span, after, strict=True):
                history.impressions[row, column] = day.impressions
                history.clicks[row, column] = day.clicks
                history.cost[row, column] = day.cost
                history.conversions[row, column] = day.conversions
                history.revenue[row, column] = day.revenue
        labels.extend(found)
    return labels


def _day(column: int) -> dt.date:
    return FIRST_DAY + dt.timedelta(days=column)


def _campaign_day(history: History, row: int, column: int) -> CampaignDay:
    return CampaignDay(
        date=_day(column),
        impressions=int(history.impressions[row, column]),
        clicks=int(history.clicks[row, column]),
        engagement=0,
        cost=float(history.cost[row, column]),
        conversions=float(history.conversions[row, column]),
        revenue=float(history.revenue[row, column]),
    )


@dataclass
class Run:
    opened: list[Insight]
    channel_opened: list[Insight]
    detections: dict[tuple[str, str], list[dt.date]]  # (campaign_id, kind) -> days it was (re)detected
    evaluated_campaign_days: int
    seconds: list[float]


def simulate(histories: dict[Channel, History], first_scored: int, days: int) -> Run:
    run = Run([], [], defaultdict(list), 0, [])
    for channel, history in histories.items():
        window = ATTRIBUTION_WINDOW_DAYS[channel]
        span = PARAMS.baseline_days + window + 1
        ids = np.array([f"{ID_PREFIXES[channel]}_{index:08d}" for index in history.indices.tolist()])
        open_insights: dict[tuple[object, ...], Insight] = {}
        for column in range(first_scored, days):
            panel = _panel_as_of(history, ids, column, span)
            started = time.perf_counter()
            analysis = analyse(panel, params=PARAMS)
            run.seconds.append(time.perf_counter() - started)
            run.evaluated_campaign_days += analysis.evaluated
            changes = reconcile(open_insights.values(), analysis)
            for insight in changes.resolved:
                del open_insights[insight.key]
            for insight in changes.opened + changes.updated:
                open_insights[insight.key] = insight
                if insight.campaign_id is not None:
                    run.detections[(insight.campaign_id, insight.kind.value)].append(insight.last_day)
            for insight in changes.opened:
                (run.opened if insight.campaign_id is not None else run.channel_opened).append(insight)
    return run


def _panel_as_of(history: History, ids: npt.NDArray[np.str_], column: int, span: int) -> ChannelPanel:
    """What the sync at the start of day column+1 has stored: days up to ``column``, conversions as mature
    as their age allows, for the campaigns running on ``column``."""
    first = max(0, column - span + 1)
    rows = np.flatnonzero(np.isfinite(history.cost[:, column]))
    cols = slice(first, column + 1)
    ages = (column + 1) - np.arange(first, column + 1)
    maturity = history.maturity(ages)[None, :]
    return ChannelPanel(
        history.channel,
        tuple(ids[rows].tolist()),
        _day(first),
        _day(column + 1),
        history.impressions[rows, cols],
        history.clicks[rows, cols],
        history.cost[rows, cols],
        history.conversions[rows, cols] * maturity,
        history.revenue[rows, cols] * maturity,
    )


@dataclass
class KindScore:
    labels: int = 0
    detected: int = 0
    opened: int = 0
    true: int = 0
    delays: list[int] | None = None


def score(
    run: Run, labels: list[AnomalyLabel], launches: dict[str, int]
) -> tuple[dict[str, KindScore], Counter[str], int]:
    by_campaign: dict[str, list[AnomalyLabel]] = defaultdict(list)
    for label in labels:
        by_campaign[label.campaign_id].append(label)
    kinds: dict[str, KindScore] = defaultdict(lambda: KindScore(delays=[]))
    unscored = 0
    for label in labels:
        if _learning(label, launches):
            unscored += 1
            continue
        entry = kinds[label.kind]
        entry.labels += 1
        hits = [day for day in run.detections.get((label.campaign_id, label.kind), []) if label.covers(day)]
        if hits:
            entry.detected += 1
            assert entry.delays is not None
            entry.delays.append((min(hits) - label.start).days)
    false_kinds: Counter[str] = Counter()
    for insight in run.opened:
        entry = kinds[insight.kind.value]
        around = [lb for lb in by_campaign.get(insight.campaign_id or "", []) if lb.covers(insight.last_day)]
        learning = [
            lb
            for lb in around
            if (lb.start - FIRST_DAY).days - launches[lb.campaign_id] < PARAMS.min_history_days
        ]
        if learning:
            continue
        entry.opened += 1
        if any(lb.kind == insight.kind.value for lb in around):
            entry.true += 1
        else:
            context = f"during {around[0].kind}" if around else "on a clean day"
            false_kinds[f"{insight.kind.value} {context}"] += 1
    return kinds, false_kinds, unscored


def _learning(label: AnomalyLabel, launches: dict[str, int]) -> bool:
    return (label.start - FIRST_DAY).days - launches[label.campaign_id] < PARAMS.min_history_days


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=2000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--rate", type=float, default=0.25)
    args = parser.parse_args()
    started = time.perf_counter()
    total_days = WARMUP_DAYS + args.days

    def generate() -> dict[Channel, History]:
        return {channel: daily_history(channel, args.campaigns, total_days) for channel in ALL_CHANNELS}

    clean = generate()
    anomalous = generate()
    labels = [label for history in anomalous.values() for label in inject(history, WARMUP_DAYS, args.rate)]
    launches = {
        f"{ID_PREFIXES[h.channel]}_{index:08d}": int(launch)
        for h in anomalous.values()
        for index, launch in zip(h.indices.tolist(), h.launch.tolist(), strict=True)
    }
    generated = time.perf_counter() - started
    print(
        f"data: {len(ALL_CHANNELS)} channels x {args.campaigns} active campaigns x {args.days} scored days "
        f"(+{WARMUP_DAYS} warm-up days; stand-in daily source), {len(labels)} labels at rate {args.rate}; "
        f"generated in {generated:.1f}s"
    )
    with_anomalies = simulate(anomalous, WARMUP_DAYS, total_days)
    without = simulate(clean, WARMUP_DAYS, total_days)
    kinds, false_kinds, unscored = score(with_anomalies, labels, launches)

    print(
        f"\n{'kind':<22}{'labels':>7}{'found':>7}{'recall':>8}{'alerts':>8}{'right':>7}{'precision':>10}"
        f"{'delay d':>8}"
    )
    for kind in sorted(kinds):
        k = kinds[kind]
        delay = statistics.fmean(k.delays) if k.delays else float("nan")
        print(
            f"{kind:<22}{k.labels:>7}{k.detected:>7}{_ratio(k.detected, k.labels):>8.3f}{k.opened:>8}"
            f"{k.true:>7}{_ratio(k.true, k.opened):>10.3f}{delay:>8.2f}"
        )
    labelled = sum(k.labels for k in kinds.values())
    detected = sum(k.detected for k in kinds.values())
    opened = sum(k.opened for k in kinds.values())
    true = sum(k.true for k in kinds.values())
    delays = [d for k in kinds.values() for d in (k.delays or [])]
    precision, recall = _ratio(true, opened), _ratio(detected, labelled)
    delay = statistics.fmean(delays) if delays else float("nan")
    print(
        f"{'overall':<22}{labelled:>7}{detected:>7}{recall:>8.3f}{opened:>8}{true:>7}{precision:>10.3f}"
        f"{delay:>8.2f}"
    )
    print(f"\nlabels not scored (campaign still learning when they start): {unscored}")
    print(f"wrong alerts ({sum(false_kinds.values())}), most common first:")
    for what, count in false_kinds.most_common(12):
        print(f"  {count:>5}  {what}")
    delay_counts = Counter(delays)
    print(f"detection delay (days: labels): {dict(sorted(delay_counts.items()))}")
    print(
        f"channel-level alerts: {len(with_anomalies.channel_opened)} with anomalies, "
        f"{len(without.channel_opened)} on clean data"
    )
    false_per_1k = 1000 * len(without.opened) / without.evaluated_campaign_days
    print(
        f"clean run: {len(without.opened)} campaign alerts over {without.evaluated_campaign_days} judged "
        f"campaign-days = {false_per_1k:.3f} per 1,000 ({Counter(i.kind.value for i in without.opened)})"
    )
    seconds = sorted(with_anomalies.seconds + without.seconds)
    p95 = seconds[int(0.95 * (len(seconds) - 1))]
    print(
        f"analysis of one channel's sync: median {statistics.median(seconds):.3f}s, p95 {p95:.3f}s, "
        f"max {seconds[-1]:.3f}s over {len(seconds)} syncs"
    )
    print(f"benchmark ran {time.perf_counter() - started:.0f}s\n")
    print(
        f"insights_precision={precision:.3f} insights_recall={recall:.3f} "
        f"false_alarms_per_1k={false_per_1k:.3f} detection_delay_days={delay:.2f} "
        f"channel_analysis_s={seconds[-1]:.3f}"
    )


if __name__ == "__main__":
    main()
