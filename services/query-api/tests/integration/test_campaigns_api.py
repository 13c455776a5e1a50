"""GET /api/campaigns and /api/campaigns/{id} against a real database: filters, sort, keyset pages."""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
from typing import Any

import httpx
import pytest

from demetra_common.tables import NO_RATE
from demetra_query_api.campaigns import export
from demetra_query_api.campaigns.schemas import CampaignOut
from demetra_query_api.cursors import SortField

CHANNELS = ["facebook", "instagram", "google_ads", "tiktok"]
PREFIX = {"facebook": "fb", "instagram": "ig", "google_ads": "gads", "tiktok": "tt"}
# Names that order the same in every collation (lowercase letters only), with ties.
NAMES = ["alpha", "bravo", "charlie", "delta", "echo"]


def _rows(seed: Any, count: int, *, start: int = 0, rng_seed: int = 7) -> list[Any]:
    """Rows with many ties in every sort field, so pagination must break ties by id."""
    rng = random.Random(rng_seed)
    rows = []
    for i in range(start, start + count):
        channel = CHANNELS[i % 4]
        impressions = rng.randint(100, 10_000)
        rows.append(
            seed.row(
                f"{PREFIX[channel]}_{i:06d}",
                channel=channel,
                date=dt.date(2026, 11, 1) + dt.timedelta(days=rng.randint(0, 9)),
                impressions=impressions,
                clicks=rng.choice([0, rng.randint(0, impressions // 10)]),  # CPC without clicks: none
                engagement=rng.randint(0, 5),
                conversion_rate=rng.choice([0.0, 0.05, 0.1]),
                name=rng.choice(NAMES),
                cost=rng.choice([5.0, 10.25, 99.99, 1234.5]),
                roi=rng.choice([-1.0, 0.0, 0.5, 2.25]),
                fetched_at=dt.datetime(2026, 11, 25, rng.randint(0, 3), tzinfo=dt.UTC),
            )
        )
    return rows


async def _all_pages(client: httpx.AsyncClient, url: str, *, between: Any = None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    next_url: str | None = url
    pages = 0
    while next_url:
        response = await client.get(next_url)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["items"]) <= body["limit"]
        items.extend(body["items"])
        next_url = body["next"]
        assert (next_url is None) == (body["next_cursor"] is None)
        pages += 1
        if between is not None:
            await between(pages)
    return items


@pytest.fixture
async def seeded(seed: Any) -> list[Any]:
    rows = _rows(seed, 203)
    await seed.campaigns(rows)
    return rows


def _ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["campaign_id"] for item in items]


async def test_a_campaign_is_served_with_every_field(client: httpx.AsyncClient, seed: Any) -> None:
    await seed.campaigns(
        [
            seed.row(
                "fb_000042",
                name="Black Friday | Lead Gen",
                impressions=12_345,
                clicks=678,
                engagement=90,
                cost=1234.56,
                conversion_rate=0.0425,
                roi=1.75,
                sync_id="api-abc",
            )
        ]
    )
    response = await client.get("/api/campaigns/fb_000042")
    assert response.status_code == 200
    assert response.json() == {
        "campaign_id": "fb_000042",
        "channel": "facebook",
        "name": "Black Friday | Lead Gen",
        "date": "2026-11-01",
        "impressions": 12345,
        "clicks": 678,
        "engagement": 90,
        "cost": 1234.56,
        "conversion_rate": 0.0425,
        "roi": 1.75,
        "fetched_at": "2026-11-25T14:00:00+00:00",
        "sync_id": "api-abc",
        "ctr": 678 / 12_345,
        "cpc": 1234.56 / 678,
        "cpm": 1000.0 * 1234.56 / 12_345,
    }


@pytest.mark.parametrize("campaign_id", ["fb_404", "nope"])
async def test_an_unknown_campaign_is_a_404_naming_it(client: httpx.AsyncClient, campaign_id: str) -> None:
    response = await client.get(f"/api/campaigns/{campaign_id}")
    assert response.status_code == 404
    assert campaign_id in response.json()["detail"]


async def test_a_malformed_campaign_id_is_a_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/campaigns/_bad%20id")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "campaign_id"]


@pytest.mark.parametrize(
    ("query", "keep"),
    [
        ("channel=tiktok", lambda r: r.channel == "tiktok"),
        ("channel=tiktok&channel=instagram", lambda r: r.channel in ("tiktok", "instagram")),
        (
            "channel=tiktok&channel=instagram&channel=facebook&sort=clicks",
            lambda r: r.channel != "google_ads",
        ),
        ("name=HARL", lambda r: r.name == "charlie"),
        (
            "name=a&channel=google_ads&sort=name&order=asc",
            lambda r: "a" in r.name and r.channel == "google_ads",
        ),
        ("date_from=2026-11-04", lambda r: r.date >= dt.date(2026, 11, 4)),
        ("date_to=2026-11-04", lambda r: r.date <= dt.date(2026, 11, 4)),
        (
            "date_from=2026-11-03&date_to=2026-11-05",
            lambda r: dt.date(2026, 11, 3) <= r.date <= dt.date(2026, 11, 5),
        ),
        ("min_roi=0.5", lambda r: r.roi >= 0.5),
        ("max_roi=0", lambda r: r.roi <= 0),
        ("min_cost=10.25&max_cost=99.99", lambda r: 10.25 <= r.cost <= 99.99),
        ("campaign_id_prefix=gads_0001", lambda r: r.campaign_id.startswith("gads_0001")),
        (
            "channel=facebook&min_roi=0&max_cost=100&date_from=2026-11-02",
            lambda r: (
                r.channel == "facebook" and r.roi >= 0 and r.cost <= 100 and r.date >= dt.date(2026, 11, 2)
            ),
        ),
    ],
)
async def test_filters_return_exactly_the_matching_campaigns(
    client: httpx.AsyncClient, seeded: list[Any], query: str, keep: Any
) -> None:
    items = await _all_pages(client, f"/api/campaigns?{query}&limit=17")
    expected = {r.campaign_id for r in seeded if keep(r)}
    assert expected, "the filter should match something"
    assert sorted(_ids(items)) == sorted(expected)


async def test_name_search_ignores_case_and_takes_wildcards_literally(
    client: httpx.AsyncClient, seed: Any
) -> None:
    names = ["Summer SALE 50% off", "summer sale 50x off", "Winter_Sale", "WinterXSale", "Ünïcode Sale"]
    # (Case is folded by the database's LC_CTYPE: with C, as here, in ASCII only; exact text always matches.)
    await seed.campaigns([seed.row(f"fb_{i}", name=name) for i, name in enumerate(names)])

    async def found(text: str) -> set[str]:
        response = await client.get("/api/campaigns", params={"name": text})
        assert response.status_code == 200, response.text
        return {item["name"] for item in response.json()["items"]}

    assert await found("sale 50%") == {"Summer SALE 50% off"}
    assert await found("r_s") == {"Winter_Sale"}
    assert await found("SUMMER") == {"Summer SALE 50% off", "summer sale 50x off"}
    assert await found("Ünï") == {"Ünïcode Sale"}
    assert await found("autumn") == set()


async def test_prefix_is_literal_so_underscore_and_percent_are_not_wildcards(
    client: httpx.AsyncClient, seed: Any
) -> None:
    await seed.campaigns([seed.row("ab_1"), seed.row("abx1"), seed.row("ab.1"), seed.row("ab%1")])
    assert _ids((await client.get("/api/campaigns?campaign_id_prefix=ab_")).json()["items"]) == ["ab_1"]


@pytest.mark.parametrize("sort", list(SortField))
@pytest.mark.parametrize("order", ["asc", "desc"])
async def test_every_sort_pages_through_all_rows_in_order_without_gaps_or_repeats(
    client: httpx.AsyncClient, seeded: list[Any], sort: SortField, order: str
) -> None:
    items = await _all_pages(client, f"/api/campaigns?sort={sort.value}&order={order}&limit=20")
    assert len(items) == len(seeded)
    assert len(set(_ids(items))) == len(seeded)
    keys = [_sort_key(item, sort) for item in items]
    assert keys == sorted(keys, reverse=order == "desc")


def _sort_key(item: dict[str, Any], sort: SortField) -> Any:
    """The item's sort key: a rate without a denominator (null) sorts below every rate."""
    value = item[sort.value]
    return NO_RATE if value is None else value


async def test_a_rate_without_a_denominator_is_null_and_sorts_last_descending(
    client: httpx.AsyncClient, seed: Any
) -> None:
    await seed.campaigns(
        [
            seed.row("fb_1", impressions=0, clicks=0, cost=0.0),
            seed.row("fb_2", impressions=100, clicks=0, cost=5.0),
            seed.row("fb_3", impressions=100, clicks=10, cost=5.0),
        ]
    )
    items = (await client.get("/api/campaigns?sort=cpc&order=desc")).json()["items"]
    assert [(i["campaign_id"], i["cpc"]) for i in items] == [("fb_3", 0.5), ("fb_2", None), ("fb_1", None)]
    paged = await _all_pages(client, "/api/campaigns?sort=ctr&order=asc&limit=1")
    assert [(i["campaign_id"], i["ctr"]) for i in paged] == [("fb_1", None), ("fb_2", 0.0), ("fb_3", 0.1)]


async def test_pages_follow_the_next_link_with_the_same_filters(
    client: httpx.AsyncClient, seeded: list[Any]
) -> None:
    first = (await client.get("/api/campaigns?channel=instagram&sort=roi&order=asc&limit=5")).json()
    assert first["next"].startswith("/api/campaigns?channel=instagram&sort=roi&order=asc&limit=5&cursor=")
    second = (await client.get(first["next"])).json()
    assert {i["channel"] for i in first["items"] + second["items"]} == {"instagram"}
    assert not set(_ids(first["items"])) & set(_ids(second["items"]))


async def test_inserts_between_page_fetches_never_repeat_or_skip_existing_rows(
    client: httpx.AsyncClient, seeded: list[Any], seed: Any
) -> None:
    inserted: list[Any] = []

    async def insert_more(page: int) -> None:
        # New rows land before, inside and after the pages already read (dates span the whole range).
        batch = _rows(seed, 15, start=10_000 + 15 * page, rng_seed=page)
        await seed.campaigns(batch)
        inserted.extend(batch)

    items = await _all_pages(client, "/api/campaigns?sort=date&order=desc&limit=25", between=insert_more)
    ids = _ids(items)
    assert len(ids) == len(set(ids)), "no campaign is served twice"
    assert {r.campaign_id for r in seeded} <= set(ids), "every campaign that existed is served"
    keys = [(i["date"], i["campaign_id"]) for i in items]
    assert [k[0] for k in keys] == sorted((k[0] for k in keys), reverse=True)


async def test_an_empty_table_gives_an_empty_last_page(client: httpx.AsyncClient) -> None:
    body = (await client.get("/api/campaigns")).json()
    assert body == {"items": [], "limit": 50, "next_cursor": None, "next": None}


async def test_limit_defaults_to_50_and_allows_500(client: httpx.AsyncClient, seed: Any) -> None:
    await seed.campaigns(_rows(seed, 520))
    assert len((await client.get("/api/campaigns")).json()["items"]) == 50
    assert len((await client.get("/api/campaigns?limit=500")).json()["items"]) == 500


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=ten", "limit"),
        ("sort=budget", "sort"),
        ("name=", "name"),
        ("name=" + "x" * 256, "name"),
        ("name=a%00b", "name"),
        ("channel=facebook&channel=myspace", "channel"),
        ("sort=id;DROP TABLE campaigns", "sort"),
        ("order=up", "order"),
        ("channel=myspace", "channel"),
        ("date_from=2026-02-30", "date_from"),
        ("date_from=2026-11-05&date_to=2026-11-01", "date_to"),
        ("min_roi=nan", "min_roi"),
        ("min_roi=inf", "min_roi"),
        ("min_roi=2&max_roi=1", "max_roi"),
        ("min_cost=-1", "min_cost"),
        ("min_cost=5&max_cost=1", "max_cost"),
        ("campaign_id_prefix=%25", "campaign_id_prefix"),
        ("campaign_id_prefix=a%00b", "campaign_id_prefix"),
        ("cursor=not-a-cursor", "cursor"),
        ("cursor=%2F%2F%2F", "cursor"),
        ("chanel=facebook", "chanel"),
    ],
)
async def test_bad_parameters_are_a_422_naming_the_field(
    client: httpx.AsyncClient, query: str, field: str
) -> None:
    response = await client.get(f"/api/campaigns?{query}")
    assert response.status_code == 422, response.text
    assert [e["loc"][:2] for e in response.json()["detail"]] == [["query", field]]


