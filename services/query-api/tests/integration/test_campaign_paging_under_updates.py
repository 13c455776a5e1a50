"""Keyset pages of every sort stay exact while a concurrent writer changes campaigns between and during the
page reads.

What "exact" means with rows changing under the walk: every campaign whose sort key did not change during
the walk is served exactly once, and those campaigns come in (key, id) order; a campaign whose key changed
may move across the cursor (served twice, or not at all). Rows are updated as the loader does (metrics,
date, fetched_at, name; the campaign_id never changes). With a campaign id prefix (a filter the writer never
changes the answer to) and the list's walk bounds made tiny, most pages end short at a walk's frontier (fewer
items than asked, and a next cursor): the same holds across them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections import Counter
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import bindparam, select

from demetra_common.db import plain_dsn
from demetra_common.tables import CAMPAIGN_SORT_KEYS, NO_RATE, CampaignRow
from demetra_query_api.campaigns import repository
from demetra_query_api.cursors import SortField, SortOrder
from demetra_query_api.statements import compile_statement
from demetra_testkit import eventually

ROWS = 240
PAGE = 20
campaigns = CampaignRow.__table__.c

_UPDATE = """
UPDATE campaigns
   SET impressions = $2, clicks = $3, engagement = $4, cost = $5, roi = $6, conversion_rate = $7,
       date = $8, fetched_at = $9, name = $10, updated_at = now()
 WHERE id = $1
"""


def _key_statement(sort: SortField) -> str:
    return compile_statement(
        select(CAMPAIGN_SORT_KEYS[sort]).where(campaigns.id == bindparam("id", type_=campaigns.id.type))
    ).sql


class Writer:
    """Updates random campaigns in a loop on its own connection; remembers whose sort key it changed."""

    def __init__(self, connection: asyncpg.Connection, sort: SortField, ids: list[int]) -> None:
        self.connection, self.ids, self.key_sql = connection, ids, _key_statement(sort)
        self.changed: set[int] = set()
        self.updates = 0
        self.rng = random.Random(sort.value)

    async def update_one(self) -> None:
        rng, row = self.rng, self.rng.choice(self.ids)
        impressions = rng.choice([0, rng.randint(1, 5000)])
        async with self.connection.transaction():
            before = await self.connection.fetchval(self.key_sql + " FOR UPDATE", row)
            await self.connection.execute(
                _UPDATE,
                row,
                impressions,
                rng.randint(0, impressions),
                rng.randint(0, 3),
                rng.choice([0, 1, 99]) + rng.randint(0, 99) / 100,
                rng.choice([-1.0, 0.5, 2.0]),
                rng.choice([0.0, 0.1]),
                dt.date(2026, 11, 1) + dt.timedelta(days=rng.randint(0, 5)),
                dt.datetime(2026, 11, 25, rng.randint(0, 2), tzinfo=dt.UTC),
                rng.choice(["alpha", "bravo", "charlie"]),
            )
            after = await self.connection.fetchval(self.key_sql, row)
        if after != before:
            self.changed.add(row)
        self.updates += 1

    async def run(self) -> None:
        while True:
            await self.update_one()  # each waits on the database: the page reads interleave


def _sort_key(item: dict[str, Any], sort: SortField) -> Any:
    value = item[sort.value]
    return NO_RATE if value is None else value


@pytest.fixture(params=["full pages", "short pages"])
def bounds(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str | None:
    """The campaign id prefix the walk filters by (None: no filter, no walk); for short pages, walks of
    a few rows and filter first only for fewer matches than a page (so a capped channel walks again)."""
    if request.param == "full pages":
        return None
    monkeypatch.setattr(repository, "WALK_ROWS", 7)
    monkeypatch.setattr(repository, "FILTER_FIRST_ROWS", 3)
    for cached in (repository._campaign_page_statement, repository._beyond_walk_statement):
        cached.cache_clear()
        request.addfinalizer(cached.cache_clear)  # the statements hold the literals
    return "fb_001"


@pytest.mark.parametrize("sort", list(SortField))
async def test_pages_serve_every_campaign_whose_key_stays_exactly_once_while_others_change(
    client: httpx.AsyncClient, seed: Any, database_url: str, sort: SortField, bounds: str | None
) -> None:
    prefix = bounds
    rng = random.Random(11)
    rows = []
    for i in range(ROWS):  # few distinct values: many ties, broken by id
        impressions = rng.choice([0, 100, 1000])
        rows.append(
            seed.row(
                f"fb_{i:05d}",
                channel=["facebook", "tiktok", "instagram"][i % 3],
                impressions=impressions,
                clicks=rng.choice([0, impressions // 10]),
                cost=rng.choice([0.0, 5.0, 10.0]),
                roi=rng.choice([-1.0, 0.5]),
                name=rng.choice(["alpha", "bravo"]),
            )
        )
    await seed.campaigns(rows)
    connection = await asyncpg.connect(plain_dsn(database_url))
    records = await connection.fetch("SELECT campaign_id, id FROM campaigns")
    await connection.close()
    ids_by_campaign = {record["campaign_id"]: record["id"] for record in records}
    ids = list(ids_by_campaign.values())
    listed = {row for campaign, row in ids_by_campaign.items() if campaign.startswith(prefix or "")}
    for order in SortOrder:
        # A connection per walk: cancelling the writer may leave its transaction open.
        connection = await asyncpg.connect(plain_dsn(database_url))
        writer = Writer(connection, sort, ids)
        task = asyncio.create_task(writer.run())
        served: list[dict[str, Any]] = []
        short = 0
        try:
            url: str | None = f"/api/campaigns?sort={sort.value}&order={order.value}&limit={PAGE}"
            url += f"&campaign_id_prefix={prefix}" if prefix else ""
            while url:
                body = (await client.get(url)).json()
                served.extend(body["items"])
                url = body["next"]
                short += url is not None and len(body["items"]) < PAGE
                seen = writer.updates
                await eventually(
                    lambda t=task, w=writer, seen=seen: _grew(t, w, seen),
                    timeout=10,
                    what="updates meanwhile",
                )
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await connection.close()
        counts = Counter(ids_by_campaign[item["campaign_id"]] for item in served)
        steady = [item for item in served if ids_by_campaign[item["campaign_id"]] not in writer.changed]
        assert writer.updates >= 3 * (len(listed) // PAGE), "the writer ran during the walk"
        assert short if prefix else not short, f"{short} short pages"
        assert set(counts) <= listed
        missing = listed - writer.changed - set(counts)
        assert not missing, f"{order}: campaigns whose key never changed were skipped: {missing}"
        repeated = {row for row, n in counts.items() if n > 1 and row not in writer.changed}
        assert not repeated, f"{order}: campaigns whose key never changed were served twice: {repeated}"
        positions = [(_sort_key(item, sort), ids_by_campaign[item["campaign_id"]]) for item in steady]
        assert positions == sorted(positions, reverse=order is SortOrder.DESC)
        if sort is SortField.CAMPAIGN_ID:  # a key no update changes: every campaign exactly once
            assert not writer.changed and sorted(counts.values()) == [1] * len(listed)


async def _grew(task: asyncio.Task[None], writer: Writer, seen: int) -> bool:
    if task.done():  # the writer failed: say why
        task.result()
    return writer.updates >= seen + 3
