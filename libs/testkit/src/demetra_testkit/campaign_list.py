"""The campaign list's plan matrix, shared by its test and its benchmark: a seeded ``campaigns`` table shaped
like real ad accounts, the representative filter sets a dashboard sends, and the rule a plan must obey.

The rule (``plan_violations``), on PostgreSQL's EXPLAIN (FORMAT JSON) tree:
- no sequential scan of ``campaigns``;
- every Sort (or Incremental Sort) node sorts rows bounded by LIMIT: each path from it down to a table scan
  passes through a Limit node first (the per-channel pages of at most ``limit`` rows each), or else the rows
  it sorts number at most SORT_BOUND (estimated by EXPLAIN; counted by EXPLAIN ANALYZE): a filter that
  selects few rows (a rare name, a narrow range) is read through its index and those rows sorted, which
  the planner prefers to walking the sort's index in search of them.

What the rule cannot prove: a page of a filter on one column sorted by another walks the sort's index and
filters (no Sort node, so the rule holds) until it has a page; the rows walked are about ``limit /
selectivity`` when the filtered column and the sort key are independent, as in ``seed_sql``, but a filter
anti-correlated with the sort (the matching rows all at the far end of the order) would walk most of the
channel. So the repository walks at most WALK_ROWS rows per channel, and when a channel's walk stops there
short of a page first, reads the capped channels in a second statement (both are checked here): filter
first when at most FILTER_FIRST_ROWS rows match (a Sort of the matches, which a LIMIT on their count
bounds: it reads them from a CTE), else walking them again; the page then ends short at the walk's end.
The first statement's bound is on the rows it reads (``rows_read``, from EXPLAIN ANALYZE); the second's is
a time budget. The benchmark (bench/campaign_list) measures every class's time on a large table.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import asyncpg

from demetra_common.contracts import Channel

# Word lists of the seeded names ("<adjective> <noun> | <objective> #<n>"): a word matches ~1/20 of rows,
# "#<n>" a handful.
ADJECTIVES = [
    "spring",
    "summer",
    "autumn",
    "winter",
    "black",
    "cyber",
    "flash",
    "mega",
    "prime",
    "smart",
    "bold",
    "bright",
    "fresh",
    "urban",
    "global",
    "local",
    "daily",
    "weekly",
    "rapid",
    "golden",
]
NOUNS = [
    "sale",
    "launch",
    "promo",
    "retargeting",
    "lookalike",
    "brand",
    "search",
    "shopping",
    "video",
    "story",
    "reels",
    "carousel",
    "giveaway",
    "bundle",
    "clearance",
    "preorder",
    "webinar",
    "trial",
    "upgrade",
    "loyalty",
]
OBJECTIVES = ("Lead Gen", "Conversions", "Traffic", "Awareness", "App Installs")
PREFIX = {Channel.FACEBOOK: "fb", Channel.INSTAGRAM: "ig", Channel.GOOGLE_ADS: "gads", Channel.TIKTOK: "tt"}


def _array(values: Any) -> str:
    return "ARRAY[{}]".format(", ".join("'{}'".format(str(v).replace("'", "''")) for v in values))


def seed_sql(rows: int, *, first_id: int = 1, seed: float = 0.42) -> str:
    """INSERT ``rows`` campaigns, the same for the same arguments (setseed): each attribute drawn on its own
    (the planner's independence assumption holds; see the module's note on correlated filters): channels
    35/20/30/15 %, impressions skewed (2 % none), clicks <= impressions (5 % none), cost, ROI -1..3, 330
    reporting days, a month of fetch times."""
    channels = list(Channel)
    return f"""
SELECT setseed({seed});
INSERT INTO campaigns (campaign_id, channel, name, date, impressions, clicks, engagement, cost,
                       conversion_rate, roi, fetched_at, sync_id)
