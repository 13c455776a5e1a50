"""The detectors: one sync's newest complete day of a channel, scored against each campaign's baseline.

Driver decomposition. Spend S is what the buyer controls (budget, delivery); the rest explains what the
spend bought:
    social (facebook, instagram, tiktok bill per impression):  conversions = S / CPM x 1000 x CTR x CVR
    google_ads (bills per click):                              conversions = S / CPC x CVR
    revenue = conversions x order value;  CPA = S / conversions;  ROAS = revenue / S = order value / CPA

Evidence over days. Every metric is scored as runs (``baselines.runs``): the newest k days (k = 1 ..
run_days) against the baseline of the baseline_days before them. A run "moved" when its mean log ratio
is at least log(min ratio), its mean's z reaches the kind's threshold (z_alert for one day, z_run for
longer runs, whose standard error shrinks with sqrt(k)) and every day of it moved the same way by at
least run_day_z of its own sigma. A detection is always of the day the sync loaded (the run ends on it);
its first day is the start of the longest run that moved.

Each kind, with its test (on the maturity-corrected values of ``maturity.py``):
    spend_spike               volume's (log impressions') run moved up by min_spend_ratio, and spend's
                              with it (at least half as much in log: see spend_pacing for why volume);
                              money = spend above the usual
    spend_drop                volume's run *before* the judged day moved down by min_spend_ratio, spend's
                              with it, and the judged day is low too (day z <= -run_day_z): a campaign's
                              last day is partial (it ends mid-day) and looks like a halved budget, while
                              a day followed by another of the campaign's days was complete. So a drop is
                              seen on its second day; money = planned spend that did not run over the run.
                              A price spike (fewer impressions for the same spend) is not a drop
    spend_pacing              a run of pacing_min_days .. pacing_max_days of *volume* (log impressions),
                              every day above the usual (by more than -pacing_day_z sigmas), mean rise
                              between log(pacing_min_ratio) and log(min_spend_ratio), z >= z_pacing; spend
                              rose with it (its run's mean at least half the volume's: a price fall buys
                              more impressions for the same spend), no day of it a spend spike and its
                              newest 1 .. pacing_min_days - 1 days not a spike's size on their own (a
                              spike's first days). A change of delivery moves impressions, clicks, spend
                              and conversions by the same factor; impressions carry only delivery's
                              noise, spend adds the day's CTR and CPC noise, so the same overspend is
                              more sigmas in impressions. Money = the excess spend over those days
    cpm_spike / cpc_spike     the price's run moved up by min_ratio; money = what the run's volume cost
                              above the usual price
    ctr_drop                  CTR's run moved down by min_ratio; money = spend buying the lost clicks
                              (social) or the lost clicks at the usual CPC (google_ads)
    conversion_rate_drop      CVR's run moved down by min_ratio; money = spend that bought no conversion
                              it usually would
    tracking_break            the newest days in a row (up to max_silent_days) report no conversion while
                              spending, and the conversions they should have reported by now (clicks x
                              usual CVR x maturity, summed) >= min_expected_conversions: a small campaign's
                              break is seen once enough silent days add up; money = their spend
    cpa_spike                 CPA's run (of up to cpa_run_days) rose by min_ratio, every day above the
                              usual, on the evidence of its independent drivers, CPA = CPC / CVR:
                              hypot(CPC's z up, CVR's z down) >= z_cpa. CPA's own z carries the
                              conversion rate's noise, the largest of any metric, whatever moved: CPC
                              +40% is plain on its first day, CPA x2 made of it and CVR -30% would take
                              a week in CPA's own z. And no single driver carries it (see below); money
                              = spend above the usual CPA
    roas_drop                 the order value's run moved down by min_ratio (ROAS = order value / CPA:
                              the order value is the driver of a ROAS drop that conversions do not
                              explain, and is far less noisy than ROAS) and ROAS is down too; money =
                              revenue below the usual ROAS

One root cause per anomaly: a conversion-rate drop also raises CPA and lowers ROAS; reporting all three
would triple every incident. log CPA is the sum of its drivers' logs (price up, CTR and CVR down), so when
CPA moved, each driver's share of their moves over the run says who did it, counting only the moves beyond
noise (the driver's z >= z_driver: else CVR's noise takes a share of a price spike): a driver with at
least dominant_share is the cause (its kind is reported, if it moved itself, and CPA is not); with no
dominant driver the drivers moved together and are one cpa_spike naming them all. A tracking break is not
also a conversion-rate drop; on google_ads a CTR drop is not also a spend drop (the clicks, hence the
spend, fell with it). The consequences are named in the driver's explanation.

Every kind also needs: min_history_days of valid history in the baseline window (else the campaign is
"learning") and money_at_stake >= min_money (smaller changes do not matter). Severity from money.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import numpy.typing as npt

from demetra_common.contracts import ATTRIBUTION_WINDOW_DAYS, Channel, InsightKind
from demetra_insights.core.baselines import (
    Baseline,
    Run,
    Vector,
    age_factors,
    quiet_nan,
    runs,
    safe_log,
    weekday_factors,
)
from demetra_insights.core.insight import Insight, InsightKey, severity_for
from demetra_insights.core.maturity import maturity_factors
from demetra_insights.core.panel import ChannelPanel, Matrix

Mask = npt.NDArray[np.bool_]
Lengths = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class DetectorParams:
    baseline_days: int = 28  # trailing window before the evaluated run (4 of each weekday)
    min_history_days: int = 14  # valid days in the window; fewer: the campaign is learning
    z_alert: float = 4.5  # robust z of one day (many tests per campaign-day: keep false alarms rare)
    z_run: float = 4.6  # z of a run's mean over 2 .. run_days days
    run_days: int = 4  # the longest run the spike / drop / rate detectors add up
    cpa_run_days: int = 7  # CPA's runs (and its drivers', to attribute them): CVR's noise is in CPA's
    run_day_z: float = 1.0  # every day of a run moved at least this many of its sigmas the same way
    z_pacing: float = 3.6  # a 4-8 day run of volume (impressions)
    pacing_day_z: float = 0.0  # no day of a pacing run below the usual by more than this many sigmas
    z_resolve: float = 2.5  # an open insight resolves once its metric is back within this
    scale_floor: float = 0.06  # log units: no campaign is "normal" within less than +-6% a day
    scale_spread_floor: float = 0.05  # log units: campaigns' noise scales differ by at least this
    min_ratio: float = 1.6  # a rate must move by at least x1.6 (a run's mean) to matter
    min_spend_ratio: float = 2.0  # spend must double (or halve); smaller runs are pacing
    pacing_min_days: int = 4
    pacing_max_days: int = 8
    pacing_min_ratio: float = 1.3
    ramp_days: int = 14  # a campaign's first days, corrected by the channel's launch profile
    resolve_ratio: float = 1.25  # or back within +-25% of the usual
    min_money: float = 25.0  # account currency: smaller changes are not worth a buyer's attention
    min_expected_conversions: float = 2.0  # a zero below this is plausible chance
    max_silent_days: int = 7  # a tracking break's evidence: up to this many silent days summed
    dominant_share: float = 0.7  # a driver carrying this share of a CPA rise is its cause
    z_cpa: float = 4.9  # CPA's evidence from CPC and CVR together (two one-sided tests: above z_run)
    z_driver: float = 2.0  # a driver's move counts in CPA's attribution from this z on
    warning_money: float = 100.0
    critical_money: float = 500.0
    maturity_min_campaigns: int = 30
    maturity_min_mature_days: int = 7

    @property
    def longest_run(self) -> int:
        return max(self.run_days + 1, self.pacing_max_days, self.cpa_run_days)

    def history_days(self, channel: Channel) -> int:
        """Days of rows before a judged day that the detectors use: the baseline window before the
        longest run, and the attribution window as well so that the maturity estimate has mature days
        to compare with."""
        return self.baseline_days + max(self.longest_run - 1, ATTRIBUTION_WINDOW_DAYS[channel]) + 1


@dataclass(frozen=True, eq=False)
class _Score:
    """One metric on the evaluated day, per campaign, against its baseline, and its runs up to that day."""

    observed: Vector
    expected: Vector
    z: Vector
    ready: Mask
    residual: Matrix  # deseasonalised log value - the one-day baseline's median, every column
    baseline: Baseline
    seasonal: Matrix  # the expected log value of each cell: median + weekday and age factors
    runs: list[Run]

    @property
    def ratio(self) -> Vector:
        with quiet_nan():
            return self.observed / self.expected

    def run(self, days: int) -> Run:
        return self.runs[days - 1]


def _score(
    values: Matrix,
    weekdays: npt.NDArray[np.int64],
    ages: npt.NDArray[np.int64],
    params: DetectorParams,
    longest: int,
) -> _Score:
    """Score the last column of ``values`` (log metric) and its runs against the columns before them."""
    days, horizon = params.baseline_days, params.ramp_days
    factors = weekday_factors(values[:, -days - 1 : -1], weekdays[-days - 1 : -1])
    weekly = values - factors[weekdays]
    ramp = age_factors(weekly[:, :-1], ages[:, :-1], horizon)
    young = np.where(ages < horizon, ramp[np.clip(ages, 0, horizon - 1)], 0.0)
    season = factors[weekdays][None, :] + young
    deseasonalised = values - season
    scored = runs(
        deseasonalised,
        season,
        baseline_days=days,
        longest=longest,
        min_history=params.min_history_days,
        floor=params.scale_floor,
        spread_floor=params.scale_spread_floor,
    )
    one = scored[0]
    baseline = one.baseline
    with quiet_nan():
        observed = np.exp(values[:, -1])
        expected = np.exp(one.expected_log[:, -1])
    ready = baseline.history >= params.min_history_days
    residual = deseasonalised - baseline.centre[:, None]
    seasonal = baseline.centre[:, None] + season
    return _Score(observed, expected, one.z, ready, residual, baseline, seasonal, scored)


@dataclass(frozen=True, eq=False)
class Analysis:
    """What one analysis of one channel's day found, and which (campaign, kind) are back within normal."""

    channel: Channel
    day: dt.date
    insights: tuple[Insight, ...]
    within_normal: frozenset[InsightKey]
    learning: int  # campaigns running that day without enough history to judge
    evaluated: int  # campaigns running that day and judged
    maturity: Vector = field(repr=False)


