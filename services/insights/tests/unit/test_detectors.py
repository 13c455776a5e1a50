import datetime as dt

import numpy as np
import pytest

from demetra_common.contracts import ATTRIBUTION_WINDOW_DAYS, Channel
from demetra_insights.core import InsightKind, Severity, analyse

from .series import steady

LAST = -1  # the newest complete day: what the sync that loads it judges


def kinds(analysis, campaign_id="c000"):
    return sorted(i.kind for i in analysis.insights if i.campaign_id == campaign_id)


def test_normal_noise_and_weekday_seasonality_raise_nothing() -> None:
    series = steady(campaigns=300, days=60)
    panel = series.panel()
    for column in range(30, 60):
        assert analyse(panel, series.day(column)).insights == ()


def test_spend_spike_fires_with_the_figures_a_buyer_needs() -> None:
    series = steady()
    series.scale(0, LAST, impressions=3, clicks=3, cost=3, conversions=3, revenue=3)
    analysis = analyse(series.panel())
    (insight,) = analysis.insights
    assert insight.kind is InsightKind.SPEND_SPIKE and insight.campaign_id == "c000"
    assert insight.first_day == insight.last_day == series.day(series.days - 1)
    assert 2.5 < insight.observed / insight.expected < 3.6
    assert insight.money_at_stake == pytest.approx(insight.observed - insight.expected, abs=0.01)
    assert insight.baseline_to - insight.baseline_from == dt.timedelta(days=27)
    assert insight.severity in (Severity.WARNING, Severity.CRITICAL)
    assert insight.explanation.startswith("Spend jumped to")


def test_spend_drop_fires_once_the_day_before_confirms_it() -> None:
    series = steady()
    series.scale(0, LAST, impressions=0.3, clicks=0.3, cost=0.3, conversions=0.3, revenue=0.3)
    assert kinds(analyse(series.panel())) == []  # one low day: maybe the campaign's partial last day
    series.scale(0, slice(-2, -1), impressions=0.3, clicks=0.3, cost=0.3, conversions=0.3, revenue=0.3)
    assert kinds(analyse(series.panel())) == [InsightKind.SPEND_DROP]


def test_a_weekend_high_is_not_a_spike() -> None:
    series = steady(days=48)  # day 47 is a Saturday: +42% on the weekday median, as every Saturday
    assert series.day(series.days - 1).weekday() == 5
    assert analyse(series.panel()).insights == ()


def test_a_new_campaign_is_learning_not_alerting() -> None:
    series = steady()
    series.cost[0, :-10] = np.nan  # launched 10 days ago
    series.scale(0, LAST, impressions=4, clicks=4, cost=4, conversions=4, revenue=4)
    analysis = analyse(series.panel())
    assert kinds(analysis) == []
    assert analysis.learning == 1


def test_tiny_money_is_not_worth_an_alert() -> None:
    series = steady(spend=4.0)  # a campaign spending a few units a day
    series.scale(0, LAST, impressions=4, clicks=4, cost=4, conversions=4, revenue=4)
    series.scale(1, LAST, conversions=0.25, revenue=0.25)
    assert analyse(series.panel()).insights == ()


def test_conversion_rate_drop_is_one_insight_not_three() -> None:
    series = steady()
    series.scale(0, LAST, conversions=1 / 3, revenue=1 / 3)
    (insight,) = analyse(series.panel()).insights
    assert insight.kind is InsightKind.CONVERSION_RATE_DROP
    assert "CPA" in insight.explanation and "ROAS" in insight.explanation  # the consequences, named


def test_tracking_break_is_zero_conversions_while_spend_goes_on() -> None:
    series = steady()
    series.conversions[0, LAST] = series.revenue[0, LAST] = 0.0
    (insight,) = analyse(series.panel()).insights
    assert insight.kind is InsightKind.TRACKING_BREAK
    assert insight.observed == 0 and insight.expected > 2
    assert insight.money_at_stake == pytest.approx(series.cost[0, LAST])


