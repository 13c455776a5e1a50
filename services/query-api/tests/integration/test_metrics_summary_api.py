"""GET /api/metrics/summary on a small hand-checked set of daily rows; the aggregate behind it stays fresh."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
import httpx
import pytest

from demetra_query_api.metrics.repository import NotInTransaction, refresh_daily_metrics
from demetra_query_api.metrics.service import refresh_summary
from demetra_testkit import eventually

NOV1, NOV2 = dt.date(2026, 11, 1), dt.date(2026, 11, 2)


def at(hour: int) -> dt.datetime:
    return dt.datetime(2026, 11, 25, hour, tzinfo=dt.UTC)


@pytest.fixture
async def hand_checked(seed: Any) -> None:
    await seed.days(
        [
            seed.day("fb_a", NOV1, impressions=1000, clicks=100, engagement=10, cost=200.0,
                     conversions=10.0, revenue=400.0, fetched_at=at(10)),
            seed.day("fb_b", NOV1, impressions=3000, clicks=50, engagement=20, cost=50.0,
                     conversions=10.0, revenue=25.0, fetched_at=at(12)),
            seed.day("fb_c", NOV2, impressions=1000, clicks=0, engagement=0, cost=0.0,
                     conversions=0.0, revenue=0.0, fetched_at=at(11)),
            seed.day("tt_d", NOV1, channel="tiktok", impressions=500, clicks=25, engagement=100,
                     cost=10.0, conversions=1.0, revenue=40.0, fetched_at=at(9)),
        ]
    )  # fmt: skip
    await seed.refreshed_summary()


def by_channel(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["channel"]: entry for entry in body["channels"]}


async def test_kpis_per_channel_match_the_hand_computed_values(
    client: httpx.AsyncClient, hand_checked: None
) -> None:
    response = await client.get("/api/metrics/summary")
    assert response.status_code == 200
    body = response.json()
    channels = by_channel(body)
    assert list(channels) == ["facebook", "instagram", "google_ads", "tiktok"]

    facebook = channels["facebook"]
    assert {k: facebook[k] for k in ("campaigns", "impressions", "clicks", "engagement", "cost")} == {
        "campaigns": 3, "impressions": 5000, "clicks": 150, "engagement": 30, "cost": 250.0,
    }  # fmt: skip
    assert facebook["conversions"] == pytest.approx(20.0)
    assert facebook["ctr"] == pytest.approx(150 / 5000)
    assert facebook["cpc"] == pytest.approx(250 / 150)
    assert facebook["cpm"] == pytest.approx(1000 * 250 / 5000)
    assert facebook["conversion_rate"] == pytest.approx(20 / 150)  # from the sums: not (0.1 + 0.2) / 2
    assert facebook["roi"] == pytest.approx((425 - 250) / 250)  # 0.7 from the sums: not (1.0 - 0.5) / 2
    assert facebook["revenue"] == pytest.approx(425.0)
    assert facebook["roas"] == pytest.approx(425 / 250)
    assert facebook["cpa"] == pytest.approx(250 / 20)
    assert facebook["as_of"] == "2026-11-25T12:00:00Z" or facebook["as_of"].startswith("2026-11-25T12:00:00")

    instagram = channels["instagram"]
    assert (instagram["campaigns"], instagram["impressions"], instagram["as_of"]) == (0, 0, None)
    assert (instagram["ctr"], instagram["cpc"], instagram["cpm"], instagram["roi"]) == (
        None,
        None,
        None,
        None,
    )

    totals = body["totals"]
    assert (totals["campaigns"], totals["impressions"], totals["clicks"], totals["cost"]) == (
        4,
        5500,
        175,
        260.0,
    )
    assert totals["roi"] == pytest.approx((465 - 260) / 260)
    assert totals["conversion_rate"] == pytest.approx(21 / 175)
    assert (totals["revenue"], totals["roas"]) == (pytest.approx(465.0), pytest.approx(465 / 260))
    assert totals["cpa"] == pytest.approx(260 / 21)
    assert body["computed_at"] is not None


async def test_per_day_breaks_each_channel_down_by_reporting_date(
    client: httpx.AsyncClient, hand_checked: None
) -> None:
    body = (await client.get("/api/metrics/summary?per_day=true&channel=facebook")).json()
    assert [c["channel"] for c in body["channels"]] == ["facebook"]
    days = body["channels"][0]["days"]
    assert [d["date"] for d in days] == ["2026-11-01", "2026-11-02"]
    assert days[0]["roi"] == pytest.approx(0.7) and days[0]["impressions"] == 4000
    assert (days[1]["ctr"], days[1]["cpc"], days[1]["roi"]) == (0.0, None, None)  # no clicks, no cost


async def test_a_date_range_limits_the_totals_but_not_the_freshness(
    client: httpx.AsyncClient, hand_checked: None
) -> None:
    body = (await client.get("/api/metrics/summary?date_from=2026-11-02&date_to=2026-11-30")).json()
    facebook = by_channel(body)["facebook"]
    assert (facebook["campaigns"], facebook["impressions"]) == (1, 1000)
    assert facebook["as_of"].startswith("2026-11-25T12:00:00")
    assert by_channel(body)["tiktok"]["campaigns"] == 0
    assert (body["date_from"], body["date_to"]) == ("2026-11-02", "2026-11-30")


async def test_campaigns_count_campaign_days_over_a_range(client: httpx.AsyncClient, seed: Any) -> None:
    await seed.days([seed.day("gads_1", day, channel="google_ads") for day in (NOV1, NOV2)])
    await seed.days([seed.day("gads_2", NOV2, channel="google_ads")])
    await seed.refreshed_summary()
    body = (await client.get("/api/metrics/summary?channel=google_ads&per_day=true")).json()
    google_ads = body["channels"][0]
    assert google_ads["campaigns"] == 3
    assert [d["campaigns"] for d in google_ads["days"]] == [1, 2]


async def test_the_aggregate_is_refreshed_in_the_background_when_daily_rows_change(
    client: httpx.AsyncClient, seed: Any
) -> None:
    await seed.days([seed.day("gads_new", NOV1, channel="google_ads", impressions=777, clicks=7, cost=7.0)])

    async def google_ads_seen() -> bool:
        body = (await client.get("/api/metrics/summary?channel=google_ads")).json()
        return bool(body["channels"][0]["impressions"] == 777)

    await eventually(google_ads_seen, timeout=30, what="the summary to include the new campaign")


async def test_refresh_skips_when_nothing_changed(db: asyncpg.Connection, seed: Any) -> None:
    await seed.days([seed.day("fb_1", NOV1)])
    await seed.refreshed_summary()

    # The insert/update counter is unchanged (it may take a moment to be published; forced refresh above
    # recorded the counter as it was), so a second, unforced refresh with a long max age does nothing.
    async def settled() -> bool:
        return not await refresh_summary(db, max_age=dt.timedelta(hours=1))

    await eventually(settled, timeout=30, what="an unchanged table not to be refreshed again")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("per_day=perhaps", "per_day"),
        ("channel=bing", "channel"),
        ("date_from=2026-12-01&date_to=2026-11-01", "date_to"),
        ("date_to=tomorrow", "date_to"),
        ("group_by=day", "group_by"),
    ],
)
async def test_bad_parameters_are_a_422_naming_the_field(
    client: httpx.AsyncClient, query: str, field: str
) -> None:
    response = await client.get(f"/api/metrics/summary?{query}")
    assert response.status_code == 422
    assert [e["loc"][:2] for e in response.json()["detail"]] == [["query", field]]


async def test_the_refresh_runs_in_its_callers_transaction_only(db: asyncpg.Connection) -> None:
    # Outside a transaction its advisory lock and lifted statement timeout would end with each statement.
    with pytest.raises(NotInTransaction):
        await refresh_daily_metrics(db, max_age=dt.timedelta(hours=1), force=True)