SELECT prefix || '_' || lpad(g::text, 9, '0'), channel,
       ({_array(ADJECTIVES)})[1 + floor(random() * 20)::int] || ' '
           || ({_array(NOUNS)})[1 + floor(random() * 20)::int] || ' | '
           || ({_array(OBJECTIVES)})[1 + floor(random() * 5)::int] || ' #' || g,
       DATE '2026-01-01' + floor(random() * 330)::int,
       impressions, clicks, (clicks * random())::bigint, round((clicks * (0.05 + 2 * random()))::numeric, 2),
       round((random() * 0.2)::numeric, 4)::double precision,
       round((random() * 4 - 1)::numeric, 3)::double precision,
       TIMESTAMPTZ '2026-11-01 00:00Z' + make_interval(secs => floor(random() * 2592000)),
       'sched-seed'
FROM (
    SELECT g, channel, prefix, impressions,
           CASE WHEN random() < 0.05 THEN 0 ELSE (impressions * random() * 0.08)::bigint END AS clicks
    FROM (
        SELECT g, ({_array(channels)})[c] AS channel, ({_array(PREFIX[ch] for ch in channels)})[c] AS prefix,
               CASE WHEN random() < 0.02 THEN 0 ELSE (power(random(), 2) * 1000000)::bigint END AS impressions
        FROM (
            SELECT g, (ARRAY[1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 4, 4, 4])[
                       1 + floor(random() * 20)::int] AS c
            FROM generate_series({first_id}::bigint, {first_id + rows - 1}::bigint) AS g
        ) AS drawn
    ) AS counted
) AS seeded
"""


# Representative filter sets a dashboard sends (request parameters by name, as CampaignQuery parses them).
FILTER_SETS: dict[str, dict[str, Any]] = {
    "none": {},
    "one channel": {"channel": [Channel.TIKTOK]},
    "two channels": {"channel": [Channel.FACEBOOK, Channel.INSTAGRAM]},
    "three channels": {"channel": [Channel.FACEBOOK, Channel.GOOGLE_ADS, Channel.TIKTOK]},
    "roi above": {"min_roi": 1.5},
    "roi band": {"min_roi": 0.5, "max_roi": 1.0},
    "cost band": {"min_cost": 100.0, "max_cost": 5000.0},
    # Cost grows with clicks: sorted by clicks or impressions descending, the cheap rows are at the far end
    # (the anti-correlated case the rule cannot bound; the benchmark times it).
    "cost below": {"max_cost": 20.0},
    "last 30 days": {"date_from": dt.date(2026, 10, 28), "date_to": dt.date(2026, 11, 26)},
    "name word": {"name": "retargeting"},
    "name rare": {"name": "#12345"},
    "channel + roi + date": {
        "channel": [Channel.INSTAGRAM],
        "min_roi": 0.0,
        "date_from": dt.date(2026, 6, 1),
    },
    "channels + cost + name": {
        "channel": [Channel.FACEBOOK, Channel.TIKTOK],
        "min_cost": 10.0,
        "name": "summer",
    },
    "id prefix": {"channel": [Channel.GOOGLE_ADS], "campaign_id_prefix": "gads_0001"},
}


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


SORT_BOUND = 1000  # rows a Sort may take from outside a LIMIT (a top-N heapsort of them: well under 1 ms)
_TABLE_SCANS = frozenset({"Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Heap Scan"})


def _unbounded_scans(node: dict[str, Any]) -> list[str]:
    """The table scans at or under ``node`` reached without passing a Limit node."""
    if node["Node Type"] == "Limit":
        return []
    if node["Node Type"] in _TABLE_SCANS:
        return [node["Node Type"]]
    return [scan for child in node.get("Plans", []) for scan in _unbounded_scans(child)]


def plan_violations(plan: dict[str, Any]) -> list[str]:
    """What in ``plan`` (the root of EXPLAIN (FORMAT JSON)'s "Plan") breaks the module's rule."""
    problems = []
    for node in _nodes(plan):
        if node["Node Type"] == "Seq Scan" and node.get("Relation Name") == "campaigns":
            problems.append("sequential scan of campaigns")
        if node["Node Type"] in ("Sort", "Incremental Sort"):
            children = node.get("Plans", [])
            scans = [scan for child in children for scan in _unbounded_scans(child)]
            rows = sum(child.get("Actual Rows", child["Plan Rows"]) for child in children)
            if scans and rows > SORT_BOUND:
                unbounded = ", ".join(sorted(set(scans)))
                problems.append(f"{node['Node Type']} of {rows:.0f} rows no LIMIT bounds ({unbounded})")
    return problems


# Scans whose rows (output and removed by a filter) are rows of the table read; a bitmap index scan's are
# the row ids it collects (all of them, before any LIMIT), its heap scan reads no more than those.
_READING_SCANS = frozenset({"Seq Scan", "Index Scan", "Index Only Scan"})


def rows_read(plan: dict[str, Any]) -> int:
    """The rows of tables (and of bitmaps' row ids) ``plan`` read, from EXPLAIN ANALYZE's counts."""
    total = 0.0
    for node in _nodes(plan):
        loops = node.get("Actual Loops", 1)
        if node["Node Type"] in _READING_SCANS:
            total += (node["Actual Rows"] + node.get("Rows Removed by Filter", 0)) * loops
        elif node["Node Type"] == "Bitmap Index Scan":
            total += node["Actual Rows"] * loops
    return round(total)


def indexes_used(plan: dict[str, Any]) -> set[str]:
    return {node["Index Name"] for node in _nodes(plan) if "Index Name" in node}


async def explain(
    connection: asyncpg.Connection,
    sql: str,
    args: list[Any],
    *,
    generic: bool,
    analyze: bool = False,
    prepared: bool = False,
) -> dict[str, Any]:
    """The plan of ``sql`` with ``args`` (a custom or the generic plan), run if ``analyze``: EXPLAIN's JSON
    document (its "Plan", and with ``analyze`` its "Execution Time").

    Only with ``prepared`` is the generic plan the one a prepared statement runs (``EXPLAIN EXECUTE`` of it,
    the values as literals): EXPLAIN of the statement with bound values plans it for them, as a custom
    plan, whatever ``plan_cache_mode`` says.
    """
    mode = "force_generic_plan" if generic else "force_custom_plan"
    options = "ANALYZE, BUFFERS, FORMAT JSON" if analyze else "FORMAT JSON"
    await connection.execute(f"SET plan_cache_mode = {mode}")
    try:
        if generic and prepared:
            await connection.execute(f"PREPARE demetra_explained AS {sql}")
            try:
                values = ", ".join([await _literal(connection, arg) for arg in args])
                document = await connection.fetchval(
                    f"EXPLAIN ({options}) EXECUTE demetra_explained ({values})"
                )
            finally:
                await connection.execute("DEALLOCATE demetra_explained")
        else:
            statement = await connection.prepare(f"EXPLAIN ({options}) {sql}")
            document = await statement.fetchval(*args)
    finally:
        await connection.execute("RESET plan_cache_mode")
    parsed: dict[str, Any] = (json.loads(document) if isinstance(document, str) else document)[0]
    return parsed


async def _literal(connection: asyncpg.Connection, value: Any) -> str:
    """``value`` as an SQL literal of unknown type (the prepared statement's parameter types apply)."""
    if isinstance(value, list | tuple):
        quoted: str = await connection.fetchval("SELECT quote_literal($1::text[]::text)", list(value))
        return quoted
    text = repr(value) if isinstance(value, float) else str(value)
    quoted = await connection.fetchval("SELECT quote_literal($1::text)", text)
    return quoted


SIZES_SQL = """
SELECT pg_table_size('campaigns') AS table_bytes,
       pg_indexes_size('campaigns') AS index_bytes,
       (SELECT count(*) FROM pg_indexes WHERE tablename = 'campaigns') AS indexes
"""


async def sizes(connection: asyncpg.Connection) -> str:
    """Total index size vs table size of ``campaigns``, as one line."""
    row = await connection.fetchrow(SIZES_SQL)
    mb = 1024 * 1024
    return (
        f"campaigns: table {row['table_bytes'] / mb:.1f} MiB, {row['indexes']} indexes "
        f"{row['index_bytes'] / mb:.1f} MiB ({row['index_bytes'] / row['table_bytes']:.2f} x the table)"
    )
