"""Insights benchmark: how good the detectors are, measured against labelled anomalies, in one run.

    uv run --frozen python bench/insights/run.py [--campaigns 2000] [--days 90] [--rate 0.25]

1. The daily mock of the ingestors (``demetra_mock.mock_campaign_days``): 4 channels x ``--campaigns``
   running campaigns (a 60-day life, launches and ends at any hour, so first and last days are partial and
   some campaigns are always learning), over ``--days`` scored days after WARMUP_DAYS of backfilled
   history (a baseline for every campaign; facebook's 28-day attribution window has mature days from the
   first scored sync).
2. Labelled anomalies: every fetch goes through ``demetra_mock.anomalies.inject_anomalies`` at ``--rate``
   (as the ingestor's mock source does with MOCK_ANOMALY_RATE); ``anomaly_labels`` of the scored days,
   clipped to the days each campaign ran, are the ground truth. They go to the scoring only.
3. One sync per scored day d and channel, as the daily sync sees it: at 06:00 UTC on d + 1 it fetches d
   and the channel's lookback (its attribution window), the store keeps the newest fetch of every day, so
   recent days' conversions are immature; the panel is what the insights service loads (every campaign
   with a row in the baseline window up to d), ``analyse`` judges d and ``reconcile`` opens / updates /
   resolves insights. The same syncs without injection give the clean run.
4. Scored: precision (opened campaign insights of the label's kind within its days) and recall (labels
   detected) per kind and overall, detection delay (sync day - the label's first day), the time of one
   channel's analysis, and the same run at rate 0 for false alarms per 1,000 clean campaign-days.
Labels on campaigns still learning when they start (fewer than min_history_days of history) are not
scored: by design nothing is said about them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from demetra_common.contracts import ALL_CHANNELS, ATTRIBUTION_WINDOW_DAYS, CampaignDay, Channel
from demetra_insights.core import ChannelPanel, DetectorParams, Insight, analyse, reconcile
from demetra_insights.core.panel import METRICS
from demetra_mock import campaigns_running, mock_campaign_days
from demetra_mock.anomalies import ID_PREFIXES, AnomalyLabel, anomaly_labels, inject_anomalies

Matrix = npt.NDArray[np.float64]
FIRST_DAY = dt.date(2026, 6, 1)
WARMUP_DAYS = 56
SYNC_TIME = dt.time(6)  # the daily sync judging day d runs at 06:00 UTC on d + 1
PARAMS = DetectorParams()


@dataclass(frozen=True, eq=False)
class Store:
    """One channel's ``campaign_daily`` as the loader keeps it: a cell per (campaign, day) holding what the
    newest fetch of that day reported (NaN: never reported). Row r is the catalogue index indices[r]."""

    channel: Channel
    indices: range
    impressions: Matrix
    clicks: Matrix
    cost: Matrix
    conversions: Matrix
    revenue: Matrix

    @classmethod
    def empty(cls, channel: Channel, indices: range, days: int) -> Store:
        def unknown() -> Matrix:
            return np.full((len(indices), days), np.nan)

        return cls(channel, indices, unknown(), unknown(), unknown(), unknown(), unknown())

    def write(self, rows: list[int], columns: list[int], days: list[CampaignDay]) -> None:
        at = (np.asarray(rows, dtype=np.int64), np.asarray(columns, dtype=np.int64))
        for name in METRICS:
            getattr(self, name)[at] = np.array([getattr(day, name) for day in days], dtype=np.float64)

    def campaign_id(self, row: int) -> str:
        return f"{ID_PREFIXES[self.channel]}_{self.indices[row]:08d}"

    def panel(self, first: int, last: int, as_of: dt.date) -> ChannelPanel:
        """What the insights service loads for a sync: every campaign with a row in columns first..last."""
        columns = slice(first, last + 1)
        rows = np.flatnonzero(np.isfinite(self.cost[:, columns]).any(axis=1))
        return ChannelPanel(
            self.channel,
            tuple(self.campaign_id(int(row)) for row in rows),
            _day(first),
            as_of,
            *(getattr(self, name)[rows, columns] for name in METRICS),
        )

    def launches(self) -> dict[str, int]:
        """Each campaign's first reported column (its launch day, or the first day of the data)."""
        reported = np.isfinite(self.cost)
        return {
            self.campaign_id(row): int(np.argmax(reported[row]))
            for row in np.flatnonzero(reported.any(axis=1)).tolist()
        }

    def labels(self, first_scored: int, rate: float) -> list[AnomalyLabel]:
        """The ground truth: ``anomaly_labels`` of the scored days, clipped to the days each campaign ran."""
        reported = np.isfinite(self.cost)
        labels = []
        last_day = _day(self.cost.shape[1] - 1)
        for label in anomaly_labels(self.channel, self.indices, _day(first_scored), last_day, rate):
            ran = np.flatnonzero(reported[label.campaign_index - self.indices.start])
            if not ran.size:
                continue
            start, end = max(label.start, _day(int(ran[0]))), min(label.end, _day(int(ran[-1])))
            if start <= end:
                labels.append(replace(label, start=start, end=end))
        return labels


