"""Every page of GET /api/syncs (each status, each trigger, both, neither; first page and after a cursor) is
read from the sync projection's indexes (EXPLAIN, on a seeded, analysed projection, of custom plans and of
the generic plan the API runs: that of the prepared statement, where PostgreSQL cannot know LIMIT $n is
small): no sequential scan of syncs or sync_channels, and no sort but the merge of a status filter's two
ranges (at most twice the page). On a skewed history too (every sync scheduled and completed, as an hourly
history mostly is), a filter no sync matches reads its own index, not the whole list's order."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from typing import Any

import asyncpg
import pytest

from demetra_common.contracts import Trigger
from demetra_common.sync_projection import backfill_syncs
from demetra_common.sync_status import SyncState
from demetra_query_api.syncs.repository import _page_statement
from demetra_testkit.campaign_list import explain

SYNCS = 4000

# Per sync: its request, then one of five stories: completed; failed; running since long ago (so timed
# out: failed); partial (one channel completed, one failed); expired. {story} (0-4) and {trigger} are SQL of
# s: s % 5 and the three triggers in turn, or, for the skewed history, every sync scheduled and completed.
_SEED_EVENTS = """
WITH s AS (
    SELECT s, 'sched-' || s AS sync_id, TIMESTAMPTZ '2026-01-01 00:00Z' + make_interval(hours => s) AS at,
           {trigger} AS trigger, {story} AS story
      FROM generate_series(1, {syncs}) AS s
)
INSERT INTO events (event_id, sync_id, channel, type, payload, occurred_at, recorded_at)
SELECT gen_random_uuid(), sync_id, NULL, 'sync.requested',
       jsonb_build_object('sync_id', sync_id, 'trigger', trigger, 'requested_at', at,
                          'channels', jsonb_build_array('facebook', 'tiktok')), at, at
  FROM s
UNION ALL
SELECT gen_random_uuid(), sync_id, channel, type, payload, at + interval '1 minute', at + interval '1 minute'
  FROM s CROSS JOIN LATERAL (
      VALUES ('facebook', CASE story WHEN 0 THEN 'fetch.completed' WHEN 1 THEN 'fetch.failed'
                                     WHEN 2 THEN 'fetch.started' WHEN 3 THEN 'fetch.completed'
                                     ELSE 'fetch.expired' END),
             ('tiktok', CASE story WHEN 0 THEN 'fetch.completed' WHEN 1 THEN 'fetch.failed'
                                   WHEN 2 THEN 'fetch.started' WHEN 3 THEN 'fetch.failed'
                                   ELSE 'fetch.expired' END)
  ) AS e(channel, type)
  CROSS JOIN LATERAL (SELECT jsonb_build_object('count', 0, 'error', 'boom') AS payload) AS p
"""
SEED_EVENTS = _SEED_EVENTS.format(
    syncs=SYNCS, story="s % 5", trigger="(ARRAY['schedule', 'api', 'manual'])[1 + s % 3]"
)
SKEWED_EVENTS = _SEED_EVENTS.format(syncs=SYNCS, story="0", trigger="'schedule'")


async def _analysed(db: asyncpg.Connection, seed: str) -> asyncpg.Connection:
    await db.execute(seed)
    async with db.transaction():
        assert await backfill_syncs(db) == SYNCS
    for table in ("events", "syncs", "sync_channels"):
        await db.execute(f"ANALYZE {table}")
    return db


@pytest.fixture
async def analysed(db: asyncpg.Connection) -> asyncpg.Connection:
    return await _analysed(db, SEED_EVENTS)


@pytest.fixture
async def skewed(db: asyncpg.Connection) -> asyncpg.Connection:
    return await _analysed(db, SKEWED_EVENTS)


NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
VALUES: dict[str, Any] = {
    "limit": 21,
    "cutoff": NOW - dt.timedelta(minutes=10),
    "after_at": dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
    "after_id": 10**9,
}


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(node for child in plan.get("Plans", []) for node in _nodes(child))]


async def test_the_seeded_history_holds_every_status(analysed: asyncpg.Connection) -> None:
    states = await analysed.fetch("SELECT DISTINCT state, timed_out_state FROM syncs")
    assert {(r["state"], r["timed_out_state"]) for r in states} == {
        ("completed", "completed"), ("failed", "failed"), ("running", "failed"), ("partial", "partial"),
        ("expired", "expired"),
    }  # fmt: skip


@pytest.mark.parametrize("generic", [True, False], ids=["generic", "custom"])
async def test_every_page_of_the_history_is_read_from_the_projection_s_indexes(
    analysed: asyncpg.Connection, generic: bool
) -> None:
    failures = []
    for status, trigger, after in itertools.product([None, *SyncState], [None, *Trigger], [False, True]):
        statement = _page_statement(status, trigger, after)
        plan = await explain(
            analysed, statement.sql, statement.args(VALUES), generic=generic, prepared=generic
        )
        nodes = _nodes(plan["Plan"])
        scanned = [n["Relation Name"] for n in nodes if n["Node Type"] == "Seq Scan"]
        sorts = [n for n in nodes if n["Node Type"] in ("Sort", "Incremental Sort")]
        # The only sort allowed: the merge of the two ranges of a status filter.
        if scanned or (status is None and sorts) or len(sorts) > 1:
            failures.append(f"status={status} trigger={trigger} after={after}: {json.dumps(plan, indent=1)}")
    assert not failures, "\n\n".join(failures)


def _syncs_scanned(plan: dict[str, Any]) -> tuple[int, int]:
    """What the plan's scans of syncs expected to return (the most of any) and read: the rows they returned
    and those their filters removed."""
    scans = [node for node in _nodes(plan["Plan"]) if node.get("Relation Name") == "syncs"]
    assert scans, plan
    read = sum(n["Actual Rows"] * n["Actual Loops"] + n.get("Rows Removed by Filter", 0) for n in scans)
    return max(int(n["Plan Rows"]) for n in scans), int(read)


async def test_on_a_skewed_history_a_filter_matching_no_sync_reads_no_sync(
    skewed: asyncpg.Connection,
) -> None:
    """Every sync scheduled and completed: a page of another status or trigger, as the API runs it (the
    generic plan of the prepared statement, executed), expects next to no row of syncs and reads none. With
    the filter value a parameter, the generic plan expects every sync to match (its value unknown, the
    column's one value typical) and may walk the list's order index, filtering, through all 4,000 (as it
    did on bench/query_api's history)."""
    scanned = {}
    for status, trigger in itertools.product([None, *SyncState], [None, *Trigger]):
        if status in (None, SyncState.COMPLETED) and trigger in (None, Trigger.SCHEDULE):
            continue  # these match every sync
        statement = _page_statement(status, trigger, False)
        plan = await explain(
            skewed, statement.sql, statement.args(VALUES), generic=True, prepared=True, analyze=True
        )
        scanned[f"status={status} trigger={trigger}"] = _syncs_scanned(plan)
    assert scanned and all(expected <= 2 and read == 0 for expected, read in scanned.values()), scanned