def analyse(
    panel: ChannelPanel,
    day: dt.date | None = None,
    params: DetectorParams | None = None,
    *,
    channel_level: bool = True,
) -> Analysis:
    """Judge ``day`` (default: the newest complete day, as_of - 1) for every campaign of the panel, and the
    channel's total when ``channel_level``. A restated day is re-judged by calling this with that day."""
    params = params or DetectorParams()
    day = day or panel.as_of - dt.timedelta(days=1)
    column = panel.column(day)
    maturity = maturity_factors(
        panel,
        reference_days=params.baseline_days,
        min_mature_days=params.maturity_min_mature_days,
        min_campaigns=params.maturity_min_campaigns,
    )
    campaigns = _Rows(panel, column, params, maturity, tuple(panel.campaign_ids))
    insights, normal = campaigns.judge()
    if channel_level:
        total = _Rows(panel.channel_total(), column, params, maturity, (None,))
        channel_insights, channel_normal = total.judge()
        insights += channel_insights
        normal |= channel_normal
    running = np.isfinite(panel.cost[:, column])
    learning = int((running & ~campaigns.scores["spend"].ready).sum())
    return Analysis(
        panel.channel,
        day,
        tuple(insights),
        frozenset(normal),
        learning,
        int(running.sum()) - learning,
        maturity,
    )


