"""GET /api/restatements: filters (channel, campaign, restated day, metric), newest first, keyset pages
with no gaps or repeats while new restatements arrive, and 422s naming the field."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import httpx
import pytest

CHANNELS = ("facebook", "instagram", "tiktok")
METRICS = ("conversions", "revenue", "clicks")


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


@pytest.fixture
async def restated(seed: Any) -> list[tuple[int, Any]]:
    """30 restatements (id, row), oldest first: channels, campaigns, days and metrics in turn."""
    rows = [
        seed.restatement(
            f"{channel[:2]}_{n % 2}",
            d("2026-11-01") + dt.timedelta(days=n % 5),
            channel=channel,
            metric=METRICS[n % 3],
            old_value=float(n),
            new_value=float(n) + 0.5,
        )
        for n, channel in zip(range(30), itertools.cycle(CHANNELS), strict=False)
    ]
    ids = await seed.restatements(rows)
    return list(zip(ids, rows, strict=True))


async def walk(client: httpx.AsyncClient, query: str, limit: int) -> tuple[list[int], int]:
    """Every id the pages of ``query`` serve, following ``next``; and how many pages that took."""
    ids: list[int] = []
    url: str | None = f"/api/restatements?{query}&limit={limit}"
    pages = 0
    while url is not None:
        response = await client.get(url)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["items"]) <= limit
        ids += [item["id"] for item in body["items"]]
        url, pages = body["next"], pages + 1
    return ids, pages


async def test_each_restatement_says_what_changed(
    client: httpx.AsyncClient, restated: list[tuple[int, Any]]
) -> None:
    [item] = (await client.get("/api/restatements?limit=1")).json()["items"]
    newest_id, newest = restated[-1]
    assert item == {
        "id": newest_id, "event_id": str(newest.event_id), "campaign_id": newest.campaign_id,
        "channel": newest.channel, "date": newest.date.isoformat(), "metric": newest.metric,
        "old_value": 29.0, "new_value": 29.5, "sync_id": "sched-later",
        "fetched_at": "2026-11-26T14:00:00+00:00", "previous_fetched_at": "2026-11-25T14:00:00+00:00",
        "recorded_at": item["recorded_at"],
    }  # fmt: skip


@pytest.mark.parametrize(
    "query",
    [
        "",
        "channel=facebook",
        "channel=facebook&channel=tiktok",
        "campaign_id=in_1",
        "date_from=2026-11-02&date_to=2026-11-03",
        "metric=revenue",
        "metric=revenue&metric=clicks&channel=instagram",
    ],
)
async def test_filters_select_exactly_their_rows_newest_first_over_pages(
    client: httpx.AsyncClient, restated: list[tuple[int, Any]], query: str
) -> None:
    given = httpx.QueryParams(query)

    def wanted(row: Any) -> bool:
        return (
            (not given.get_list("channel") or row.channel in given.get_list("channel"))
            and (not given.get("campaign_id") or row.campaign_id == given["campaign_id"])
            and (not given.get("date_from") or row.date >= d(given["date_from"]))
            and (not given.get("date_to") or row.date <= d(given["date_to"]))
            and (not given.get_list("metric") or row.metric in given.get_list("metric"))
        )

    expected = [id_ for id_, row in reversed(restated) if wanted(row)]
    assert expected  # every case selects something
    ids, pages = await walk(client, query, limit=4)
    assert ids == expected  # newest first, no gaps, no repeats
    assert pages == -(-len(expected) // 4)  # the last page, full or not, has no next


async def test_restatements_recorded_while_paging_shift_no_page(
    client: httpx.AsyncClient, seed: Any, restated: list[tuple[int, Any]]
) -> None:
    first = (await client.get("/api/restatements?limit=10")).json()
    await seed.restatements([seed.restatement("fb_new", d("2026-11-20")) for _ in range(5)])
    rest, _ = await walk(client, f"cursor={first['next_cursor']}", limit=10)
    served = [item["id"] for item in first["items"]] + rest
    assert served == [id_ for id_, _ in reversed(restated)]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("date_from=2026-11-02&date_to=2026-11-01", "date_to"),
        ("date_from=1999-12-31", "date_from"),
        ("metric=ctr", "metric"),
        ("channel=bing", "channel"),
        ("campaign_id=", "campaign_id"),
        ("limit=501", "limit"),
        ("limit=0", "limit"),
        ("cursor=WzEsInN5bmMiXQ", "cursor"),
        ("sort=date", "sort"),
    ],
)
async def test_bad_parameters_are_a_422_naming_the_field(
    client: httpx.AsyncClient, query: str, field: str
) -> None:
    response = await client.get(f"/api/restatements?{query}")
    assert response.status_code == 422, response.text
    assert [e["loc"][:2] for e in response.json()["detail"]] == [["query", field]]