def test_a_small_campaigns_tracking_break_is_seen_once_silent_days_add_up() -> None:
    series = steady(spend=60.0)
    series.scale(0, slice(None), conversions=1 / 6, revenue=1 / 6)  # c000: ~1 a day, too few for a day
    series.conversions[0, -3:] = series.revenue[0, -3:] = 0.0
    assert kinds(analyse(series.panel(), series.day(series.days - 3))) == []
    (insight,) = analyse(series.panel()).insights
    assert insight.kind is InsightKind.TRACKING_BREAK
    assert insight.first_day == series.day(series.days - 3) and "for 3 days" in insight.explanation
    assert insight.money_at_stake == pytest.approx(series.cost[0, -3:].sum())


def test_drivers_that_move_together_are_one_cpa_spike() -> None:
    series = steady()
    series.scale(0, LAST, impressions=1 / 1.7, clicks=1 / 1.7, conversions=1 / 1.7**2, revenue=1 / 1.7**2)
    (insight,) = analyse(series.panel()).insights  # CPM x1.7 and CVR /1.7: each alone is an alert
    assert insight.kind is InsightKind.CPA_SPIKE
    assert "CPM +" in insight.explanation and "conversion rate -" in insight.explanation


def test_cpm_spike_on_a_social_channel() -> None:
    series = steady(Channel.INSTAGRAM)
    series.scale(0, LAST, impressions=1 / 3, clicks=1 / 3, conversions=1 / 3, revenue=1 / 3)  # budget held
    (insight,) = analyse(series.panel()).insights
    assert insight.kind is InsightKind.CPM_SPIKE and insight.metric == "cpm"


def test_cpc_spike_on_google_ads() -> None:
    series = steady(Channel.GOOGLE_ADS)
    series.scale(0, LAST, impressions=1 / 3, clicks=1 / 3, conversions=1 / 3, revenue=1 / 3)
    (insight,) = analyse(series.panel()).insights
    assert insight.kind is InsightKind.CPC_SPIKE and insight.metric == "cpc"


def test_ctr_drop_on_google_ads_is_not_also_a_spend_drop() -> None:
    series = steady(Channel.GOOGLE_ADS)
    series.scale(0, LAST, clicks=1 / 3, cost=1 / 3, conversions=1 / 3, revenue=1 / 3)  # pays per click
    assert kinds(analyse(series.panel())) == [InsightKind.CTR_DROP]


def test_ctr_drop_on_social_is_not_also_a_cpa_spike() -> None:
    series = steady(Channel.TIKTOK)
    series.scale(0, LAST, clicks=1 / 3, conversions=1 / 3, revenue=1 / 3)
    assert kinds(analyse(series.panel())) == [InsightKind.CTR_DROP]


def test_roas_drop_from_order_value() -> None:
    series = steady()
    series.scale(0, LAST, revenue=1 / 3)
    (insight,) = analyse(series.panel()).insights
    assert insight.kind is InsightKind.ROAS_DROP and "order value" in insight.explanation


def test_cpa_spike_when_small_moves_compound() -> None:
    series = steady()
    price, ctr, cvr = 1.4, 1 / 1.4, 1 / 1.4  # none alone is worth an alert; together CPA x2.7
    series.scale(0, LAST, impressions=1 / price, clicks=ctr / price, conversions=ctr * cvr / price)
    series.scale(0, LAST, revenue=ctr * cvr / price)
    assert kinds(analyse(series.panel())) == [InsightKind.CPA_SPIKE]


VOLUME = ("impressions", "clicks", "cost", "conversions", "revenue")


def test_pacing_catches_a_steady_overspend_no_single_day_shows() -> None:
    series = steady()
    series.scale(0, slice(-4, None), **dict.fromkeys(VOLUME, 1.5))
    assert kinds(analyse(series.panel(), series.day(series.days - 3))) == []  # two days: not yet a run
    (insight,) = analyse(series.panel()).insights
    assert insight.kind is InsightKind.SPEND_PACING
    assert insight.first_day == series.day(series.days - 4)
    assert insight.metric == "spend" and insight.explanation.startswith("Spend has run ahead of pace")