Hits = dict[int, tuple[Mask, Vector]]  # run length -> (rows whose run of that length moved, its |z|)


def _strongest(hits: Hits, size: int) -> Lengths:
    """Per row, the run length that moved with the largest |z| (0: none moved): the scan statistic's
    estimate of when the change began, so a normal day before it that happened to lean the same way
    does not become the anomaly's first day."""
    lengths = np.zeros(size, dtype=np.int64)
    best = np.full(size, -np.inf)
    for days, (mask, z) in hits.items():
        better = mask & (np.nan_to_num(z, nan=-np.inf) > best)
        lengths = np.where(better, days, lengths)
        best = np.where(better, z, best)
    return lengths


class _Rows:
    """The detectors over the rows of one panel (campaigns, or the channel's one total row)."""

    def __init__(
        self,
        panel: ChannelPanel,
        column: int,
        params: DetectorParams,
        maturity: Vector,
        ids: tuple[str | None, ...],
    ) -> None:
        self.panel, self.params, self.ids = panel, params, ids
        self.first = max(0, column - params.baseline_days - params.longest_run + 1)
        self.column = column
        window = slice(self.first, column + 1)
        weekdays = panel.weekdays()[window]
        self.day = panel.day(column)
        self.social = panel.channel is not Channel.GOOGLE_ADS
        self.maturity = float(maturity[column])
        cost, impressions, clicks = (
            panel.cost[:, window],
            panel.impressions[:, window],
            panel.clicks[:, window],
        )
        with quiet_nan():
            conversions = panel.conversions[:, window] / maturity[window]
            revenue = panel.revenue[:, window] / maturity[window]
        self.window_cost, self.window_clicks, self.window_impressions = cost, clicks, impressions
        self.window_conversions = panel.conversions[:, window]
        self.window_maturity = maturity[window][None, :]
        self.spend = cost[:, -1]
        self.impressions = impressions[:, -1]
        self.clicks = clicks[:, -1]
        self.reported_conversions = panel.conversions[:, column]
        logs = {
            "spend": np.where(np.isfinite(cost), safe_log(np.maximum(cost, 0.01)), np.nan),
            "price": safe_log(cost * 1000.0, impressions) if self.social else safe_log(cost, clicks),
            "ctr": safe_log(clicks, impressions),
            "cvr": safe_log(conversions, clicks),
            "cpa": safe_log(cost, conversions),
            "cpc": safe_log(cost, clicks),
            "roas": safe_log(revenue, cost),
            "aov": safe_log(revenue, conversions),
            "volume": safe_log(impressions),
        }
        # Days since each campaign's first reported day where the panel shows it; a campaign reported
        # from the panel's first day on may be older and counts as settled.
        reported = np.isfinite(panel.cost)
        launch = np.argmax(reported, axis=1)
        columns = np.arange(self.first, column + 1)[None, :]
        ages = np.where((launch > 0)[:, None], columns - launch[:, None], params.ramp_days)
        cpa = params.cpa_run_days
        longest = {
            "spend": params.longest_run,
            "volume": params.longest_run,
            "cpa": cpa,
            "price": cpa,
            "ctr": cpa,
            "cvr": cpa,
            "cpc": cpa,
        }
        self.scores = {
            name: _score(values, weekdays, ages, params, longest.get(name, params.run_days))
            for name, values in logs.items()
            if name != "cpc" or self.social
        }
        if not self.social:
            self.scores["cpc"] = self.scores["price"]  # google_ads's price is its CPC
        self.lengths: dict[InsightKind, Lengths] = {}

    # --- the tests -----------------------------------------------------------------------------------
    def _moved(self, name: str, sign: float, ratio: float, longest: int | None = None) -> Hits:
        """Run length (up to ``longest``, default run_days) -> rows whose run of that length moved (see the
        module), and its |z|."""
        p, score = self.params, self.scores[name]
        return {
            run.days: (
                run.moved(sign, p.z_alert if run.days == 1 else p.z_run, ratio, p.run_day_z),
                sign * run.z,
            )
            for run in score.runs[: longest or p.run_days]
        }

    def _cpa_rises(self) -> Hits:
        """CPA's runs that rose by min_ratio, every day above the usual, with the evidence of its two
        independent drivers: CPA = CPC / CVR, and hypot(CPC's z up, CVR's z down) >= z_cpa. CPA's own z
        carries the conversion rate's noise (the largest) whatever moved; a CPC that rose by a third on
        a metric with a tenth of CVR's noise is plain long before CPA's own mean is."""
        p, s = self.params, self.scores
        hits: Hits = {}
        for cpa, cpc, cvr in zip(s["cpa"].runs, s["cpc"].runs, s["cvr"].runs, strict=True):
            with quiet_nan():
                evidence = np.hypot(np.fmax(cpc.z, 0.0), np.fmax(-cvr.z, 0.0))
                hits[cpa.days] = (
                    cpa.ready
                    & (cpa.mean >= math.log(p.min_ratio))
                    & (cpa.daily.min(axis=1) > 0)
                    & (evidence >= p.z_cpa),
                    evidence,
                )
        return hits

    def _spend_spikes(self) -> Hits:
        """Volume's runs that moved up by min_spend_ratio, spend with them (see the module)."""
        volume, spend = self.scores["volume"], self.scores["spend"]
        hits = self._moved("volume", 1.0, self.params.min_spend_ratio)
        with quiet_nan():
            return {
                days: (moved & spend.run(days).ready & (spend.run(days).mean >= volume.run(days).mean / 2), z)
                for days, (moved, z) in hits.items()
            }

    def _spend_drops(self) -> Hits:
        """A drop of the days before the judged one (complete: the campaign ran on after them), the judged
        day low too. Length: the days including the judged one."""
        p, volume, spend = self.params, self.scores["volume"], self.scores["spend"]
        hits: Hits = {}
        for run in volume.runs[1 : p.run_days + 1]:
            spent = spend.run(run.days)
            with quiet_nan():
                before = run.daily[:, :-1]
                days = before.shape[1]
                z = before.mean(axis=1) * math.sqrt(days)
                mean = (before * run.baseline.scale[:, None]).mean(axis=1)
                spent_mean = (spent.daily[:, :-1] * spent.baseline.scale[:, None]).mean(axis=1)
                hits[run.days] = (
                    run.ready
                    & spent.ready
                    & (z <= -(p.z_alert if days == 1 else p.z_run))
                    & (mean <= -math.log(p.min_spend_ratio))
                    & (spent_mean <= mean / 2)
                    & (before.max(axis=1) <= -p.run_day_z)
                    & (run.daily[:, -1] <= -p.run_day_z),
                    -z,
                )
        return hits

    def _pacing(self) -> Hits:
        """A sustained overspend judged on its volume (see the module); spend rose with it, by at least
        half as much in log (a price fall buys more impressions for the same spend: not an overspend)."""
        p, volume, spend = self.params, self.scores["volume"], self.scores["spend"]
        hits: Hits = {}
        with quiet_nan():  # a spike's first days: its newest days alone moved a spike's size
            spiking = np.zeros(len(self.ids), dtype=np.bool_)
            for recent in volume.runs[: p.pacing_min_days - 1]:
                spiking |= (recent.mean >= math.log(p.min_spend_ratio)) & (recent.z >= p.z_pacing)
        for run in volume.runs[p.pacing_min_days - 1 : p.pacing_max_days]:
            spent = spend.run(run.days)
            with quiet_nan():
                spike = (spent.daily >= p.z_alert) & (
                    spent.daily * spent.baseline.scale[:, None] >= math.log(p.min_spend_ratio)
                )
                hits[run.days] = (
                    run.ready
                    & spent.ready
                    & (run.z >= p.z_pacing)
                    & (run.mean >= math.log(p.pacing_min_ratio))
                    & (run.mean < math.log(p.min_spend_ratio))
                    & (spent.mean >= run.mean / 2)
                    & (run.daily.min(axis=1) > -p.pacing_day_z)
                    & ~spike.any(axis=1)
                    & ~spiking,
                    run.z,
                )
        return hits

    def judge(self) -> tuple[list[Insight], set[InsightKey]]:
        p = self.params
        down = -1.0
        hits: dict[InsightKind, Hits] = {
            InsightKind.SPEND_SPIKE: self._spend_spikes(),
            InsightKind.SPEND_DROP: self._spend_drops(),
            InsightKind.SPEND_PACING: self._pacing(),
            self.price_kind: self._moved("price", 1.0, p.min_ratio),
            InsightKind.CTR_DROP: self._moved("ctr", down, p.min_ratio),
            InsightKind.CONVERSION_RATE_DROP: self._moved("cvr", down, p.min_ratio),
            InsightKind.CPA_SPIKE: self._cpa_rises(),
            InsightKind.ROAS_DROP: self._moved("aov", down, p.min_ratio),
        }
        size = len(self.ids)
        self.lengths = {kind: _strongest(masks, size) for kind, masks in hits.items()}
        self.lengths[InsightKind.TRACKING_BREAK] = np.where(
            self.scores["cvr"].ready
            & (self.silent_days > 0)
            & (self.expected_conversions_by_now >= p.min_expected_conversions),
            self.silent_days,
            0,
        )
        roas = self.scores["roas"]
        self.lengths[InsightKind.ROAS_DROP] = np.where(
            self._run_value(roas, self.lengths[InsightKind.ROAS_DROP], "mean") < 0,
            self.lengths[InsightKind.ROAS_DROP],
            0,
        )
        self._keep_root_causes()
        insights = []
        for kind, lengths in self.lengths.items():
            money = self._money(kind, lengths)
            for row in np.flatnonzero((lengths > 0) & (money >= p.min_money)):
                insights.append(self._insight(kind, int(row), float(money[row])))
        return insights, self._within_normal()

    @property
    def price_kind(self) -> InsightKind:
        return InsightKind.CPM_SPIKE if self.social else InsightKind.CPC_SPIKE

    def _run_value(self, score: _Score, lengths: Lengths, attribute: str) -> Vector:
        """Per row, ``attribute`` of the score's run of that row's length (NaN where the length is 0)."""
        values = np.full(lengths.shape, np.nan)
        for run in score.runs:
            values = np.where(lengths == run.days, getattr(run, attribute), values)
        return values

    def _daily(self, lengths: Lengths, name: str) -> tuple[Matrix, Mask]:
        """Per row and window column: the metric's log ratio to the usual on the days of the row's run
        (0 elsewhere), and a mask of those days."""
        score = self.scores[name]
        width = self.window_cost.shape[1]
        ratio = np.zeros((len(self.ids), width))
        inside = np.zeros((len(self.ids), width), dtype=np.bool_)
        for run in score.runs:
            rows = lengths == run.days
            if not rows.any():
                continue
            with quiet_nan():
                log_ratio = run.daily * run.baseline.scale[:, None]
            ratio[rows, width - run.days :] = log_ratio[rows]
            inside[rows, width - run.days :] = True
        return np.nan_to_num(ratio), inside

    def _usual(self, lengths: Lengths, name: str) -> Matrix:
        """Per row and window column: the metric's usual value on the days of the row's run, 0 elsewhere."""
        score = self.scores[name]
        width = self.window_cost.shape[1]
        usual = np.zeros((len(self.ids), width))
        for run in score.runs:
            rows = lengths == run.days
            if rows.any():
                with quiet_nan():
                    usual[rows, width - run.days :] = np.exp(run.expected_log[rows])
        return np.nan_to_num(usual)

    def _money(self, kind: InsightKind, lengths: Lengths) -> Vector:
        """The money at stake over each row's run (see the module); 0 where nothing fired."""
        cost = np.nan_to_num(self.window_cost)

        def over_run(name: str, per_day: Callable[[Matrix, Matrix], Matrix]) -> Vector:
            ratio, inside = self._daily(lengths, name)
            with quiet_nan():
                amount = np.where(inside, per_day(ratio, self._usual(lengths, name)), 0.0)
            return np.asarray(np.nan_to_num(amount).sum(axis=1), dtype=np.float64)

        if kind is InsightKind.TRACKING_BREAK:
            return self.silent_spend
        if kind is InsightKind.SPEND_SPIKE:
            return over_run("spend", lambda _r, usual: cost - usual)
        if kind in (InsightKind.SPEND_DROP,):
            return over_run("spend", lambda _r, usual: usual - cost)
        if kind is InsightKind.SPEND_PACING:
            return over_run("spend", lambda _r, usual: cost - usual)
        if kind is self.price_kind:
            return over_run("price", lambda r, _u: cost * (1.0 - np.exp(-r)))
        if kind is InsightKind.CTR_DROP:
            if self.social:
                return over_run("ctr", lambda r, _u: cost * (1.0 - np.exp(r)))
            price = self._usual(lengths, "price")
            clicks = np.nan_to_num(self.window_impressions)
            return over_run("ctr", lambda r, usual: clicks * usual * (1.0 - np.exp(r)) * price)
        if kind is InsightKind.CONVERSION_RATE_DROP:
            return over_run("cvr", lambda r, _u: cost * (1.0 - np.exp(r)))
        if kind is InsightKind.CPA_SPIKE:
            return over_run("cpa", lambda r, _u: cost * (1.0 - np.exp(-r)))
        # ROAS_DROP: revenue below the usual ROAS for the spend, over the order value's run
        return over_run("roas", lambda r, usual: cost * usual * (1.0 - np.exp(r)))

    @cached_property
    def _silence(self) -> tuple[npt.NDArray[np.int64], Mask]:
        """Per campaign: how many of the newest days (up to max_silent_days) in a row reported no
        conversion while spending, and a mask of those days over the window's columns."""
        silent = (self.window_conversions == 0) & (self.window_cost > 0)
        newest_first = silent[:, ::-1][:, : self.params.max_silent_days]
        run = np.cumprod(newest_first, axis=1).astype(bool)
        mask = np.zeros_like(silent)
        mask[:, ::-1][:, : run.shape[1]] = run
        return run.sum(axis=1), mask

    @cached_property
    def silent_days(self) -> npt.NDArray[np.int64]:
        return self._silence[0]

    @cached_property
    def silent_spend(self) -> Vector:
        return np.asarray(np.where(self._silence[1], self.window_cost, 0.0).sum(axis=1), dtype=np.float64)

    @cached_property
    def expected_conversions_by_now(self) -> Vector:
        """Conversions the silent days would have reported by now: clicks x usual CVR x maturity."""
        with quiet_nan():
            usual = self.window_clicks * np.exp(self.scores["cvr"].seasonal) * self.window_maturity
            return np.asarray(np.where(self._silence[1], usual, 0.0).sum(axis=1), dtype=np.float64)

    def _keep_root_causes(self) -> None:
        """One root cause per anomaly (see the module)."""
        p, lengths = self.params, self.lengths
        cpa = lengths[InsightKind.CPA_SPIKE]
        dominant = np.zeros(len(self.ids), dtype=np.bool_)
        with quiet_nan():
            # Each driver's signed share of the drivers' moves that are beyond noise (z >= z_driver): a
            # driver that did not move is not given a share of the conversion rate's noise.
            moves = {}
            for kind, (name, sign) in self._cpa_drivers().items():
                move = sign * self._run_value(self.scores[name], cpa, "mean")
                z = sign * self._run_value(self.scores[name], cpa, "z")
                moves[kind] = np.where(z >= p.z_driver, move, 0.0)
            cpa_move = sum(moves.values())
            for kind, move in moves.items():
                share = move / cpa_move
                carries = (cpa > 0) & (share >= p.dominant_share)
                dominant |= carries
                # A driver that moved while CPA rose without it carrying the rise is part of a compound.
                lengths[kind] = np.where((cpa > 0) & ~carries, 0, lengths[kind])
        lengths[InsightKind.CPA_SPIKE] = np.where(dominant, 0, cpa)
        tracking = lengths[InsightKind.TRACKING_BREAK] > 0
        drivers = (
            (lengths[self.price_kind] > 0)
            | (lengths[InsightKind.CTR_DROP] > 0)
            | (lengths[InsightKind.CONVERSION_RATE_DROP] > 0)
            | tracking
        )
        lengths[InsightKind.CONVERSION_RATE_DROP] = np.where(
            tracking, 0, lengths[InsightKind.CONVERSION_RATE_DROP]
        )
        lengths[InsightKind.CPA_SPIKE] = np.where(drivers, 0, lengths[InsightKind.CPA_SPIKE])
        lengths[InsightKind.ROAS_DROP] = np.where(
            tracking | (lengths[InsightKind.CPA_SPIKE] > 0), 0, lengths[InsightKind.ROAS_DROP]
        )
        lengths[InsightKind.SPEND_PACING] = np.where(
            lengths[InsightKind.SPEND_SPIKE] > 0, 0, lengths[InsightKind.SPEND_PACING]
        )
        if not self.social:
            lengths[InsightKind.SPEND_DROP] = np.where(
                lengths[InsightKind.CTR_DROP] > 0, 0, lengths[InsightKind.SPEND_DROP]
            )

    def _cpa_drivers(self) -> dict[InsightKind, tuple[str, float]]:
        """The kinds whose metric makes CPA, with the sign of its effect (price up, rates down)."""
        drivers = {self.price_kind: ("price", 1.0), InsightKind.CONVERSION_RATE_DROP: ("cvr", -1.0)}
        return {**drivers, InsightKind.CTR_DROP: ("ctr", -1.0)} if self.social else drivers

    def _within_normal(self) -> set[InsightKey]:
        p, s = self.params, self.scores
        back = 1.0 / p.resolve_ratio

        def below(score: _Score) -> Mask:
            with quiet_nan():
                return np.isfinite(score.z) & ((score.z < p.z_resolve) | (score.ratio < p.resolve_ratio))

        def above(score: _Score) -> Mask:
            with quiet_nan():
                return np.isfinite(score.z) & ((score.z > -p.z_resolve) | (score.ratio > back))

        spend, volume = s["spend"], s["volume"]
        pacing = volume.run(min(p.pacing_min_days, len(volume.runs)))
        with quiet_nan():
            pacing_normal = np.isfinite(volume.z) & (pacing.z < p.z_resolve)
        normal: dict[InsightKind, Mask] = {
            InsightKind.SPEND_SPIKE: below(spend),
            InsightKind.SPEND_DROP: above(spend),
            InsightKind.SPEND_PACING: pacing_normal,
            self.price_kind: below(s["price"]),
            InsightKind.CTR_DROP: above(s["ctr"]),
            InsightKind.CONVERSION_RATE_DROP: above(s["cvr"]),
            InsightKind.TRACKING_BREAK: self.reported_conversions > 0,
            InsightKind.CPA_SPIKE: below(s["cpa"]),
            InsightKind.ROAS_DROP: above(s["aov"]) | above(s["roas"]),
        }
        channel = self.panel.channel
        return {
            (channel, self.ids[row], kind) for kind, mask in normal.items() for row in np.flatnonzero(mask)
        }

    # --- the words -----------------------------------------------------------------------------------

    def _insight(self, kind: InsightKind, row: int, money: float) -> Insight:
        p = self.params
        days = int(self.lengths[kind][row])
        metric, observed, expected, sentence = _EXPLAIN[kind](self, row, money, days)
        score = self.scores[_METRIC_OF[kind]]
        run = score.run(min(days, len(score.runs)))
        campaign_id = self.ids[row]
        subject = "" if campaign_id is not None else f"{self.panel.channel.value} as a whole: "
        return Insight(
            kind=kind,
            severity=severity_for(
                kind,
                money,
                warning_money=p.warning_money,
                critical_money=p.critical_money,
            ),
            channel=self.panel.channel,
            campaign_id=campaign_id,
            first_day=self.day - dt.timedelta(days=days - 1),
            last_day=self.day,
            metric=metric,
            observed=observed,
            expected=expected,
            baseline_from=self.panel.day(self.first + run.baseline_columns[0]),
            baseline_to=self.panel.day(self.first + run.baseline_columns[1]),
            money_at_stake=round(money, 2),
            explanation=subject + sentence,
        )

    def _pair(self, name: str, row: int, days: int = 1) -> tuple[float, float]:
        """The metric over the newest ``days`` days (their geometric mean) and its usual value."""
        score = self.scores[name]
        run = score.run(min(days, len(score.runs)))
        with quiet_nan():
            usual = float(np.mean(run.expected_log[row]))
            return math.exp(usual + float(run.mean[row])), math.exp(usual)

    def _when(self, days: int) -> str:
        return f"on {self.day:%a %d %b}" if days == 1 else f"over the {days} days to {self.day:%a %d %b}"

    def _consequences(self, row: int, days: int = 1) -> str:
        cpa_now, cpa_usual = self._pair("cpa", row, days)
        roas_now, roas_usual = self._pair("roas", row, days)
        parts = []
        if math.isfinite(cpa_now) and math.isfinite(cpa_usual):
            parts.append(f"CPA {_money(cpa_now)} (usually {_money(cpa_usual)})")
        if math.isfinite(roas_now) and math.isfinite(roas_usual):
            parts.append(f"ROAS {roas_now:.2f} (usually {roas_usual:.2f})")
        return " and ".join(parts) if parts else "CPA and ROAS move with it"


