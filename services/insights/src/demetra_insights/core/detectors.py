"""The detectors: one sync's newest complete day of a channel, scored against each campaign's baseline.

Driver decomposition. Spend S is what the buyer controls (budget, delivery); the rest explains what the
spend bought:
    social (facebook, instagram, tiktok bill per impression):  conversions = S / CPM x 1000 x CTR x CVR
    google_ads (bills per click):                              conversions = S / CPC x CVR
    revenue = conversions x order value;  CPA = S / conversions;  ROAS = revenue / S

Each kind, with its test (z from ``baselines.py``, on the maturity-corrected values of ``maturity.py``):
    spend_spike / spend_drop  z(spend) >= +z_alert / <= -z_alert and spend >= / <= the usual x / over
                              min_spend_ratio; money = spend above / below the usual
    spend_pacing              the last pacing_days all above the usual and none a spike, their mean excess
                              >= log(pacing_min_ratio) and its z (scale / sqrt(days)) >= z_pacing; money = the
                              excess over those days. Catches the +40% for days that no single day shows
    cpm_spike / cpc_spike     z(price) >= z_alert and price >= min_ratio x usual; money = what the day's
                              volume cost above the usual price
    ctr_drop                  z(CTR) <= -z_alert and CTR <= usual / min_ratio; money = spend buying the lost
                              clicks (social) or the lost clicks at the usual CPC (google_ads)
    conversion_rate_drop      z(CVR) <= -z_alert and CVR <= usual / min_ratio; money = spend that bought no
                              conversion it usually would
    tracking_break            the newest days in a row (up to max_silent_days) report no conversion while
                              spending, and the conversions they should have reported by now (clicks x
                              usual CVR x maturity, summed) >= min_expected_conversions: a small campaign's
                              break is seen once enough silent days add up; money = their spend
    cpa_spike / roas_drop     z(CPA) >= z_derived / z(ROAS) <= -z_derived with the same min_ratio; only
                              when no driver above fired (a compound of smaller moves); a ROAS drop also
                              needs the order value itself down (z <= -z_resolve): otherwise CPA is the
                              story; money = spend above the usual CPA / revenue below the usual ROAS

One root cause per anomaly: a conversion-rate drop also raises CPA and lowers ROAS; reporting all three
would triple every incident. So CPA and ROAS are consequences of any driver that fired (price, CTR, CVR,
tracking) and are only reported when none did; when CPA rose and two or more drivers each carry at least
root_cause_share of its log change (they moved together), the drivers give way to one cpa_spike that
names them all; a tracking break is not also a conversion-rate drop; on
google_ads a CTR drop is not also a spend drop (the clicks, hence the spend, fell with it). The
consequences are named in the driver's explanation.

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

from demetra_common.contracts import Channel, InsightKind
from demetra_insights.core.baselines import (
    Baseline,
    Vector,
    quiet_nan,
    robust_baseline,
    safe_log,
    weekday_factors,
)
from demetra_insights.core.insight import Insight, InsightKey, severity_for
from demetra_insights.core.maturity import maturity_factors
from demetra_insights.core.panel import ChannelPanel, Matrix

Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class DetectorParams:
    baseline_days: int = 28  # trailing window before the evaluated day (4 of each weekday)
    min_history_days: int = 14  # valid days in the window; fewer: the campaign is learning
    z_alert: float = 4.5  # robust z of a driver (many tests per campaign-day: keep false alarms rare)
    z_derived: float = 4.5  # CPA / ROAS, tested only where no driver moved
    z_pacing: float = 4.5
    z_resolve: float = 2.5  # an open insight resolves once its metric is back within this
    scale_floor: float = 0.06  # log units: no campaign is "normal" within less than +-6% a day
    scale_pool_days: float = 14.0  # weight of the channel's typical scale in each campaign's
    min_ratio: float = 1.6  # a rate must move by at least x1.6 to matter
    min_spend_ratio: float = 2.0  # spend must double (or halve) in a day; smaller runs are pacing
    pacing_days: int = 3
    pacing_min_ratio: float = 1.3
    resolve_ratio: float = 1.25  # or back within +-25% of the usual
    min_money: float = 25.0  # account currency: smaller changes are not worth a buyer's attention
    min_expected_conversions: float = 2.0  # a zero below this is plausible chance
    max_silent_days: int = 7  # a tracking break's evidence: up to this many silent days summed
    root_cause_share: float = 0.3  # a driver carrying this share of a CPA rise contributes to it
    warning_money: float = 100.0
    critical_money: float = 500.0
    maturity_min_campaigns: int = 30
    maturity_min_mature_days: int = 7


@dataclass(frozen=True, eq=False)
class _Score:
    """One metric on the evaluated day, per campaign, against its baseline."""

    observed: Vector
    expected: Vector
    z: Vector
    ready: Mask
    residual: Matrix  # deseasonalised log value - baseline median, every column of the window and the day
    baseline: Baseline
    seasonal: Vector  # the expected log value of each column: median + weekday factor

    @property
    def ratio(self) -> Vector:
        with quiet_nan():
            return self.observed / self.expected


def _score(values: Matrix, weekdays: npt.NDArray[np.int64], params: DetectorParams) -> _Score:
    """Score the last column of ``values`` (log metric) against the columns before it."""
    window = values[:, :-1]
    factors = weekday_factors(window, weekdays[:-1])
    deseasonalised = values - factors[weekdays]
    baseline = robust_baseline(deseasonalised[:, :-1], params.scale_floor, params.scale_pool_days)
    residual = deseasonalised - baseline.centre[:, None]
    expected_log = baseline.centre[:, None] + factors[weekdays][None, :]
    with quiet_nan():
        observed = np.exp(values[:, -1])
        expected = np.exp(expected_log[:, -1])
        z = residual[:, -1] / baseline.scale
    ready = baseline.history >= params.min_history_days
    return _Score(observed, expected, z, ready, residual, baseline, expected_log)


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
        self.first = max(0, column - params.baseline_days)
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
        self.window_cost, self.window_clicks = cost, clicks
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
            "roas": safe_log(revenue, cost),
            "aov": safe_log(revenue, conversions),
        }
        self.scores = {name: _score(values, weekdays, params) for name, values in logs.items()}

    # --- the tests -----------------------------------------------------------------------------------
    def judge(self) -> tuple[list[Insight], set[InsightKey]]:
        p, s = self.params, self.scores
        spend, price, ctr, cvr, cpa, roas = (s[k] for k in ("spend", "price", "ctr", "cvr", "cpa", "roas"))
        with quiet_nan():
            money = {
                InsightKind.SPEND_SPIKE: self.spend - spend.expected,
                InsightKind.SPEND_DROP: spend.expected - self.spend,
                InsightKind.SPEND_PACING: self._pacing_excess(),
                self.price_kind: self.spend * (1.0 - 1.0 / price.ratio),
                InsightKind.CTR_DROP: (
                    self.spend * (1.0 - ctr.ratio)
                    if self.social
                    else self.impressions * (ctr.expected - ctr.observed) * price.expected
                ),
                InsightKind.CONVERSION_RATE_DROP: self.spend * (1.0 - cvr.ratio),
                InsightKind.TRACKING_BREAK: self.silent_spend,
                InsightKind.CPA_SPIKE: self.spend * (1.0 - 1.0 / cpa.ratio),
                InsightKind.ROAS_DROP: self.spend * (roas.expected - roas.observed),
            }
            material = {kind: amount >= p.min_money for kind, amount in money.items()}
            up = 1.0 / p.min_ratio
            fired: dict[InsightKind, Mask] = {
                InsightKind.SPEND_SPIKE: spend.ready
                & (spend.z >= p.z_alert)
                & (spend.ratio >= p.min_spend_ratio),
                # Confirmed by the day before: a campaign's last day is partial (it ends mid-day), and
                # an ended campaign has no next day to confirm it.
                InsightKind.SPEND_DROP: spend.ready
                & (spend.z <= -p.z_alert)
                & (spend.ratio <= 1.0 / p.min_spend_ratio)
                & (spend.residual[:, -2] <= -math.log(p.min_spend_ratio)),
                InsightKind.SPEND_PACING: spend.ready & self._pacing(),
                self.price_kind: price.ready & (price.z >= p.z_alert) & (price.ratio >= p.min_ratio),
                InsightKind.CTR_DROP: ctr.ready & (ctr.z <= -p.z_alert) & (ctr.ratio <= up),
                InsightKind.CONVERSION_RATE_DROP: cvr.ready & (cvr.z <= -p.z_alert) & (cvr.ratio <= up),
                InsightKind.TRACKING_BREAK: cvr.ready
                & (self.silent_days > 0)
                & (self.expected_conversions_by_now >= p.min_expected_conversions),
                InsightKind.CPA_SPIKE: cpa.ready & (cpa.z >= p.z_derived) & (cpa.ratio >= p.min_ratio),
                InsightKind.ROAS_DROP: roas.ready
                & (roas.z <= -p.z_derived)
                & (roas.ratio <= up)
                & (self.scores["aov"].z <= -p.z_resolve),
            }
        fired = {kind: mask & material[kind] for kind, mask in fired.items()}
        self._keep_root_causes(fired)
        insights = [
            self._insight(kind, int(row), float(money[kind][row]))
            for kind, mask in fired.items()
            for row in np.flatnonzero(mask)
        ]
        return insights, self._within_normal()

    @property
    def price_kind(self) -> InsightKind:
        return InsightKind.CPM_SPIKE if self.social else InsightKind.CPC_SPIKE

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

    def _pacing_window(self) -> slice:
        return slice(-self.params.pacing_days, None)

    def _pacing(self) -> Mask:
        p, spend = self.params, self.scores["spend"]
        recent = spend.residual[:, self._pacing_window()]
        with quiet_nan():
            mean = recent.mean(axis=1)
            z = mean / (spend.baseline.scale / math.sqrt(p.pacing_days))
            rising = (recent > 0).all(axis=1) & (mean >= math.log(p.pacing_min_ratio))
            # Each day above the usual, none extreme on its own (that is a spike, already reported).
            spike = (recent / spend.baseline.scale[:, None] >= p.z_alert) & (
                recent >= math.log(p.min_spend_ratio)
            )
            # and below a doubling on average (a bigger rise over days is a spike, not pacing)
            moderate = ~spike.any(axis=1) & (mean < math.log(p.min_spend_ratio))
            paced: Mask = rising & moderate & (z >= p.z_pacing)
        return paced

    def _pacing_excess(self) -> Vector:
        spend = self.scores["spend"]
        recent = self.panel.cost[:, self.first : self.column + 1][:, self._pacing_window()]
        usual = np.exp(spend.seasonal[:, self._pacing_window()])
        return np.asarray((recent - usual).sum(axis=1), dtype=np.float64)

    def _keep_root_causes(self, fired: dict[InsightKind, Mask]) -> None:
        p, cpa = self.params, self.scores["cpa"]
        with quiet_nan():
            cpa_up = cpa.ready & (cpa.z >= p.z_derived) & (cpa.ratio >= p.min_ratio)
            cpa_move = np.log(cpa.ratio)
            # log CPA is the sum of the drivers' logs: when two or more drivers each carry a real share
            # of a CPA rise, no one of them is the cause; they are one compound CPA spike.
            contributing = sum(
                (np.log(self.scores[name].ratio) * sign / cpa_move >= p.root_cause_share).astype(int)
                for name, sign in self._cpa_drivers().values()
            )
            compound = cpa_up & (contributing >= 2)
            for kind in self._cpa_drivers():
                fired[kind] &= ~compound
        drivers = (
            fired[self.price_kind]
            | fired[InsightKind.CTR_DROP]
            | fired[InsightKind.CONVERSION_RATE_DROP]
            | fired[InsightKind.TRACKING_BREAK]
        )
        fired[InsightKind.CONVERSION_RATE_DROP] &= ~fired[InsightKind.TRACKING_BREAK]
        fired[InsightKind.CPA_SPIKE] &= ~drivers
        fired[InsightKind.ROAS_DROP] &= ~(drivers | fired[InsightKind.CPA_SPIKE])
        fired[InsightKind.SPEND_PACING] &= ~fired[InsightKind.SPEND_SPIKE]
        if not self.social:
            fired[InsightKind.SPEND_DROP] &= ~fired[InsightKind.CTR_DROP]
        other = InsightKind.CPC_SPIKE if self.social else InsightKind.CPM_SPIKE
        fired.pop(other, None)

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

        spend = s["spend"]
        with quiet_nan():
            pacing_mean = spend.residual[:, self._pacing_window()].mean(axis=1)
            pacing_normal = np.isfinite(spend.z) & (
                pacing_mean / (spend.baseline.scale / math.sqrt(p.pacing_days)) < p.z_resolve
            )
        normal: dict[InsightKind, Mask] = {
            InsightKind.SPEND_SPIKE: below(spend),
            InsightKind.SPEND_DROP: above(spend),
            InsightKind.SPEND_PACING: pacing_normal,
            self.price_kind: below(s["price"]),
            InsightKind.CTR_DROP: above(s["ctr"]),
            InsightKind.CONVERSION_RATE_DROP: above(s["cvr"]),
            InsightKind.TRACKING_BREAK: self.reported_conversions > 0,
            InsightKind.CPA_SPIKE: below(s["cpa"]),
            InsightKind.ROAS_DROP: above(s["roas"]),
        }
        channel = self.panel.channel
        return {
            (channel, self.ids[row], kind) for kind, mask in normal.items() for row in np.flatnonzero(mask)
        }

    # --- the words -----------------------------------------------------------------------------------
    def _insight(self, kind: InsightKind, row: int, money: float) -> Insight:
        p = self.params
        metric, observed, expected, sentence = _EXPLAIN[kind](self, row, money)
        first_day = self.day
        if kind is InsightKind.SPEND_PACING:
            first_day -= dt.timedelta(days=p.pacing_days - 1)
        elif kind is InsightKind.TRACKING_BREAK:
            first_day -= dt.timedelta(days=int(self.silent_days[row]) - 1)
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
            first_day=first_day,
            last_day=self.day,
            metric=metric,
            observed=observed,
            expected=expected,
            baseline_from=self.panel.day(self.first),
            baseline_to=self.panel.day(self.column - 1),
            money_at_stake=round(money, 2),
            explanation=subject + sentence,
        )

    def _pair(self, name: str, row: int) -> tuple[float, float]:
        score = self.scores[name]
        return float(score.observed[row]), float(score.expected[row])

    def _consequences(self, row: int) -> str:
        cpa_now, cpa_usual = self._pair("cpa", row)
        roas_now, roas_usual = self._pair("roas", row)
        parts = []
        if math.isfinite(cpa_now) and math.isfinite(cpa_usual):
            parts.append(f"CPA {_money(cpa_now)} (usually {_money(cpa_usual)})")
        if math.isfinite(roas_now) and math.isfinite(roas_usual):
            parts.append(f"ROAS {roas_now:.2f} (usually {roas_usual:.2f})")
        return " and ".join(parts) if parts else "CPA and ROAS move with it"


def _money(amount: float) -> str:
    return f"{amount:,.0f}" if abs(amount) >= 100 else f"{amount:,.2f}"


def _ratio(pair: tuple[float, float]) -> float:
    return pair[0] / pair[1]


def _change(ratio: float) -> str:
    return f"{ratio - 1.0:+.0%}"


Said = tuple[str, float, float, str]  # metric, observed, expected, the sentence
Explainer = Callable[[_Rows, int, float], Said]


def _spend_spike(rows: _Rows, row: int, money: float) -> Said:
    now, usual = rows._pair("spend", row)
    text = (
        f"Spend jumped to {_money(now)} on {rows.day:%a %d %b}, {now / usual:.1f}x the usual "
        f"{_money(usual)} for a {rows.day:%A}: {_money(money)} more than planned went out in one day."
    )
    return "spend", now, usual, text


def _spend_drop(rows: _Rows, row: int, money: float) -> Said:
    now, usual = rows._pair("spend", row)
    text = (
        f"Spend fell to {_money(now)} on {rows.day:%a %d %b} from the usual {_money(usual)} for a "
        f"{rows.day:%A} ({_change(now / usual)}): delivery stalled and {_money(money)} of planned "
        "budget did not run (check budget, bids, approvals and audience)."
    )
    return "spend", now, usual, text


def _spend_pacing(rows: _Rows, row: int, money: float) -> Said:
    days = rows.params.pacing_days
    usual = float(np.exp(rows.scores["spend"].seasonal[row, -days:]).sum())
    now = usual + money
    text = (
        f"Spend has run ahead of pace for {days} days: {_money(now)} against the usual {_money(usual)} "
        f"({_change(now / usual)}), {_money(money)} over plan so far; at this pace the budget ends early."
    )
    return "spend", now, usual, text


def _price_spike(rows: _Rows, row: int, money: float) -> Said:
    now, usual = rows._pair("price", row)
    unit, bought = ("CPM", "impressions") if rows.social else ("CPC", "clicks")
    text = (
        f"{unit} rose to {now:.2f} from the usual {usual:.2f} ({now / usual:.1f}x) on "
        f"{rows.day:%a %d %b}: the same budget bought {1 - usual / now:.0%} fewer {bought}, pushing "
        f"{rows._consequences(row)}; about {_money(money)} paid above the usual price (auction "
        "pressure or a bid change)."
    )
    return unit.lower(), now, usual, text


def _ctr_drop(rows: _Rows, row: int, money: float) -> Said:
    now, usual = rows._pair("ctr", row)
    effect = (
        f"each click now costs more, pushing {rows._consequences(row)}"
        if rows.social
        else "clicks and spend fell with it"
    )
    text = (
        f"CTR fell to {now:.2%} from the usual {usual:.2%} on {rows.day:%a %d %b} "
        f"({_change(now / usual)}): {effect}; about {_money(money)} at stake (creative fatigue, a "
        "broken ad or a placement change)."
    )
    return "ctr", now, usual, text


def _cvr_drop(rows: _Rows, row: int, money: float) -> Said:
    now, usual = rows._pair("cvr", row)
    text = (
        f"Conversion rate fell to {now:.2%} from the usual {usual:.2%} on {rows.day:%a %d %b} "
        f"(allowing for conversions still to be attributed), so {rows._consequences(row)}; about "
        f"{_money(money)} of spend bought none of the conversions it usually does (check the landing "
        "page and the offer)."
    )
    return "conversion_rate", now, usual, text


def _tracking_break(rows: _Rows, row: int, money: float) -> Said:
    usual = float(rows.expected_conversions_by_now[row])
    days = int(rows.silent_days[row])
    since = "on" if days == 1 else f"for {days} days up to"
    text = (
        f"No conversion recorded {since} {rows.day:%a %d %b} although {_money(money)} was spent and "
        f"about {usual:.0f} were expected by now: tracking looks broken (pixel, tag or postback), so "
        "this campaign's CPA and ROAS are blind."
    )
    return "conversions", 0.0, usual, text


def _cpa_spike(rows: _Rows, row: int, money: float) -> Said:
    now, usual = rows._pair("cpa", row)
    drivers = (("price", "CPM" if rows.social else "CPC"), ("ctr", "CTR"), ("cvr", "conversion rate"))
    moves = [f"{label} {_change(_ratio(rows._pair(name, row)))}" for name, label in drivers]
    text = (
        f"CPA rose to {_money(now)} from the usual {_money(usual)} ({now / usual:.1f}x) on "
        f"{rows.day:%a %d %b} with no single cause ({', '.join(moves)}); about {_money(money)} of spend "
        "above the usual cost per conversion."
    )
    return "cpa", now, usual, text


def _roas_drop(rows: _Rows, row: int, money: float) -> Said:
    now, usual = rows._pair("roas", row)
    order_now, order_usual = rows._pair("aov", row)
    text = (
        f"ROAS fell to {now:.2f} from the usual {usual:.2f} on {rows.day:%a %d %b} while conversions "
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
