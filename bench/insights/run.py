"""Insights benchmark: how good the detectors are, measured against labelled anomalies, in one run.

    uv run --frozen python bench/insights/run.py [--campaigns 2000] [--days 90] [--rate 0.25]
        [--first-day 2026-06-01] [--cache DIR]

1. The daily mock of the ingestors (``demetra_mock.mock_campaign_days``): 4 channels x ``--campaigns``
   running campaigns (a 60-day life, launches and ends at any hour, so first and last days are partial and
   some campaigns are always learning), over ``--days`` scored days after WARMUP_DAYS of backfilled
   history from ``--first-day`` (a baseline for every campaign; facebook's 28-day attribution window has
   mature days from the first scored sync). The mock has no seed: everything is a function of (channel,
   campaign, date), so another first day is another draw of every campaign, its noise and its anomalies.
2. Labelled anomalies: every fetch goes through ``demetra_mock.anomalies.inject_anomalies`` at ``--rate``
   (as the ingestor's mock source does with MOCK_ANOMALY_RATE); ``ground_truth`` turns the labels into
   what is scored (see there: a label counts when a buyer could see it in the days a platform reports).
   They go to the scoring only.
3. One sync per scored day d and channel, as the daily sync sees it: at 06:00 UTC on d + 1 it fetches d
   and the channel's lookback (its attribution window), the store keeps the newest fetch of every day, so
   recent days' conversions are immature; the panel is what the insights service loads (every campaign
   with a row in the baseline window up to d), ``analyse`` judges d and ``reconcile`` opens / updates /
   resolves insights. The same syncs without injection give the clean run.
4. Scored: precision (opened campaign insights of the label's kind within its days) and recall (labels
   detected) per kind and overall, detection delay (sync day - the label's first day), the time of one
   channel's analysis, and the same run at rate 0 for false alarms per 1,000 clean campaign-days.

``--cache DIR`` saves every fetch (the mock's days with and without the anomalies) and replays them when
the same run is asked for again: half of a run or more is generating the mock, so a detector change is
measured in less than half the time. The file names carry the arguments and a digest of demetra_mock's
sources.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import itertools
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

import demetra_mock
from demetra_common.contracts import ALL_CHANNELS, ATTRIBUTION_WINDOW_DAYS, CampaignDay, Channel
from demetra_insights.core import ChannelPanel, DetectorParams, Insight, analyse, reconcile
from demetra_insights.core.panel import METRICS
from demetra_mock import campaigns_running, mock_campaign_days
from demetra_mock.anomalies import (
    BLOCK_DAYS,
    CONVERSION_RATE_DROP,
    CPA_SPIKE,
    CPC_SPIKE,
    CPM_SPIKE,
    CTR_DROP,
    ID_PREFIXES,
    ROAS_DROP,
    SPEND_DROP,
    SPEND_PACING,
    SPEND_SPIKE,
    TRACKING_BREAK,
    AnomalyLabel,
    anomaly_labels,
    inject_anomalies,
)

Matrix = npt.NDArray[np.float64]
FIRST_DAY = dt.date(2026, 6, 1)
WARMUP_DAYS = 56
SYNC_TIME = dt.time(6)  # the daily sync judging day d runs at 06:00 UTC on d + 1
PARAMS = DetectorParams()


@dataclass(frozen=True)
class Period:
    """The simulated days: ``warmup`` backfilled days from ``first_day``, then ``scored`` days, one sync each.
    The mock is a pure function of (channel, campaign, date), so another first day is another draw of
    every campaign's noise, its launches and its anomalies."""

    first_day: dt.date
    scored: int
    warmup: int = WARMUP_DAYS

    @property
    def days(self) -> int:
        return self.warmup + self.scored

    def day(self, column: int) -> dt.date:
        return self.first_day + dt.timedelta(days=column)

    def column(self, day: dt.date) -> int:
        return (day - self.first_day).days

    def sync_moment(self, column: int) -> dt.datetime:
        """When the daily sync that judges day ``column`` runs: the morning after it."""
        return dt.datetime.combine(self.day(column + 1), SYNC_TIME, tzinfo=dt.UTC)