_METRIC_OF: dict[InsightKind, str] = {  # the score a kind's run is read from
    InsightKind.SPEND_SPIKE: "spend",
    InsightKind.SPEND_DROP: "spend",
    InsightKind.SPEND_PACING: "spend",
    InsightKind.CPM_SPIKE: "price",
    InsightKind.CPC_SPIKE: "price",
    InsightKind.CTR_DROP: "ctr",
    InsightKind.CONVERSION_RATE_DROP: "cvr",
    InsightKind.TRACKING_BREAK: "cvr",
    InsightKind.CPA_SPIKE: "cpa",
    InsightKind.ROAS_DROP: "aov",
}


def _money(amount: float) -> str:
    return f"{amount:,.0f}" if abs(amount) >= 100 else f"{amount:,.2f}"


def _ratio(pair: tuple[float, float]) -> float:
    return pair[0] / pair[1]


def _change(ratio: float) -> str:
    return f"{ratio - 1.0:+.0%}"


Said = tuple[str, float, float, str]  # metric, observed, expected, the sentence
Explainer = Callable[[_Rows, int, float, int], Said]


def _spend_spike(rows: _Rows, row: int, money: float, days: int) -> Said:
    now, usual = rows._pair("spend", row, days)
    per_day = "" if days == 1 else " a day"
    text = (
        f"Spend jumped to {_money(now)}{per_day} {rows._when(days)}, {now / usual:.1f}x the usual "
        f"{_money(usual)}: {_money(money)} more than planned went out."
    )
    return "spend", now, usual, text


