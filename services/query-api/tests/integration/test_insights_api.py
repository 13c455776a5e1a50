"""GET /api/insights and /api/insights/{id}: every filter, both sorts (ties broken by id), keyset pages with
no gaps or repeats while insights arrive, 404 for an unknown id and 422s naming the field."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest

CHANNELS = ("facebook", "instagram", "google_ads", "tiktok")
KINDS = ("cpa_spike", "tracking_break", "spend_spike", "ctr_drop")
SEVERITIES = ("info", "warning", "critical")
T0 = dt.datetime(2026, 11, 20, 6, 0, tzinfo=dt.UTC)


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


@pytest.fixture
async def stored(seed: Any) -> list[Any]:
    """36 insights: channels, campaigns, kinds, severities, statuses and days in turn; money at stake and
    opening times repeat (every 4th and 6th), so both sorts need the id to break ties."""
    rows, open_keys = [], set()
    for n in range(36):
        first = d("2026-11-01") + dt.timedelta(days=n % 9)
        campaign_id = None if n % 12 == 5 else f"{CHANNELS[n % 4][:2]}_{n % 5}"  # some channel-level ones
        kind = KINDS[n % 4 if n % 7 else 1]
        key = (CHANNELS[n % 4], campaign_id, kind)
        resolved = n % 3 == 0 or key in open_keys  # one open insight per (channel, campaign, kind)
        if not resolved:
            open_keys.add(key)
        rows.append(
            seed.insight(
                campaign_id,
                first,
                channel=CHANNELS[n % 4],
                kind=kind,
                severity=SEVERITIES[n % 3],
                status="resolved" if resolved else "open",
                last_day=first + dt.timedelta(days=n % 4),
                money_at_stake=float(100 + 10 * (n % 9)),
                opened_at=T0 + dt.timedelta(hours=n % 6),
                resolved_at=T0 + dt.timedelta(days=2) if resolved else None,
            )
        )
    await seed.insights(rows)
    return rows


def by_money(rows: list[Any]) -> list[str]:
    return [str(r.id) for r in sorted(rows, key=lambda r: (r.money_at_stake, r.id), reverse=True)]


def by_time(rows: list[Any]) -> list[str]:
    return [str(r.id) for r in sorted(rows, key=lambda r: (r.opened_at, r.id), reverse=True)]


async def walk(client: httpx.AsyncClient, query: str, limit: int) -> tuple[list[str], int]:
    """Every id the pages of ``query`` serve, following ``next``; and how many pages that took."""
    ids: list[str] = []
    url: str | None = f"/api/insights?{query}&limit={limit}"
    pages = 0
    while url is not None:
        response = await client.get(url)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["items"]) <= limit
        ids += [item["id"] for item in body["items"]]
        url, pages = body["next"], pages + 1
    return ids, pages


async def test_an_insight_carries_what_a_media_buyer_needs(
    client: httpx.AsyncClient, stored: list[Any]
) -> None:
    one = next(r for r in stored if r.status == "resolved" and r.campaign_id is not None)
    response = await client.get(f"/api/insights/{one.id}")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "id": str(one.id), "status": "resolved", "kind": one.kind, "severity": one.severity,
        "channel": one.channel, "campaign_id": one.campaign_id, "first_day": one.first_day.isoformat(),
        "last_day": one.last_day.isoformat(), "metric": "cpa", "observed": 30.0, "expected": 12.0,
        "baseline_from": (one.first_day - dt.timedelta(days=28)).isoformat(),
        "baseline_to": (one.first_day - dt.timedelta(days=1)).isoformat(),
        "money_at_stake": one.money_at_stake, "explanation": "CPA rose to 30.00 from the usual 12.00.",
        "sync_id": "sched-seed", "opened_at": one.opened_at.isoformat(),
        "updated_at": one.resolved_at.isoformat(), "resolved_at": one.resolved_at.isoformat(),
    }  # fmt: skip
    [first] = (await client.get("/api/insights?limit=1")).json()["items"]
    assert first == (await client.get(f"/api/insights/{first['id']}")).json()  # one shape, list and item


async def test_a_channel_level_insight_has_no_campaign(client: httpx.AsyncClient, stored: list[Any]) -> None:
    channel_level = next(r for r in stored if r.campaign_id is None)
    body = (await client.get(f"/api/insights/{channel_level.id}")).json()
    assert body["campaign_id"] is None and body["channel"] == channel_level.channel


@pytest.mark.parametrize(
    "query",
    [
        "",
        "sort=time",
        "channel=facebook",
        "channel=facebook&channel=tiktok&sort=time",
        "campaign_id=in_1",
        "kind=tracking_break",
        "kind=cpa_spike&kind=ctr_drop",
        "severity=critical",
        "severity=info&severity=warning&sort=time",
        "status=open",
        "status=resolved&sort=time",
        "date_from=2026-11-06",
        "date_to=2026-11-03",
        "date_from=2026-11-04&date_to=2026-11-05&sort=time",
        "channel=instagram&status=open&kind=ctr_drop&kind=tracking_break&date_from=2026-11-02",
    ],
)
async def test_filters_select_exactly_their_insights_in_order_over_pages(
    client: httpx.AsyncClient, stored: list[Any], query: str
) -> None:
    given = httpx.QueryParams(query)

    def wanted(row: Any) -> bool:
        return (
            (not given.get_list("channel") or row.channel in given.get_list("channel"))
            and (not given.get("campaign_id") or row.campaign_id == given["campaign_id"])
            and (not given.get_list("kind") or row.kind in given.get_list("kind"))
            and (not given.get_list("severity") or row.severity in given.get_list("severity"))
            and (not given.get("status") or row.status == given["status"])
            and (not given.get("date_from") or row.last_day >= d(given["date_from"]))  # days overlap
            and (not given.get("date_to") or row.first_day <= d(given["date_to"]))
        )

    order = by_time if given.get("sort") == "time" else by_money
    expected = order([row for row in stored if wanted(row)])
    assert 0 < len(expected) < len(stored) or not query or query == "sort=time"
    ids, pages = await walk(client, query, limit=4)
    assert ids == expected  # in order, no gaps, no repeats
    assert pages == max(1, -(-len(expected) // 4))  # the last page, full or not, has no next


@pytest.mark.parametrize("sort", ["money", "time"])
async def test_insights_stored_while_paging_never_repeat_or_hide_others(
    client: httpx.AsyncClient, seed: Any, stored: list[Any], sort: str
) -> None:
    first = (await client.get(f"/api/insights?sort={sort}&limit=10")).json()
    arrived = [
        seed.insight(f"tt_new{n}", d("2026-11-20"), money_at_stake=100.0 + 37 * n, opened_at=T0)
        for n in range(6)
    ]
    await seed.insights(arrived)
    rest, _ = await walk(client, f"sort={sort}&cursor={first['next_cursor']}", limit=10)
    served = [item["id"] for item in first["items"]] + rest
    assert len(served) == len(set(served))
    new = {str(row.id) for row in arrived}
    assert [i for i in served if i not in new] == (by_money if sort == "money" else by_time)(stored)


async def test_an_unknown_insight_is_a_404_and_a_malformed_id_a_422(client: httpx.AsyncClient) -> None:
    missing = uuid.uuid4()
    response = await client.get(f"/api/insights/{missing}")
    assert response.status_code == 404
    assert response.json() == {"detail": f"insight {missing} not found"}
    response = await client.get("/api/insights/fb_00000001")
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["path", "insight_id"]]


async def test_a_cursor_of_one_sort_is_refused_for_the_other(
    client: httpx.AsyncClient, stored: list[Any]
) -> None:
    cursor = (await client.get("/api/insights?sort=money&limit=5")).json()["next_cursor"]
    response = await client.get(f"/api/insights?sort=time&cursor={cursor}")
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["query", "cursor"]
    assert "sort=money" in response.json()["detail"][0]["msg"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("date_from=2026-11-02&date_to=2026-11-01", "date_to"),
        ("date_from=1999-12-31", "date_from"),
        ("kind=weather", "kind"),
        ("severity=urgent", "severity"),
        ("status=closed", "status"),
        ("channel=bing", "channel"),
        ("campaign_id=", "campaign_id"),
        ("sort=cost", "sort"),
        ("limit=501", "limit"),
        ("limit=0", "limit"),
        ("cursor=WzEsInN5bmMiXQ", "cursor"),
        ("order=asc", "order"),
    ],
)
async def test_bad_parameters_are_a_422_naming_the_field(
    client: httpx.AsyncClient, query: str, field: str
) -> None:
    response = await client.get(f"/api/insights?{query}")
    assert response.status_code == 422, response.text
    assert [e["loc"][:2] for e in response.json()["detail"]] == [["query", field]]