@dataclass(frozen=True, eq=False)
class Fetched:
    """One fetch's campaign-days: each cell's store row and column, and its METRICS (one row each) as the
    mock reported them and with the anomalies injected."""

    rows: npt.NDArray[np.int64]
    columns: npt.NDArray[np.int64]
    clean: Matrix
    anomalous: Matrix


@dataclass(frozen=True, eq=False)
class Store:
    """One channel's ``campaign_daily`` as the loader keeps it: a cell per (campaign, day) holding what the
    newest fetch of that day reported (NaN: never reported). Row r is the catalogue index indices[r]."""

    channel: Channel
    period: Period
    indices: range
    impressions: Matrix
    clicks: Matrix
    cost: Matrix
    conversions: Matrix
    revenue: Matrix

    @classmethod
    def empty(cls, channel: Channel, period: Period, indices: range) -> Store:
        def unknown() -> Matrix:
            return np.full((len(indices), period.days), np.nan)

        return cls(channel, period, indices, unknown(), unknown(), unknown(), unknown(), unknown())

    def write(self, fetched: Fetched, values: Matrix) -> None:
        """The loader keeps the newest fetch of each day: the cells are overwritten."""
        for name, row in zip(METRICS, values, strict=True):
            getattr(self, name)[fetched.rows, fetched.columns] = row

    def campaign_id(self, row: int) -> str:
        return f"{ID_PREFIXES[self.channel]}_{self.indices[row]:08d}"

    def panel(self, first: int, last: int) -> ChannelPanel:
        """What the insights service loads for the sync judging column ``last``: every campaign with a row
        in columns first..last."""
        columns = slice(first, last + 1)
        rows = np.flatnonzero(np.isfinite(self.cost[:, columns]).any(axis=1))
        return ChannelPanel(
            self.channel,
            tuple(self.campaign_id(int(row)) for row in rows),
            self.period.day(first),
            self.period.day(last + 1),
            *(getattr(self, name)[rows, columns] for name in METRICS),
        )

    def launches(self) -> dict[str, int]:
        """Each campaign's first reported column (its launch day, or the first day of the data)."""
        reported = np.isfinite(self.cost)
        return {
            self.campaign_id(row): int(np.argmax(reported[row]))
            for row in np.flatnonzero(reported.any(axis=1)).tolist()
        }


@dataclass(frozen=True)
class Truth:
    """A label of the ground truth, clipped to the days its campaign ran, and why it is not scored (None:
    it is): see ``ground_truth``."""

    label: AnomalyLabel
    unscored: str | None = None


MIN_DAYS = {SPEND_PACING: 5}  # a kind that is only itself over this many days (pacing: a sustained overspend)