def test_pacing_is_seen_in_impressions_through_a_noisy_price() -> None:
    series = steady(campaigns=120, days=50, spend_noise=0.25)
    rng = np.random.default_rng(3)
    price = np.exp(rng.normal(0.0, 0.2, series.cost.shape))  # a day's CPM noise: in spend, not in volume
    series.cost *= price
    series.scale(0, slice(-8, None), **dict.fromkeys(VOLUME, 1.6))  # 3.5 sigma of spend, 4.2 of volume
    insights = analyse(series.panel()).insights
    assert [(i.campaign_id, i.kind) for i in insights] == [("c000", InsightKind.SPEND_PACING)]
    assert insights[0].money_at_stake == pytest.approx(
        float(np.sum(series.cost[0, -8:] * (1 - 1 / 1.6))), rel=0.35
    )


def test_a_spend_spike_is_seen_in_impressions_through_a_noisy_price() -> None:
    series = steady(campaigns=120, days=50, spend_noise=0.25)
    series.cost *= np.exp(np.random.default_rng(3).normal(0.0, 0.2, series.cost.shape))
    series.scale(0, slice(-2, None), **dict.fromkeys(VOLUME, 2.6))  # two days, each ~3.5 sigma of volume
    insights = analyse(series.panel()).insights
    assert [(i.campaign_id, i.kind) for i in insights] == [("c000", InsightKind.SPEND_SPIKE)]
    assert insights[0].first_day == series.day(series.days - 2)


def test_a_price_fall_is_not_overspend() -> None:
    series = steady()
    cheaper = {name: 1.5 for name in VOLUME if name != "cost"}  # the same spend buys 50% more
    series.scale(0, slice(-6, None), **cheaper)
    assert InsightKind.SPEND_PACING not in kinds(analyse(series.panel()))


def test_a_learning_campaigns_overspend_is_not_judged() -> None:
    series = steady()
    series.cost[0, :-12] = np.nan  # launched 12 days ago
    series.scale(0, slice(-6, None), **dict.fromkeys(VOLUME, 1.5))
    analysis = analyse(series.panel())
    assert kinds(analysis) == [] and analysis.learning == 1


def test_a_small_campaigns_overspend_is_not_worth_an_alert() -> None:
    series = steady(spend=4.0)  # +50% of 4 a day for 6 days: 12 over plan
    series.scale(0, slice(-6, None), **dict.fromkeys(VOLUME, 1.5))
    assert analyse(series.panel()).insights == ()


def test_late_conversions_are_not_a_conversion_drop() -> None:
    series = steady(Channel.FACEBOOK, campaigns=120, days=70)
    window = ATTRIBUTION_WINDOW_DAYS[Channel.FACEBOOK]
    ages = np.arange(series.days, 0, -1)
    maturity = np.where(ages >= window, 1.0, 1 - 0.7 * np.exp(-ages / 3))  # yesterday: 50% reported
    analysis = analyse(series.panel(maturity))
    assert analysis.insights == ()
    assert analysis.maturity[-1] == pytest.approx(maturity[-1], rel=0.05)
    assert analysis.maturity[-10] == pytest.approx(maturity[-10], rel=0.05)


def test_a_real_drop_is_seen_through_late_conversions() -> None:
    series = steady(Channel.FACEBOOK, campaigns=120, days=70)
    ages = np.arange(series.days, 0, -1)
    maturity = np.where(ages >= 28, 1.0, 1 - 0.7 * np.exp(-ages / 3))
    series.scale(0, LAST, conversions=1 / 3, revenue=1 / 3)
    assert kinds(analyse(series.panel(maturity))) == [InsightKind.CONVERSION_RATE_DROP]


def test_the_channel_total_is_judged_too() -> None:
    series = steady()
    series.cost[:, LAST] *= 3
    series.impressions[:, LAST] *= 3
    series.clicks[:, LAST] *= 3
    channel = [i for i in analyse(series.panel()).insights if i.campaign_id is None]
    assert [i.kind for i in channel] == [InsightKind.SPEND_SPIKE]
    assert channel[0].explanation.startswith("facebook as a whole:")


