"""The main list queries use the indexes (EXPLAIN on a seeded, analysed table), custom and generic plans
(the campaign list's whole matrix: test_campaign_list_plans.py; the sync history's: test_sync_plans.py); a
campaign's history reads only the partitions of its range, the timeseries and the summary read the view by
its indexes, and pages of insights in either order are read from their sort's index."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

import asyncpg
import pytest

from demetra_common.tables import CAMPAIGN_DAILY_METRICS, DAILY_PARTITIONS
from demetra_query_api.campaigns import repository
from demetra_query_api.cursors import InsightSort
from demetra_query_api.insights.repository import insight_page_statement
from demetra_query_api.metrics.repository import DAILY_FILTERS, period_statement, summary_statement
from demetra_query_api.metrics.timeseries import Granularity
from demetra_query_api.statements import bind_filters

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


@pytest.fixture
async def analysed(db: asyncpg.Connection) -> asyncpg.Connection:
    await db.execute(SEED_CAMPAIGNS)
    await db.execute("ANALYZE campaigns")
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


# Pages of campaigns, every filter set and sort: test_campaign_list_plans.py.


async def test_one_campaign_is_a_unique_index_lookup(analysed: asyncpg.Connection) -> None:
    plan = await _plan(
        analysed, "SELECT * FROM campaigns WHERE campaign_id = $1", ["fb_00000004"], generic=True
    )
    assert "uq_campaigns_campaign_id" in plan, plan


# Pages of the sync history, every filter: test_sync_plans.py.


# --------------------------------------------------------------------------------------- daily history

DAILY_CAMPAIGNS, FIRST_DAY, DAYS = 400, dt.date(2026, 1, 1), 243  # 2026-01-01 .. 2026-08-31: 8 partitions

SEED_DAILY = f"""
INSERT INTO campaign_daily (campaign_id, date, channel, impressions, clicks, engagement, cost, conversions,
                            revenue, fetched_at, sync_id)
SELECT (ARRAY['fb','ig','gads','tt'])[1 + c % 4] || '_' || lpad(c::text, 8, '0'),
       DATE '{FIRST_DAY}' + day,
       (ARRAY['facebook','instagram','google_ads','tiktok'])[1 + c % 4],
       1000 + (c * day) % 5000, (c + day) % 1000, (c * 7 + day) % 300,
       round((((c * 7919 + day) % 100000) / 10.0)::numeric, 2),
       (c + day) % 17, ((c * 31 + day) % 4000) / 10.0,
       TIMESTAMPTZ '{FIRST_DAY}T00:00Z' + make_interval(days => day + 1),
       'sched-seed'
