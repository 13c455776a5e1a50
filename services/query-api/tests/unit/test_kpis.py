"""KPI arithmetic: rates from sums (never averaged), additivity, zero denominators."""

import pytest

from demetra_query_api.metrics.kpis import ALL_METRICS, Metric, Totals
from demetra_query_api.schemas import MetricValues


def test_kpis_of_hand_checked_totals() -> None:
    totals = Totals(
        campaigns=2,
        impressions=10_000,
        clicks=250,
        engagement=40,
        cost=500.0,
        conversions=20.0,
        revenue=1250.0,
    )
    assert totals.ctr == pytest.approx(0.025)
    assert totals.cpc == pytest.approx(2.0)
    assert totals.cpm == pytest.approx(50.0)
    assert totals.cpa == pytest.approx(25.0)
    assert totals.conversion_rate == pytest.approx(0.08)
    assert totals.roas == pytest.approx(2.5)
    assert totals.net_return == pytest.approx(750.0)
    assert totals.roi == pytest.approx(1.5)


def test_rates_of_a_group_come_from_its_sums_not_the_mean_of_its_rates() -> None:
    # A: 10 clicks, 5 conversions, cost 100, revenue 300; B: 90 clicks, 9 conversions, cost 900, revenue 900.
    a = Totals(campaigns=1, clicks=10, cost=100.0, conversions=5.0, revenue=300.0)
    b = Totals(campaigns=1, clicks=90, cost=900.0, conversions=9.0, revenue=900.0)
    both = a + b
    assert both.roi == pytest.approx(0.2)  # 1200 back on 1000 spent, not the mean of 2.0 and 0.0
    assert both.roas == pytest.approx(1.2)  # not the mean of 3.0 and 1.0
    assert both.conversion_rate == pytest.approx(0.14)  # 14 conversions / 100 clicks, not the mean 0.3
    assert both.cpa == pytest.approx(1000 / 14)  # not the mean of 20 and 100


def test_a_kpi_with_a_zero_denominator_is_none() -> None:
    empty = Totals()
    assert (empty.ctr, empty.cpc, empty.cpm, empty.cpa, empty.conversion_rate, empty.roas, empty.roi) == (
        None,
    ) * 7
    only_impressions = Totals(impressions=100)
    assert only_impressions.ctr == 0.0 and only_impressions.cpc is None


def test_values_holds_the_metrics_asked_for_with_cost_in_cents() -> None:
    totals = Totals(impressions=1000, clicks=10, cost=0.1 + 0.2)
    assert totals.values([Metric.CTR, Metric.COST]) == {"ctr": 0.01, "cost": 0.3}
    assert set(totals.values(ALL_METRICS)) == {m.value for m in Metric}


def test_as_dict_rounds_cost_to_cents() -> None:
    assert Totals(cost=0.1 + 0.2).as_dict()["cost"] == 0.3


def test_every_metric_has_a_field_in_the_response_model() -> None:
    assert list(MetricValues.model_fields) == [m.value for m in Metric]


def test_the_metrics_begin_with_the_daily_rows_additive_metrics() -> None:
    from demetra_common.contracts import DailyMetric
    from demetra_query_api.metrics.kpis import ADDITIVE, Metric

    assert [m.value for m in Metric][: len(DailyMetric)] == [m.value for m in DailyMetric]
    assert tuple(Metric)[: len(DailyMetric)] == ADDITIVE
