"""The main list queries use the indexes (EXPLAIN on a seeded, analysed table), custom and generic plans."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import asyncpg
import pytest

from demetra_query_api.campaigns import repository
from demetra_query_api.cursors import SortField, SortOrder
from demetra_query_api.syncs.repository import _sync_heads_statement

ROWS = 50_000

SEED_CAMPAIGNS = f"""
INSERT INTO campaigns (campaign_id, channel, name, date, impressions, clicks, engagement, cost,
                       conversion_rate, roi, fetched_at, sync_id)
SELECT (ARRAY['fb','ig','gads','tt'])[1 + g % 4] || '_' || lpad(g::text, 8, '0'),
       (ARRAY['facebook','instagram','google_ads','tiktok'])[1 + g % 4],
       'Campaign ' || g,
       DATE '2026-01-01' + (g % 300)::int,
       1000 + g % 5000, g % 1000, g % 300,
       round(((g * 7919) % 100000 / 10.0)::numeric, 2),
       (g % 97) / 1000.0,
       ((g * 31) % 401) / 100.0 - 1.0,
       TIMESTAMPTZ '2026-01-01 00:00Z' + make_interval(hours => g % 7200),
       'sched-seed'
FROM generate_series(1, {ROWS}) AS g
"""

SEED_EVENTS = """
INSERT INTO events (event_id, sync_id, channel, type, payload, occurred_at)
SELECT gen_random_uuid(), 'sched-' || (g / 10),
       (ARRAY['facebook','instagram','google_ads','tiktok'])[1 + g % 4], 'load', '{"inserted": 1}'::jsonb,
       TIMESTAMPTZ '2026-01-01 00:00Z' + make_interval(secs => g)
FROM generate_series(1, 20000) AS g
"""


@pytest.fixture
async def analysed(db: asyncpg.Connection) -> asyncpg.Connection:
    await db.execute(SEED_CAMPAIGNS)
    await db.execute(SEED_EVENTS)
    await db.execute("ANALYZE campaigns")
    await db.execute("ANALYZE events")
    return db


def _full_sorts(plan: str) -> list[str]:
    return [line for line in plan.splitlines() if re.match(r"\s*(->\s*)?Sort\s+\(", line)]


async def _plan(db: asyncpg.Connection, sql: str, args: list[Any], *, generic: bool) -> str:
    mode = "force_generic_plan" if generic else "force_custom_plan"
    await db.execute(f"SET plan_cache_mode = {mode}")
    try:
        statement = await db.prepare(f"EXPLAIN {sql}")
        return "\n".join(row[0] for row in await statement.fetch(*args))
    finally:
        await db.execute("RESET plan_cache_mode")


LIST_CASES = [
    # (filters, sort, order, cursor key, index the page must come from)
    (
        {"channel": ["facebook"]},
        SortField.DATE,
        SortOrder.DESC,
        dt.date(2026, 6, 1),
        "ix_campaigns_channel_date_id",
    ),
    (
        {"channel": ["tiktok"], "date_from": dt.date(2026, 3, 1)},
        SortField.DATE,
        SortOrder.ASC,
        dt.date(2026, 4, 1),
        "ix_campaigns_channel_date_id",
    ),
    ({}, SortField.DATE, SortOrder.DESC, dt.date(2026, 6, 1), "ix_campaigns_date_id"),
    ({}, SortField.ROI, SortOrder.DESC, 0.5, "ix_campaigns_roi_id"),
    (
        {"channel": ["facebook", "tiktok"]},
        SortField.ROI,
        SortOrder.ASC,
        0.5,
        "ix_campaigns_roi_id",
    ),
    ({}, SortField.COST, SortOrder.ASC, None, "ix_campaigns_cost_id"),
    ({}, SortField.CAMPAIGN_ID, SortOrder.ASC, "gads_00001000", "uq_campaigns_campaign_id"),
    (
        {},
        SortField.FETCHED_AT,
        SortOrder.DESC,
        dt.datetime(2026, 5, 1, tzinfo=dt.UTC),
        "ix_campaigns_fetched_at",
    ),
]


@pytest.mark.parametrize("generic", [False, True], ids=["custom-plan", "generic-plan"])
@pytest.mark.parametrize(("filters", "sort", "order", "key", "index"), LIST_CASES)
async def test_a_page_of_campaigns_is_an_index_range_scan_without_a_sort(
    analysed: asyncpg.Connection,
    filters: dict[str, Any],
    sort: SortField,
    order: SortOrder,
    key: Any,
    index: str,
    generic: bool,
) -> None:
    after = (key, 25_000) if key is not None else None
    statement = repository.campaign_page_statement(filters, sort, order, after is not None)
    args = statement.args(repository.campaign_page_values(filters, after, 51))
    plan = await _plan(analysed, statement.sql, args, generic=generic)
    assert index in plan, plan
    assert "Seq Scan" not in plan, plan
    assert not _full_sorts(plan), plan  # the index gives the order (at most ties are sorted incrementally)


async def test_one_campaign_is_a_unique_index_lookup(analysed: asyncpg.Connection) -> None:
    plan = await _plan(
        analysed, "SELECT * FROM campaigns WHERE campaign_id = $1", ["fb_00000004"], generic=True
    )
    assert "uq_campaigns_campaign_id" in plan, plan


async def test_sync_history_walks_the_events_by_time_using_indexes(analysed: asyncpg.Connection) -> None:
    statement = _sync_heads_statement(True)
    args = statement.args(
        {"after_at": dt.datetime(2026, 1, 1, 3, tzinfo=dt.UTC), "after_id": 10_000, "limit": 21}
    )
    plan = await _plan(analysed, statement.sql, args, generic=True)
    assert "ix_events_occurred_at" in plan, plan
    assert "ix_events_sync_id_occurred_at" in plan, plan
    assert "Seq Scan" not in plan, plan