FROM generate_series(1, {DAILY_CAMPAIGNS}) AS c, generate_series(0, {DAYS - 1}) AS day
"""


@pytest.fixture
async def daily_history(db: asyncpg.Connection) -> asyncpg.Connection:
    for month in DAILY_PARTITIONS.months(FIRST_DAY, FIRST_DAY + dt.timedelta(days=DAYS - 1)):
        await db.execute(DAILY_PARTITIONS.create_sql(month))
    await db.execute(SEED_DAILY)
    await db.execute("ANALYZE campaign_daily")
    await db.execute(CAMPAIGN_DAILY_METRICS.refresh_sql)
    await db.execute(f"ANALYZE {CAMPAIGN_DAILY_METRICS.name}")
    return db


def _partitions_read(plan: str) -> set[str]:
    return set(re.findall(rf"\bon ({DAILY_PARTITIONS.parent}_p\d{{6}})\b", plan))


HISTORY_VALUES = {
    "campaign_id": "fb_00000040",
    "date_from": dt.date(2026, 3, 10),
    "date_to": dt.date(2026, 4, 20),
}


async def _prepared_plan(db: asyncpg.Connection, sql: str, args: list[Any], *, generic: bool) -> str:
    """The plan of ``sql`` as a server-side prepared statement executes it (generic: with parameters that
    the planner cannot see, so any partition pruning happens when the executor starts)."""
    mode = "force_generic_plan" if generic else "force_custom_plan"
    await db.execute(f"SET plan_cache_mode = {mode}")
    try:
        await db.execute(f"PREPARE explained AS {sql}")
        literals = ", ".join(f"'{value}'" for value in args)  # fixed test values, no quotes inside
        return "\n".join(row[0] for row in await db.fetch(f"EXPLAIN EXECUTE explained({literals})"))
    finally:
        await db.execute("DEALLOCATE explained")
        await db.execute("RESET plan_cache_mode")


@pytest.mark.parametrize("generic", [False, True], ids=["custom-plan", "generic-plan"])
async def test_a_campaigns_history_reads_only_the_partitions_of_its_range_by_index(
    daily_history: asyncpg.Connection, generic: bool
) -> None:
    statement = repository.CAMPAIGN_DAYS
    args = statement.args(HISTORY_VALUES)
    plan = await _prepared_plan(daily_history, statement.sql, args, generic=generic)
    in_range = {DAILY_PARTITIONS.name(dt.date(2026, month, 1)) for month in (3, 4)}
    partitions = len(await daily_history.fetch(DAILY_PARTITIONS.list_sql))
    assert partitions >= 8
    if generic:  # pruned when the executor starts, from the parameters' values
        assert "$1" in plan and f"Subplans Removed: {partitions - 2}" in plan, plan
    assert _partitions_read(plan) == in_range, plan
    for partition in in_range:  # by its primary key (campaign_id, date): an index or bitmap index scan
        assert re.search(rf"Index Scan (using|on) {partition}_pkey", plan), plan
    assert "Seq Scan" not in plan, plan
    history = await statement.fetch(daily_history, **HISTORY_VALUES)
    assert [row["date"] for row in history] == [
        dt.date(2026, 3, 10) + dt.timedelta(days=n) for n in range(42)
    ]  # every day of the range, in order


@pytest.mark.parametrize("generic", [False, True], ids=["custom-plan", "generic-plan"])
@pytest.mark.parametrize("granularity", list(Granularity))
async def test_a_channels_timeseries_reads_the_view_by_its_index(
    daily_history: asyncpg.Connection, granularity: Granularity, generic: bool
) -> None:
    filters = {"channel": ["google_ads"], "date_from": dt.date(2026, 5, 1), "date_to": dt.date(2026, 7, 29)}
    statement, args = period_statement(filters, granularity)
    plan = await _prepared_plan(daily_history, statement.sql, args, generic=generic)
    assert f"ux_{CAMPAIGN_DAILY_METRICS.name}_channel_date" in plan, plan
    assert "Seq Scan" not in plan, plan


@pytest.mark.parametrize("generic", [False, True], ids=["custom-plan", "generic-plan"])
@pytest.mark.parametrize("per_day", [False, True], ids=["per-channel", "per-day"])
async def test_the_summary_reads_the_view_by_its_indexes(
    daily_history: asyncpg.Connection, per_day: bool, generic: bool
) -> None:
    """Each channel's freshness by one probe of (channel, as_of), not an aggregate over the whole view; the
    view is read otherwise only for the range's rows (by its (channel, date) index, or a scan filtered on
    the range where the planner finds that cheaper)."""
    filters = {"date_from": dt.date(2026, 5, 1), "date_to": dt.date(2026, 5, 30)}
    values: dict[str, Any] = {}
    statement = summary_statement(bind_filters(DAILY_FILTERS, filters, values), per_day)
    plan = await _prepared_plan(daily_history, statement.sql, statement.args(values), generic=generic)
    probe = CAMPAIGN_DAILY_METRICS.index_name(("channel", "as_of"))
    assert f"Index Scan Backward using {probe} on {CAMPAIGN_DAILY_METRICS.name}" in plan, plan
    scan = r"(?:Seq Scan|Bitmap Heap Scan|Index (?:Only )?Scan(?: Backward)?(?: using \S+)?)"
    reads = re.findall(rf"{scan} on {CAMPAIGN_DAILY_METRICS.name}\b.*\n\s*(.*)", plan)
    assert len(reads) == 2, plan  # the freshness probe and the range, nothing else
    probes = [read for read in reads if read.startswith("Index Cond: (channel =")]
    ranges = [read for read in reads if "date >=" in read and "date <=" in read]
    assert len(probes) == 1 and len(ranges) == 1, plan


# -------------------------------------------------------------------------------------------- insights

INSIGHTS = 5_000

SEED_INSIGHTS = f"""
INSERT INTO insights (id, channel, campaign_id, kind, severity, status, first_day, last_day, metric,
                      observed, expected, baseline_from, baseline_to, money_at_stake, explanation, sync_id,
                      version, published_version, opened_at, updated_at, resolved_at)
