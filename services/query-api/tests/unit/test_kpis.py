"""KPI arithmetic: weighted rates, additivity, zero denominators."""

import pytest

from demetra_query_api.metrics.kpis import Totals


def test_kpis_of_hand_checked_totals() -> None:
    totals = Totals(
        campaigns=2,
        impressions=10_000,
        clicks=250,
        engagement=40,
        cost=500.0,
        conversions=20.0,
        net_return=750.0,
    )
    assert totals.ctr == pytest.approx(0.025)
    assert totals.cpc == pytest.approx(2.0)
    assert totals.cpm == pytest.approx(50.0)
    assert totals.conversion_rate == pytest.approx(0.08)
    assert totals.roi == pytest.approx(1.5)


def test_roi_is_cost_weighted_and_conversion_rate_click_weighted() -> None:
    # A: cost 100, roi 2.0 (return 300); B: cost 900, roi 0.0 (return 900). Together: 1200 back on 1000 spent.
    a = Totals(campaigns=1, clicks=10, cost=100.0, conversions=10 * 0.5, net_return=100 * 2.0)
    b = Totals(campaigns=1, clicks=90, cost=900.0, conversions=90 * 0.1, net_return=900 * 0.0)
    both = a + b
    assert both.roi == pytest.approx(0.2)  # not the plain mean (1.0)
    assert both.conversion_rate == pytest.approx(0.14)  # 14 conversions / 100 clicks, not the mean 0.3


def test_a_kpi_with_a_zero_denominator_is_none() -> None:
    empty = Totals()
    assert (empty.ctr, empty.cpc, empty.cpm, empty.conversion_rate, empty.roi) == (None,) * 5
    only_impressions = Totals(impressions=100)
    assert only_impressions.ctr == 0.0 and only_impressions.cpc is None


def test_as_dict_rounds_cost_to_cents() -> None:
    assert Totals(cost=0.1 + 0.2).as_dict()["cost"] == 0.3