def fetch(
    clean: Store, anomalous: Store, first: int, last: int, as_of: dt.datetime, size: int, rate: float
) -> None:
    """One fetch of columns ``first..last`` at ``as_of``, as the ingestor's mock source serves it:
    ``demetra_mock.mock_campaign_days``, then (the anomalous store only) ``inject_anomalies`` per campaign.
    The loader keeps the newest fetch of each day: the cells are overwritten."""
    channel = clean.channel
    date_from, date_to = _day(first), _day(last)
    rows: list[int] = []
    columns: list[int] = []
    reported: list[CampaignDay] = []
    injected: list[CampaignDay] = []
    running = campaigns_running(as_of, size, date_from, date_to)
    reports = mock_campaign_days(channel, as_of, size, date_from, date_to)
    for index, campaign in zip(running, reports, strict=True):
        rows += [index - clean.indices.start] * len(campaign.days)
        columns += [(day.date - FIRST_DAY).days for day in campaign.days]
        reported += campaign.days
        injected += inject_anomalies(channel, index, campaign.days, rate)
    clean.write(rows, columns, reported)
    anomalous.write(rows, columns, injected)


def _day(column: int) -> dt.date:
    return FIRST_DAY + dt.timedelta(days=column)


def _sync_moment(column: int) -> dt.datetime:
    """When the daily sync that judges day ``column`` runs: the morning after it."""
    return dt.datetime.combine(_day(column + 1), SYNC_TIME, tzinfo=dt.UTC)


@dataclass
class Run:
    opened: list[Insight]
    channel_opened: list[Insight]
    detections: dict[tuple[str, str], list[dt.date]]  # (campaign_id, kind) -> days it was (re)detected
    evaluated_campaign_days: int
    seconds: list[float]
    open_insights: dict[tuple[object, ...], Insight]

    @classmethod
    def new(cls) -> Run:
        return cls([], [], defaultdict(list), 0, [], {})

    def sync(self, panel: ChannelPanel) -> None:
        """The insights service's work for one ChannelLoaded: analyse the newest complete day, reconcile."""
        started = time.perf_counter()
        analysis = analyse(panel, params=PARAMS)
        self.seconds.append(time.perf_counter() - started)
        self.evaluated_campaign_days += analysis.evaluated
        changes = reconcile(self.open_insights.values(), analysis)
        for insight in changes.resolved:
            del self.open_insights[insight.key]
        for insight in changes.opened + changes.updated:
            self.open_insights[insight.key] = insight
            if insight.campaign_id is not None:
                self.detections[(insight.campaign_id, insight.kind.value)].append(insight.last_day)
        for insight in changes.opened:
            (self.opened if insight.campaign_id is not None else self.channel_opened).append(insight)


@dataclass
class Simulation:
    with_anomalies: Run
    without: Run
    labels: list[AnomalyLabel]
    launches: dict[str, int]
    fetched_s: float


def simulate(size: int, scored_days: int, rate: float) -> Simulation:
    """Per channel: a backfill of the warm-up days, then one sync per scored day d at the morning after d
    (fetching d and the lookback of the channel's attribution window, as SYNC_LOOKBACK_DAYS defaults), each
    followed by the analysis of d over what the store then holds, with and without the injected anomalies."""
    days = WARMUP_DAYS + scored_days
    simulation = Simulation(Run.new(), Run.new(), [], {}, 0.0)
    for channel in ALL_CHANNELS:
        lookback = ATTRIBUTION_WINDOW_DAYS[channel]
        span = PARAMS.history_days(channel)
        indices = campaigns_running(_sync_moment(days - 1), size, FIRST_DAY, _day(days - 1))
        clean, anomalous = (Store.empty(channel, indices, days) for _ in range(2))
        started = time.perf_counter()
        fetch(clean, anomalous, 0, WARMUP_DAYS - 1, _sync_moment(WARMUP_DAYS - 1), size, rate)
        simulation.fetched_s += time.perf_counter() - started
        for column in range(WARMUP_DAYS, days):
            started = time.perf_counter()
            first_fetched = max(0, column - lookback)
            fetch(clean, anomalous, first_fetched, column, _sync_moment(column), size, rate)
            simulation.fetched_s += time.perf_counter() - started
            first = max(0, column - span + 1)
            simulation.with_anomalies.sync(anomalous.panel(first, column, _day(column + 1)))
            simulation.without.sync(clean.panel(first, column, _day(column + 1)))
        simulation.labels += anomalous.labels(WARMUP_DAYS, rate)
        simulation.launches.update(anomalous.launches())
    return simulation


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
    simulation = simulate(args.campaigns, args.days, args.rate)
    with_anomalies, without, labels = simulation.with_anomalies, simulation.without, simulation.labels
    print(
        f"data: demetra_mock's daily source, {len(ALL_CHANNELS)} channels x {args.campaigns} active "
        f"campaigns x {args.days} scored days (+{WARMUP_DAYS} warm-up days backfilled), one sync per day and "
        f"channel at {SYNC_TIME:%H:%M} UTC the morning after (lookback: the attribution window); "
        f"{len(labels)} labels at rate {args.rate}; fetching and injecting took {simulation.fetched_s:.1f}s"
    )
    kinds, false_kinds, unscored = score(with_anomalies, labels, simulation.launches)

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