async def test_a_cursor_from_another_sort_is_a_422_that_says_so(
    client: httpx.AsyncClient, seeded: list[Any]
) -> None:
    cursor = (await client.get("/api/campaigns?sort=roi&limit=2")).json()["next_cursor"]
    response = await client.get(f"/api/campaigns?sort=cost&cursor={cursor}")
    assert response.status_code == 422
    assert "sort=roi&order=desc" in response.json()["detail"][0]["msg"]


def _same_as_json(row: dict[str, str], item: dict[str, Any]) -> bool:
    """A CSV row (text) holds the JSON item's values: null as empty, numbers exactly, the rest as text."""
    return list(row) == list(item) and all(
        text == ""
        if value is None
        else float(text) == value
        if isinstance(value, int | float)
        else text == value
        for text, value in zip(row.values(), item.values(), strict=True)
    )


@pytest.mark.parametrize(
    "query",
    [
        "channel=facebook&channel=tiktok&sort=cpc&order=desc",
        "sort=name&order=asc&min_roi=0",
        "sort=fetched_at&order=asc&name=ALPHA",
    ],
)
async def test_the_csv_export_is_every_json_page_in_the_same_order(
    client: httpx.AsyncClient, seeded: list[Any], query: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export, "BATCH", 7)  # many database reads, to walk the keyset across them
    items = await _all_pages(client, f"/api/campaigns?{query}&limit=20")
    response = await client.get(f"/api/campaigns?{query}&format=csv")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith('attachment; filename="campaigns-')
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert items, "the query should match something"
    assert len(rows) == len(items)
    assert all(_same_as_json(row, item) for row, item in zip(rows, items, strict=True))


