"""GET /api/metrics/timeseries on a hand-checked set of daily rows: day, ISO week and month periods, rates
from each period's sums (never averaged), zeros where there is no data, and 422s naming the field."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

from demetra_common.contracts import utcnow

RANGE = "date_from=2026-10-28&date_to=2026-11-10"  # a Wednesday to a Tuesday, across a month end


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


@pytest.fixture
async def hand_checked(seed: Any) -> None:
    await seed.days(
        [
            # Wednesday 28 Oct: two campaigns whose CTRs (0.01 and 0.1) average 0.055; together 0.075.
            seed.day("fb_1", d("2026-10-28"), impressions=1000, clicks=10, cost=5.0, conversions=1.0,
                     revenue=10.0),
            seed.day("fb_2", d("2026-10-28"), impressions=3000, clicks=290, cost=95.0, conversions=9.0,
                     revenue=90.0),
            seed.day("fb_1", d("2026-11-02"), impressions=2000, clicks=20, cost=40.0, conversions=0.0,
                     revenue=0.0),
            seed.day("fb_1", d("2026-11-09"), impressions=500, clicks=0, cost=0.0, conversions=0.0,
                     revenue=0.0),
            seed.day("fb_1", d("2026-10-20"), impressions=99_999, clicks=9, cost=9.0),  # before the range
            seed.day("fb_1", d("2026-11-11"), impressions=99_999, clicks=9, cost=9.0),  # after it
            seed.day("tt_1", d("2026-10-31"), channel="tiktok", impressions=800, clicks=8, cost=16.0,
                     conversions=2.0, revenue=8.0),
        ]
    )  # fmt: skip
    await seed.refreshed_summary()


async def get(client: httpx.AsyncClient, query: str) -> dict[str, Any]:
    response = await client.get(f"/api/metrics/timeseries?{query}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def series_of(body: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {entry["channel"]: entry["points"] for entry in body["series"]}


ALL = "&".join(
    f"metrics={m}"
    for m in (
        "impressions", "clicks", "engagement", "cost", "conversions", "revenue",
        "ctr", "cpc", "cpm", "cpa", "conversion_rate", "roas",
    )
)  # fmt: skip


async def test_weekly_points_are_iso_weeks_with_rates_from_their_sums(
    client: httpx.AsyncClient, hand_checked: None
) -> None:
    body = await get(client, f"{RANGE}&granularity=week&{ALL}&total=true")
    assert (body["date_from"], body["date_to"], body["granularity"]) == ("2026-10-28", "2026-11-10", "week")
    series = series_of(body)
    assert list(series) == ["facebook", "instagram", "google_ads", "tiktok"]  # every channel by default

    w1, w2, w3 = series["facebook"]
    assert [(p["period"], p["date_from"], p["date_to"]) for p in (w1, w2, w3)] == [
        ("2026-10-26", "2026-10-28", "2026-11-01"),  # Monday 26 Oct, counted from the 28th
        ("2026-11-02", "2026-11-02", "2026-11-08"),
        ("2026-11-09", "2026-11-09", "2026-11-10"),
    ]
    assert {k: w1[k] for k in ("impressions", "clicks", "engagement", "cost", "conversions", "revenue")} == {
        "impressions": 4000, "clicks": 300, "engagement": 10, "cost": 100.0, "conversions": 10.0,
        "revenue": 100.0,
    }  # fmt: skip
    assert w1["ctr"] == pytest.approx(300 / 4000)  # 0.075, not the mean of the days' CTRs (0.055)
    assert w1["cpc"] == pytest.approx(100 / 300)
    assert w1["cpm"] == pytest.approx(1000 * 100 / 4000)
    assert w1["cpa"] == pytest.approx(100 / 10)
    assert w1["conversion_rate"] == pytest.approx(10 / 300)
    assert w1["roas"] == pytest.approx(1.0)
    assert (w2["ctr"], w2["cpc"], w2["cpm"], w2["cpa"], w2["conversion_rate"], w2["roas"]) == (
        pytest.approx(0.01), pytest.approx(2.0), pytest.approx(20.0), None, 0.0, 0.0,
    )  # fmt: skip  # no conversions: CPA has no denominator
    assert (w3["impressions"], w3["ctr"], w3["cpc"], w3["cpm"], w3["conversion_rate"], w3["roas"]) == (
        500, 0.0, None, 0.0, None, None,
    )  # fmt: skip  # no clicks, no cost

    assert [p["impressions"] for p in series["instagram"]] == [0, 0, 0]  # zeros, not missing points
    assert series["instagram"][0]["ctr"] is None
    tiktok = series["tiktok"][0]
    assert (tiktok["impressions"], tiktok["cpa"], tiktok["conversion_rate"]) == (800, 8.0, 0.25)

    total = body["total"]["points"][0]
    assert (total["impressions"], total["clicks"], total["cost"]) == (4800, 308, 116.0)
    assert total["ctr"] == pytest.approx(308 / 4800)
    assert total["cpa"] == pytest.approx(116 / 12)
    assert total["roas"] == pytest.approx(108 / 116)  # from the sums: not the mean of 1.0 and 0.5


async def test_monthly_points_are_calendar_months_clipped_to_the_range(
    client: httpx.AsyncClient, hand_checked: None
) -> None:
    body = await get(client, f"{RANGE}&granularity=month&channel=facebook&metrics=impressions&metrics=ctr")
    assert body["metrics"] == ["impressions", "ctr"] and body["total"] is None
    [facebook] = body["series"]
    assert facebook["channel"] == "facebook"
    october, november = facebook["points"]
    assert october == {
        "period": "2026-10-01", "date_from": "2026-10-28", "date_to": "2026-10-31", "impressions": 4000,
        "ctr": 0.075,
    }  # fmt: skip  # only the metrics asked for; the 20th lies before the range
    assert november == {
        "period": "2026-11-01", "date_from": "2026-11-01", "date_to": "2026-11-10", "impressions": 2500,
        "ctr": 20 / 2500,
    }  # fmt: skip  # the 11th lies after the range


async def test_daily_points_cover_every_day_of_the_range(
    client: httpx.AsyncClient, hand_checked: None
) -> None:
    body = await get(client, f"{RANGE}&channel=tiktok&channel=facebook&metrics=clicks")
    series = series_of(body)
    assert list(series) == ["tiktok", "facebook"]  # in the order asked
    facebook = series["facebook"]
    assert (
        len(facebook) == 14
        and facebook[0]["period"] == "2026-10-28"
        and facebook[-1]["period"] == "2026-11-10"
    )
    assert {p["period"]: p["clicks"] for p in facebook if p["clicks"]} == {
        "2026-10-28": 300,
        "2026-11-02": 20,
    }
    assert body["metrics"] == ["clicks"]


async def test_the_default_range_is_the_last_90_days(client: httpx.AsyncClient) -> None:
    body = await get(client, "channel=google_ads")
    today = utcnow().date()
    assert (body["date_from"], body["date_to"]) == (str(today - dt.timedelta(days=89)), str(today))
    assert len(body["series"][0]["points"]) == 90
    assert set(body["series"][0]["points"][0]) >= {"impressions", "clicks", "cost", "ctr", "cpa", "roas"}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("date_from=2026-11-02&date_to=2026-11-01", "date_to"),
        ("date_from=1999-12-31&date_to=2000-01-31", "date_from"),
        ("date_to=2100-01-01", "date_to"),
        ("date_from=2010-01-01&date_to=2020-12-31", "date_from"),  # more than 3660 days
        ("date_from=2099-12-31", "date_from"),  # after date_to's default, today
        ("date_from=someday", "date_from"),
        ("granularity=year", "granularity"),
        ("metrics=roi", "metrics"),
        ("channel=bing", "channel"),
        ("total=perhaps", "total"),
        ("group_by=day", "group_by"),
    ],
)
async def test_bad_parameters_are_a_422_naming_the_field(
    client: httpx.AsyncClient, query: str, field: str
) -> None:
    response = await client.get(f"/api/metrics/timeseries?{query}")
    assert response.status_code == 422, response.text
    assert [e["loc"][:2] for e in response.json()["detail"]] == [["query", field]]
