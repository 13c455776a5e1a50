"""GET /api/campaigns/{campaign_id}/history: a campaign's days in a range, with each day's rates; 404 for an
unknown campaign; 422s naming the field."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

from demetra_common.contracts import utcnow

T1 = dt.datetime(2026, 11, 5, 6, tzinfo=dt.UTC)


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


@pytest.fixture
async def history(seed: Any) -> None:
    await seed.campaigns([seed.row("fb_1", date=d("2026-11-03")), seed.row("fb_quiet")])
    await seed.days(
        [
            seed.day("fb_1", d("2026-09-30"), impressions=100),  # another month (partition)
            seed.day("fb_1", d("2026-10-31"), impressions=2000, clicks=50, engagement=7, cost=25.5,
                     conversions=5.0, revenue=51.0, fetched_at=T1, sync_id="api-backfill"),
            seed.day("fb_1", d("2026-11-01"), impressions=1000, clicks=0, cost=0.0, conversions=0.0,
                     revenue=0.0),
            seed.day("fb_1", d("2026-11-03"), impressions=1000, clicks=10, cost=10.0, conversions=0.0,
                     revenue=0.0),
            seed.day("fb_other", d("2026-11-01"), impressions=777),  # another campaign
        ]
    )  # fmt: skip


async def test_the_days_of_the_range_oldest_first_with_their_rates(
    client: httpx.AsyncClient, history: None
) -> None:
    response = await client.get("/api/campaigns/fb_1/history?date_from=2026-10-01&date_to=2026-11-02")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["campaign_id"], body["channel"], body["date_from"], body["date_to"]) == (
        "fb_1", "facebook", "2026-10-01", "2026-11-02",
    )  # fmt: skip
    october, november = body["days"]  # 30 Sep and 3 Nov lie outside; days it did not run are absent
    assert october == {
        "date": "2026-10-31", "impressions": 2000, "clicks": 50, "engagement": 7, "cost": 25.5,
        "conversions": 5.0, "revenue": 51.0, "ctr": 0.025, "cpc": 0.51, "cpm": 12.75, "cpa": 5.1,
        "conversion_rate": 0.1, "roas": 2.0, "fetched_at": "2026-11-05T06:00:00+00:00",
        "sync_id": "api-backfill",
    }  # fmt: skip
    assert november["date"] == "2026-11-01"
    assert (november["ctr"], november["cpc"], november["cpa"], november["conversion_rate"]) == (
        0.0,
        None,
        None,
        None,
    )
    assert november["roas"] is None


async def test_the_default_range_is_the_last_90_days(client: httpx.AsyncClient, seed: Any) -> None:
    today = utcnow().date()
    await seed.days([seed.day("tt_1", today - dt.timedelta(days=n), channel="tiktok") for n in (0, 89, 90)])
    body = (await client.get("/api/campaigns/tt_1/history")).json()
    assert (body["date_from"], body["date_to"]) == (str(today - dt.timedelta(days=89)), str(today))
    assert [day["date"] for day in body["days"]] == [str(today - dt.timedelta(days=89)), str(today)]
    assert body["channel"] == "tiktok"


async def test_a_known_campaign_without_days_in_the_range_has_an_empty_history(
    client: httpx.AsyncClient, history: None
) -> None:
    response = await client.get("/api/campaigns/fb_quiet/history?date_from=2026-01-01&date_to=2026-01-31")
    assert response.status_code == 200
    assert response.json()["days"] == [] and response.json()["channel"] == "facebook"


async def test_an_unknown_campaign_is_a_404(client: httpx.AsyncClient, history: None) -> None:
    response = await client.get("/api/campaigns/fb_nobody/history")
    assert response.status_code == 404
    assert response.json() == {"detail": "campaign fb_nobody not found"}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("date_from=2026-11-02&date_to=2026-11-01", "date_to"),
        ("date_from=1999-12-31", "date_from"),
        ("date_to=2100-01-01", "date_to"),
        ("date_from=2000-01-01&date_to=2026-01-01", "date_from"),  # more than 3660 days
        ("date_from=2099-01-01", "date_from"),  # after date_to's default, today
        ("date_to=31.10.2026", "date_to"),
        ("granularity=week", "granularity"),
    ],
)
async def test_bad_ranges_are_a_422_naming_the_field(
    client: httpx.AsyncClient, history: None, query: str, field: str
) -> None:
    response = await client.get(f"/api/campaigns/fb_1/history?{query}")
    assert response.status_code == 422, response.text
    assert [e["loc"][:2] for e in response.json()["detail"]] == [["query", field]]