def _spend_drop(rows: _Rows, row: int, money: float, days: int) -> Said:
    now, usual = rows._pair("spend", row, days)
    text = (
        f"Spend fell to {_money(now)} a day {rows._when(days)} from the usual {_money(usual)} "
        f"({_change(now / usual)}): delivery stalled and {_money(money)} of planned budget did not run "
        "(check budget, bids, approvals and audience)."
    )
    return "spend", now, usual, text


def _spend_pacing(rows: _Rows, row: int, money: float, days: int) -> Said:
    run = rows.scores["spend"].run(days)
    usual = float(np.exp(run.expected_log[row]).sum())
    now = usual + money
    text = (
        f"Spend has run ahead of pace for {days} days: {_money(now)} against the usual {_money(usual)} "
        f"({_change(now / usual)}), {_money(money)} over plan so far; at this pace the budget ends early."
    )
    return "spend", now, usual, text


def _price_spike(rows: _Rows, row: int, money: float, days: int) -> Said:
    now, usual = rows._pair("price", row, days)
    unit, bought = ("CPM", "impressions") if rows.social else ("CPC", "clicks")
    text = (
        f"{unit} rose to {now:.2f} from the usual {usual:.2f} ({now / usual:.1f}x) {rows._when(days)}: "
        f"the same budget bought {1 - usual / now:.0%} fewer {bought}, pushing "
        f"{rows._consequences(row, days)}; about {_money(money)} paid above the usual price (auction "
        "pressure or a bid change)."
    )
    return unit.lower(), now, usual, text