def ground_truth(clean: Store, anomalous: Store, rate: float) -> list[Truth]:
    """Every label of the channel's campaigns overlapping the scored days, clipped to the days each ran.
    A label is scored (recall counts it; an alert of its kind within its days is right) unless:
    - its campaign was still learning when it started (fewer than min_history_days): by design the
      detectors say nothing yet;
    - it is not wholly inside the scored days: a sync saw only part of it;
    - fewer than its kind's MIN_DAYS (else 1) of its days were complete days of the campaign: its last day
      is partial (the mock ends a campaign at any hour), and a day's total does not show the rate of the
      hours it ran, so a spike, a drop or a pacing there is not in the data a platform reports;
    - the money it moved over its complete days (``label_money``, the anomalous days against the same
      days without it) is under min_money: the product does not alert on changes too small to matter.
    Alerts of any kind within an unscored label are not counted either way."""
    period = clean.period
    reported = np.isfinite(clean.cost)
    first, last = period.day(period.warmup), period.day(period.days - 1)
    spread = dt.timedelta(days=BLOCK_DAYS)  # labels overlapping the scored days, whole
    launches = clean.launches()
    truths = []
    for label in anomaly_labels(clean.channel, clean.indices, first - spread, last + spread, rate):
        row = label.campaign_index - clean.indices.start
        ran = np.flatnonzero(reported[row])
        if label.end < first or label.start > last or not ran.size:
            continue
        clipped = replace(
            label,
            start=max(label.start, period.day(int(ran[0]))),
            end=min(label.end, period.day(int(ran[-1]))),
        )
        if clipped.start > clipped.end:
            continue
        # The campaign's last reported day is its partial end day, unless it ran on past the data.
        complete_end = int(ran[-1]) - (1 if ran[-1] < period.days - 1 else 0)
        columns = np.arange(period.column(clipped.start), min(period.column(clipped.end), complete_end) + 1)
        if period.column(label.start) - launches[label.campaign_id] < PARAMS.min_history_days:
            reason = "learning"
        elif label.start < first or label.end > last:
            reason = "not wholly in the scored days"
        elif columns.size < MIN_DAYS.get(label.kind, 1):
            reason = "too few complete days"
        elif label_money(clean, anomalous, row, columns, label.kind) < PARAMS.min_money:
            reason = "under min_money"
        else:
            reason = None
        truths.append(Truth(clipped, reason))
    return truths


def label_money(clean: Store, anomalous: Store, row: int, columns: npt.NDArray[np.int64], kind: str) -> float:
    """The money a label moved on those days, measured as the detectors measure its kind's money at stake
    (``demetra_insights.core.detectors``), with the same days without the anomaly as the usual."""

    def metric(store: Store, name: str) -> Matrix:
        return np.asarray(getattr(store, name)[row, columns], dtype=np.float64)

    cost, usual_cost = metric(anomalous, "cost"), metric(clean, "cost")

    def rate(store: Store, numerator: str, denominator: str) -> Matrix:
        return metric(store, numerator) / metric(store, denominator)

    with np.errstate(divide="ignore", invalid="ignore"):
        google = clean.channel is Channel.GOOGLE_ADS
        price = ("cost", "clicks") if google else ("cost", "impressions")
        money = {
            SPEND_SPIKE: cost - usual_cost,
            SPEND_PACING: cost - usual_cost,
            SPEND_DROP: usual_cost - cost,
            CPM_SPIKE: cost * (1 - rate(clean, *price) / rate(anomalous, *price)),
            CPC_SPIKE: cost * (1 - rate(clean, *price) / rate(anomalous, *price)),
            CTR_DROP: usual_cost - cost
            if google
            else cost * (1 - rate(anomalous, "clicks", "impressions") / rate(clean, "clicks", "impressions")),
            CONVERSION_RATE_DROP: cost
            * (1 - rate(anomalous, "conversions", "clicks") / rate(clean, "conversions", "clicks")),
            TRACKING_BREAK: cost,
            CPA_SPIKE: cost
            * (1 - rate(clean, "cost", "conversions") / rate(anomalous, "cost", "conversions")),
            ROAS_DROP: cost * (rate(clean, "revenue", "cost") - rate(anomalous, "revenue", "cost")),
        }[kind]
    return float(np.nansum(money))


def fetch(
    channel: Channel, period: Period, first: int, last: int, as_of: dt.datetime, size: int, rate: float
) -> Fetched:
    """One fetch of columns ``first..last`` at ``as_of``, as the ingestor's mock source serves it:
    ``demetra_mock.mock_campaign_days``, then ``inject_anomalies`` per campaign (the anomalous cells)."""
    date_from, date_to = period.day(first), period.day(last)
    rows: list[int] = []
    columns: list[int] = []
    reported: list[CampaignDay] = []
    injected: list[CampaignDay] = []
    running = campaigns_running(as_of, size, date_from, date_to)
    reports = mock_campaign_days(channel, as_of, size, date_from, date_to)
    for index, campaign in zip(running, reports, strict=True):
        rows += [index] * len(campaign.days)
        columns += [period.column(day.date) for day in campaign.days]
        reported += campaign.days
        injected += inject_anomalies(channel, index, campaign.days, rate)

    def values(days: list[CampaignDay]) -> Matrix:
        return np.array([[getattr(day, name) for day in days] for name in METRICS], dtype=np.float64)

    return Fetched(
        np.asarray(rows, dtype=np.int64),
        np.asarray(columns, dtype=np.int64),
        values(reported),
        values(injected),
    )


