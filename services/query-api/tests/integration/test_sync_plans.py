"""Every page of GET /api/syncs (each status, each trigger, both, neither; first page and after a cursor) is
read from the sync projection's indexes (EXPLAIN, on a seeded, analysed projection, of custom plans and of
the generic plan the API runs: that of the prepared statement, where PostgreSQL cannot know LIMIT $n is
small): no sequential scan of syncs or sync_channels, and no sort but the merge of a status filter's two
ranges (at most twice the page)."""

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

# Per sync: its request, then one of five stories by s % 5: completed; failed; running since long ago (so
# timed out: failed); partial (one channel completed, one failed); expired.
SEED_EVENTS = f"""
WITH s AS (
    SELECT s, 'sched-' || s AS sync_id, TIMESTAMPTZ '2026-01-01 00:00Z' + make_interval(hours => s) AS at,
           (ARRAY['schedule', 'api', 'manual'])[1 + s % 3] AS trigger
      FROM generate_series(1, {SYNCS}) AS s
)
INSERT INTO events (event_id, sync_id, channel, type, payload, occurred_at, recorded_at)
SELECT gen_random_uuid(), sync_id, NULL, 'sync.requested',
       jsonb_build_object('sync_id', sync_id, 'trigger', trigger, 'requested_at', at,
                          'channels', jsonb_build_array('facebook', 'tiktok')), at, at
  FROM s
UNION ALL
SELECT gen_random_uuid(), sync_id, channel, type, payload, at + interval '1 minute', at + interval '1 minute'
  FROM s CROSS JOIN LATERAL (
      VALUES ('facebook', CASE s % 5 WHEN 0 THEN 'fetch.completed' WHEN 1 THEN 'fetch.failed'
                                     WHEN 2 THEN 'fetch.started' WHEN 3 THEN 'fetch.completed'
                                     ELSE 'fetch.expired' END),
             ('tiktok', CASE s % 5 WHEN 0 THEN 'fetch.completed' WHEN 1 THEN 'fetch.failed'
                                   WHEN 2 THEN 'fetch.started' WHEN 3 THEN 'fetch.failed'
                                   ELSE 'fetch.expired' END)
  ) AS e(channel, type)
  CROSS JOIN LATERAL (SELECT jsonb_build_object('count', 0, 'error', 'boom') AS payload) AS p
"""


@pytest.fixture
async def analysed(db: asyncpg.Connection) -> asyncpg.Connection:
    await db.execute(SEED_EVENTS)
    async with db.transaction():
        assert await backfill_syncs(db) == SYNCS
    for table in ("events", "syncs", "sync_channels"):
        await db.execute(f"ANALYZE {table}")
    return db


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
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    failures = []
    for status, trigger, after in itertools.product([None, *SyncState], [None, *Trigger], [False, True]):
        statement = _page_statement(status, trigger is not None, after)
        values: dict[str, Any] = {
            "limit": 21,
            "cutoff": now - dt.timedelta(minutes=10),
            "trigger": trigger.value if trigger else None,
            "after_at": dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
            "after_id": 10**9,
        }
        plan = await explain(
            analysed, statement.sql, statement.args(values), generic=generic, prepared=generic
        )
        nodes = _nodes(plan["Plan"])
        scanned = [n["Relation Name"] for n in nodes if n["Node Type"] == "Seq Scan"]
        sorts = [n for n in nodes if n["Node Type"] in ("Sort", "Incremental Sort")]
        # The only sort allowed: the merge of the two ranges of a status filter.
        if scanned or (status is None and sorts) or len(sorts) > 1:
            failures.append(f"status={status} trigger={trigger} after={after}: {json.dumps(plan, indent=1)}")
    assert not failures, "\n\n".join(failures)