def _ctr_drop(rows: _Rows, row: int, money: float, days: int) -> Said:
    now, usual = rows._pair("ctr", row, days)
    effect = (
        f"each click now costs more, pushing {rows._consequences(row, days)}"
        if rows.social
        else "clicks and spend fell with it"
    )
    text = (
        f"CTR fell to {now:.2%} from the usual {usual:.2%} {rows._when(days)} "
        f"({_change(now / usual)}): {effect}; about {_money(money)} at stake (creative fatigue, a "
        "broken ad or a placement change)."
    )
    return "ctr", now, usual, text


def _cvr_drop(rows: _Rows, row: int, money: float, days: int) -> Said:
    now, usual = rows._pair("cvr", row, days)
    text = (
        f"Conversion rate fell to {now:.2%} from the usual {usual:.2%} {rows._when(days)} "
        f"(allowing for conversions still to be attributed), so {rows._consequences(row, days)}; about "
        f"{_money(money)} of spend bought none of the conversions it usually does (check the landing "
        "page and the offer)."
    )
    return "conversion_rate", now, usual, text


def _tracking_break(rows: _Rows, row: int, money: float, days: int) -> Said:
    usual = float(rows.expected_conversions_by_now[row])
    since = "on" if days == 1 else f"for {days} days up to"
    text = (
        f"No conversion recorded {since} {rows.day:%a %d %b} although {_money(money)} was spent and "
        f"about {usual:.0f} were expected by now: tracking looks broken (pixel, tag or postback), so "
        "this campaign's CPA and ROAS are blind."
    )
    return "conversions", 0.0, usual, text