async def test_accept_text_csv_asks_for_the_export_and_format_json_overrides_it(
    client: httpx.AsyncClient, seeded: list[Any]
) -> None:
    wanted = await client.get("/api/campaigns?channel=instagram", headers={"Accept": "text/csv"})
    assert wanted.headers["content-type"] == "text/csv; charset=utf-8"
    header, *lines = wanted.text.splitlines()
    assert header.split(",") == list(CampaignOut.model_fields)
    assert len(lines) == sum(r.channel == "instagram" for r in seeded)
    explicit = await client.get("/api/campaigns?format=json", headers={"Accept": "text/csv"})
    assert explicit.headers["content-type"] == "application/json"
    browser = await client.get("/api/campaigns", headers={"Accept": "application/json, text/csv;q=0.5"})
    assert browser.headers["content-type"] == "application/json"


async def test_an_empty_export_is_the_header_alone_and_a_bad_format_is_a_422(
    client: httpx.AsyncClient,
) -> None:
    empty = await client.get("/api/campaigns?format=csv")
    assert empty.status_code == 200
    assert empty.text == ",".join(CampaignOut.model_fields) + "\r\n"
    bad = await client.get("/api/campaigns?format=xml")
    assert bad.status_code == 422
    assert [e["loc"] for e in bad.json()["detail"]] == [["query", "format"]]