def channel_fetches(
    channel: Channel, period: Period, indices: range, size: int, rate: float
) -> Iterator[Fetched]:
    """A backfill of the warm-up days, then one fetch per scored day d at the morning after d, of d and the
    lookback of the channel's attribution window (as SYNC_LOOKBACK_DAYS defaults). Rows are store rows."""
    lookback = ATTRIBUTION_WINDOW_DAYS[channel]
    windows = [(0, period.warmup - 1)] + [
        (max(0, column - lookback), column) for column in range(period.warmup, period.days)
    ]
    for first, last in windows:
        fetched = fetch(channel, period, first, last, period.sync_moment(last), size, rate)
        yield replace(fetched, rows=fetched.rows - indices.start)


class FetchCache:
    """The fetches of a run saved under a directory, one file per channel, named by everything they depend
    on (the run's arguments and the sources of ``demetra_mock``): detector changes replay the same data in
    a fraction of the time (generating the mock's days is most of a run)."""

    def __init__(self, directory: Path, period: Period, size: int, rate: float) -> None:
        sources = sorted(Path(demetra_mock.__file__).parent.glob("*.py"))
        digest = hashlib.sha256(b"".join(path.read_bytes() for path in sources))
        digest.update(f"{period}:{size}:{rate}:{SYNC_TIME}".encode())
        self.directory, self.key = directory, digest.hexdigest()[:16]

    def path(self, channel: Channel) -> Path:
        return self.directory / f"insights-{channel.value}-{self.key}.npz"

    def load(self, channel: Channel) -> list[Fetched] | None:
        if not self.path(channel).exists():
            return None
        with np.load(self.path(channel)) as saved:
            bounds = saved["bounds"].tolist()
            arrays = [saved[name] for name in ("rows", "columns", "clean", "anomalous")]
        return [
            Fetched(
                arrays[0][start:end].astype(np.int64),
                arrays[1][start:end].astype(np.int64),
                arrays[2][:, start:end],
                arrays[3][:, start:end],
            )
            for start, end in itertools.pairwise(bounds)
        ]

    def save(self, channel: Channel, fetches: list[Fetched]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        sizes = [len(fetched.rows) for fetched in fetches]
        temporary = self.path(channel).with_suffix(".partial.npz")
        np.savez(
            temporary,
            bounds=np.cumsum([0, *sizes]),
            rows=np.concatenate([f.rows for f in fetches]).astype(np.int32),
            columns=np.concatenate([f.columns for f in fetches]).astype(np.int16),
            clean=np.concatenate([f.clean for f in fetches], axis=1),
            anomalous=np.concatenate([f.anomalous for f in fetches], axis=1),
        )
        temporary.replace(self.path(channel))


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
    truths: list[Truth]
    fetched_s: float
    cached: bool

    def timed(self, fetches: Iterable[Fetched]) -> Iterator[Fetched]:
        """The fetches, the time spent producing them (generating or loading) added to fetched_s."""
        iterator = iter(fetches)
        while True:
            started = time.perf_counter()
            fetched = next(iterator, None)
            self.fetched_s += time.perf_counter() - started
            if fetched is None:
                return
            yield fetched


def simulate(period: Period, size: int, rate: float, cache: FetchCache | None = None) -> Simulation:
    """Per channel: the fetches of ``channel_fetches``, each scored day's followed by the analysis of that
    day over what the store then holds, with and without the injected anomalies."""
    simulation = Simulation(Run.new(), Run.new(), [], 0.0, cached=False)
    last = period.days - 1
    for channel in ALL_CHANNELS:
        span = PARAMS.history_days(channel)
        indices = campaigns_running(period.sync_moment(last), size, period.first_day, period.day(last))
        clean, anomalous = (Store.empty(channel, period, indices) for _ in range(2))
        started = time.perf_counter()
        saved = cache.load(channel) if cache else None
        simulation.fetched_s += time.perf_counter() - started
        simulation.cached = saved is not None
        fetches = simulation.timed(
            saved if saved is not None else channel_fetches(channel, period, indices, size, rate)
        )
        kept: list[Fetched] = []
        for column, fetched in zip(range(period.warmup - 1, period.days), fetches, strict=True):
            clean.write(fetched, fetched.clean)
            anomalous.write(fetched, fetched.anomalous)
            if cache and saved is None:
                kept.append(fetched)
            if column < period.warmup:
                continue  # the backfill of the warm-up days: no sync judges them
            first = max(0, column - span + 1)
            simulation.with_anomalies.sync(anomalous.panel(first, column))
            simulation.without.sync(clean.panel(first, column))
        if cache and saved is None:
            cache.save(channel, kept)
        simulation.truths += ground_truth(clean, anomalous, rate)
    return simulation


@dataclass
class KindScore:
    labels: int = 0
    detected: int = 0
    opened: int = 0
    true: int = 0
    delays: list[int] | None = None


def score(run: Run, truths: list[Truth]) -> tuple[dict[str, KindScore], Counter[str], Counter[str]]:
    """Per kind: the scored labels and those detected, the alerts opened outside unscored labels and those
    of a label's kind; the wrong alerts by what they were; the unscored labels by why."""
    by_campaign: dict[str, list[Truth]] = defaultdict(list)
    for truth in truths:
        by_campaign[truth.label.campaign_id].append(truth)
    kinds: dict[str, KindScore] = defaultdict(lambda: KindScore(delays=[]))
    unscored: Counter[str] = Counter()
    for truth in truths:
        label = truth.label
        if truth.unscored:
            unscored[truth.unscored] += 1
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
        around = [
            t for t in by_campaign.get(insight.campaign_id or "", []) if t.label.covers(insight.last_day)
        ]
        if any(t.unscored for t in around):
            continue
        entry.opened += 1
        if any(t.label.kind == insight.kind.value for t in around):
            entry.true += 1
        else:
            context = f"during {around[0].label.kind}" if around else "on a clean day"
            false_kinds[f"{insight.kind.value} {context}"] += 1
    return kinds, false_kinds, unscored


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=2000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--rate", type=float, default=0.25)
    parser.add_argument(
        "--first-day",
        type=dt.date.fromisoformat,
        default=FIRST_DAY,
        help="the first warm-up day: another period is another draw of the whole mock (default %(default)s)",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        help="save the fetches here, or replay them when this run's already are (detector changes only)",
    )
    args = parser.parse_args()
    started = time.perf_counter()
    period = Period(args.first_day, args.days)
    cache = FetchCache(args.cache, period, args.campaigns, args.rate) if args.cache else None
    simulation = simulate(period, args.campaigns, args.rate, cache)
    with_anomalies, without, truths = simulation.with_anomalies, simulation.without, simulation.truths
    print(
        f"data: demetra_mock's daily source, {len(ALL_CHANNELS)} channels x {args.campaigns} active "
        f"campaigns x {args.days} scored days (+{WARMUP_DAYS} warm-up days backfilled), one sync per day and "
        f"channel at {SYNC_TIME:%H:%M} UTC the morning after (lookback: the attribution window); "
        f"{len(truths)} labels at rate {args.rate} from {period.first_day}; "
        f"{'loading the saved fetches' if simulation.cached else 'fetching and injecting'} took "
        f"{simulation.fetched_s:.1f}s"
    )
    kinds, false_kinds, unscored = score(with_anomalies, truths)

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
    print(f"\nlabels not scored ({sum(unscored.values())}, see ground_truth): {dict(unscored.most_common())}")
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