def test_a_restated_day_is_judged_again() -> None:
    series = steady()
    series.scale(0, -3, conversions=1 / 4, revenue=1 / 4)
    analysis = analyse(series.panel(), series.day(series.days - 3))
    assert kinds(analysis) == [InsightKind.CONVERSION_RATE_DROP]
    assert analysis.day == series.day(series.days - 3)


def test_a_shift_too_small_for_one_day_adds_up_over_its_days() -> None:
    series = steady(spend_noise=0.3)  # x2.5 is ~3 sigma on one day of this campaign
    spike = {name: 2.5 for name in ("impressions", "clicks", "cost", "conversions", "revenue")}
    series.scale(0, slice(-4, None), **spike)
    assert kinds(analyse(series.panel(), series.day(series.days - 4))) == []
    (insight,) = [i for i in analyse(series.panel()).insights if i.campaign_id == "c000"]
    assert insight.kind is InsightKind.SPEND_SPIKE
    assert insight.first_day < insight.last_day == series.day(series.days - 1)
    assert "a day over the" in insight.explanation


def test_a_launch_ramp_is_not_overspend() -> None:
    series = steady(campaigns=120, days=60, spend_noise=0.25)
    ramp = 1.0 - 0.7 * np.exp(-np.arange(40) / 4.0)  # delivery while the platform learns the audience
    for name in ("impressions", "clicks", "cost", "conversions", "revenue"):
        values = getattr(series, name)
        values[:60, :20] = np.nan  # half the campaigns launch on day 20
        values[:60, 20:] *= ramp[None, :]
    young = {f"c{row:03d}" for row in range(60)}
    for column in range(34, 60):  # their baselines hold the ramp: uncorrected, 5 of them "pace"
        found = [i for i in analyse(series.panel(), series.day(column)).insights if i.campaign_id in young]
        assert found == []


def test_a_cpa_rise_hidden_in_conversion_noise_adds_up_over_a_week() -> None:
    series = steady(Channel.GOOGLE_ADS, campaigns=120, days=50)
    rng = np.random.default_rng(11)
    noise = np.exp(rng.normal(0.0, 0.3, series.conversions.shape))  # conversions as noisy as the mock's
    series.conversions *= noise
    series.revenue *= noise
    price, cvr = 1.42, 1 / 1.42  # CPC +42%, conversion rate -30%: neither an alert alone, CPA x2
    days = slice(-7, None)
    series.scale(0, days, clicks=1 / price, impressions=1 / price, conversions=cvr / price)
    series.scale(0, days, revenue=cvr / price)
    insights = analyse(series.panel()).insights
    found = [i for i in insights if i.campaign_id == "c000"]
    assert [i.kind for i in found] == [InsightKind.CPA_SPIKE]
    assert found[0].first_day <= series.day(series.days - 5)  # dated from the run's start, not today
    assert [i for i in insights if i.kind is InsightKind.CPA_SPIKE] == found  # the same noise, no rise


def test_a_price_spike_through_noisy_conversions_is_not_called_a_compound_cpa_rise() -> None:
    series = steady(Channel.INSTAGRAM, campaigns=120, days=50)
    noise = np.exp(np.random.default_rng(5).normal(0.0, 0.3, series.conversions.shape))
    series.conversions *= noise  # CVR as noisy as the mock's: CPA's rise is the price's +- that noise
    series.revenue *= noise
    spiked = range(30)
    for row in spiked:  # CPM x2.5 for two days: the budget holds, every volume / 2.5
        series.scale(row, slice(-2, None), impressions=0.4, clicks=0.4, conversions=0.4, revenue=0.4)
    found = [
        i.kind for i in analyse(series.panel()).insights if i.campaign_id in {f"c{r:03d}" for r in spiked}
    ]
    # Shares of CPA's rise taken from every driver's move gave CVR's noise a share: 6 of 30 were a
    # "compound"; from the moves beyond noise, one is (its CVR really is 42% down over the two days).
    assert found.count(InsightKind.CPM_SPIKE) >= 29
    assert found.count(InsightKind.CPA_SPIKE) <= 1