SELECT gen_random_uuid(),
       (ARRAY['facebook','instagram','google_ads','tiktok'])[1 + g % 4],
       'c_' || lpad(g::text, 8, '0'),
       (ARRAY['cpa_spike','tracking_break','spend_spike','ctr_drop'])[1 + g % 4],
       (ARRAY['info','warning','critical'])[1 + g % 3],
       CASE WHEN g % 5 = 0 THEN 'open' ELSE 'resolved' END,
       DATE '2026-06-01' + (g % 150), DATE '2026-06-01' + (g % 150) + g % 5, 'cpa', 30, 12,
       DATE '2026-05-04' + (g % 150), DATE '2026-05-31' + (g % 150),
       ((g * 7919) % 100000) / 10.0, 'CPA rose.', 'sched-seed', 1, 1,
       TIMESTAMPTZ '2026-06-02 06:00Z' + make_interval(mins => g * 37),
       TIMESTAMPTZ '2026-06-02 06:00Z' + make_interval(mins => g * 37),
       CASE WHEN g % 5 = 0 THEN NULL ELSE TIMESTAMPTZ '2026-06-05 06:00Z' + make_interval(mins => g * 37) END
FROM generate_series(1, {INSIGHTS}) AS g
"""

INSIGHT_CASES = [
    # (filters, sort, cursor key, index the page must come from)
    ({}, InsightSort.MONEY, None, "ix_insights_money_at_stake_id"),
    ({}, InsightSort.MONEY, 5000.0, "ix_insights_money_at_stake_id"),
    ({}, InsightSort.TIME, None, "ix_insights_opened_at_id"),
    ({}, InsightSort.TIME, dt.datetime(2026, 7, 1, tzinfo=dt.UTC), "ix_insights_opened_at_id"),
    ({"severity": ["critical"]}, InsightSort.TIME, None, "ix_insights_opened_at_id"),
]


@pytest.fixture
async def insights_table(db: asyncpg.Connection) -> asyncpg.Connection:
    await db.execute(SEED_INSIGHTS)
    await db.execute("ANALYZE insights")
    return db


@pytest.mark.parametrize("generic", [False, True], ids=["custom-plan", "generic-plan"])
@pytest.mark.parametrize(("filters", "sort", "key", "index"), INSIGHT_CASES)
async def test_a_page_of_insights_is_read_from_its_sorts_index_without_a_sort(
    insights_table: asyncpg.Connection,
    filters: dict[str, Any],
    sort: InsightSort,
    key: Any,
    index: str,
    generic: bool,
) -> None:
    after = (key, uuid.UUID(int=2**127)) if key is not None else None
    statement, args = insight_page_statement(filters, sort, after, 101)
    plan = await _plan(insights_table, statement.sql, args, generic=generic)
    assert index in plan and "Backward" in plan, plan
    assert "Seq Scan" not in plan, plan
    assert not _full_sorts(plan), plan


@pytest.mark.parametrize("generic", [False, True], ids=["custom-plan", "generic-plan"])
async def test_a_channels_open_insights_are_found_by_index(
    insights_table: asyncpg.Connection, generic: bool
) -> None:
    # One open insight per (channel, campaign, kind) bounds this set: the open key's partial index finds it
    # (then a small sort), or the money index is walked; never the whole table.
    statement, args = insight_page_statement(
        {"status": "open", "channel": ["facebook"]}, InsightSort.MONEY, None, 101
    )
    plan = await _plan(insights_table, statement.sql, args, generic=generic)
    assert "Seq Scan" not in plan, plan


async def test_one_insight_is_a_primary_key_lookup(insights_table: asyncpg.Connection) -> None:
    plan = await _plan(insights_table, "SELECT * FROM insights WHERE id = $1", [uuid.uuid4()], generic=True)
    assert "pk_insights" in plan, plan