def _cpa_spike(rows: _Rows, row: int, money: float, days: int) -> Said:
    now, usual = rows._pair("cpa", row, days)
    drivers = (("price", "CPM" if rows.social else "CPC"), ("ctr", "CTR"), ("cvr", "conversion rate"))
    moves = [f"{label} {_change(_ratio(rows._pair(name, row, days)))}" for name, label in drivers]
    text = (
        f"CPA rose to {_money(now)} from the usual {_money(usual)} ({now / usual:.1f}x) "
        f"{rows._when(days)} with no single cause ({', '.join(moves)}); about {_money(money)} of spend "
        "above the usual cost per conversion."
    )
    return "cpa", now, usual, text


def _roas_drop(rows: _Rows, row: int, money: float, days: int) -> Said:
    now, usual = rows._pair("roas", row, days)
    order_now, order_usual = rows._pair("aov", row, days)
    text = (
        f"ROAS fell to {now:.2f} from the usual {usual:.2f} {rows._when(days)} while conversions "
        f"held: the average order value dropped to {_money(order_now)} from {_money(order_usual)}, "
        f"about {_money(money)} less revenue for the spend (discounting, a cheaper product mix or a "
        "value bug)."
    )
    return "roas", now, usual, text


_EXPLAIN: dict[InsightKind, Explainer] = {
    InsightKind.SPEND_SPIKE: _spend_spike,
    InsightKind.SPEND_DROP: _spend_drop,
    InsightKind.SPEND_PACING: _spend_pacing,
    InsightKind.CPM_SPIKE: _price_spike,
    InsightKind.CPC_SPIKE: _price_spike,
    InsightKind.CTR_DROP: _ctr_drop,
    InsightKind.CONVERSION_RATE_DROP: _cvr_drop,
    InsightKind.TRACKING_BREAK: _tracking_break,
    InsightKind.CPA_SPIKE: _cpa_spike,
    InsightKind.ROAS_DROP: _roas_drop,
}
