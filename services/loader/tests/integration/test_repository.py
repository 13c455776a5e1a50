"""The two ways campaigns are written (the COPY fast path, the upsert that isolates refused rows), and the
switch from the first to the second; the campaigns derived from a batch's days read them by index."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

import asyncpg
import pytest

from demetra_common.tables import CAMPAIGN_DATA_COLUMNS, DAILY_PARTITIONS
from demetra_loader.core.batch import check_batch
from demetra_loader.core.dead_letters import DeadLetter
from demetra_loader.core.loading import CampaignLoader
from demetra_loader.core.partitions import DailyPartitions
from demetra_loader.core.records import campaign_values
from demetra_loader.core.retry import RetryPolicy
from demetra_loader.repository import (
    _DERIVE_CAMPAIGNS,
    _DERIVE_NEW_CAMPAIGNS,
    PostgresDatabase,
    RejectedByDatabase,
)
from demetra_testkit import eventually

T = dt.datetime(2026, 11, 25, 14, tzinfo=dt.UTC)


class NoDeadLetters:
    async def send(self, letters: Sequence[DeadLetter]) -> None:
        assert not letters


@pytest.mark.parametrize("method", ["write_campaigns", "upsert_campaigns"])
async def test_new_rows_insert_newer_rows_update_and_the_rest_change_nothing(
    method: str, database: PostgresDatabase, db: asyncpg.Connection, make_fetched: Any
) -> None:
    async with database.transaction() as repository:
        first = await getattr(repository, method)(
            [campaign_values(make_fetched(i, fetched_at=T)) for i in ("a", "b", "c")]
        )
    async with database.transaction() as repository:
        second = await getattr(repository, method)(
            [
                campaign_values(make_fetched("a", fetched_at=T + dt.timedelta(hours=1), impressions=5000)),
                campaign_values(make_fetched("b", fetched_at=T)),
                campaign_values(make_fetched("c", fetched_at=T - dt.timedelta(hours=1), impressions=10)),
                campaign_values(make_fetched("d", fetched_at=T)),
            ]
        )
    assert first == {"a": True, "b": True, "c": True}
    assert second == {"a": False, "d": True}
    rows = await db.fetch(
        "SELECT campaign_id, impressions, created_at < updated_at AS touched FROM campaigns"
    )
    assert {(r["campaign_id"], r["impressions"], r["touched"]) for r in rows} == {
        ("a", 5000, True),
        ("b", 1000, False),
        ("c", 1000, False),
        ("d", 1000, False),
    }


async def test_a_campaign_another_writer_inserts_meanwhile_sends_the_loader_down_the_upsert_path(
    database: PostgresDatabase, db: asyncpg.Connection, make_fetched: Any, kafka_record: Any
) -> None:
    rival = db  # another writer: inserts "x" and holds its transaction open
    transaction = rival.transaction()
    await transaction.start()
    await rival.execute(
        "INSERT INTO campaigns (campaign_id, channel, name, date, impressions, clicks, engagement, cost,"
        " conversion_rate, roi, fetched_at, sync_id)"
        " VALUES ('x', 'facebook', 'rival', '2026-11-25', 1, 0, 0, 0, 0, 0, $1, 'rival')",
        T,
    )
    messages = [make_fetched("x", fetched_at=T + dt.timedelta(hours=1)), make_fetched("y", fetched_at=T)]
    batch = check_batch(
        [kafka_record("cf", 0, i, m.model_dump_json().encode()) for i, m in enumerate(messages)]
    )
    loader = CampaignLoader(
        database,
        NoDeadLetters(),
        group_id="loader",
        retry=RetryPolicy(0.01, 0.1),
        partitions=DailyPartitions(database, retention_days=0),
    )
    loading = asyncio.create_task(loader.load(batch))

    async def blocked_on_the_rival() -> bool:
        await rival.execute("SELECT pg_stat_clear_snapshot()")  # else one snapshot per transaction
        waiting = await rival.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock'"
        )
        return bool(waiting)

    await eventually(blocked_on_the_rival, what="the loader waiting for the rival's row")
    await transaction.commit()
    outcome = await asyncio.wait_for(loading, 10)
    assert (outcome.totals.inserted, outcome.totals.updated, outcome.totals.rejected) == (1, 1, 0)
    assert (
        await rival.fetchval("SELECT name FROM campaigns WHERE campaign_id = 'x'")
        == "Black Friday Retargeting"
    )
    assert await rival.fetchval("SELECT count(*) FROM campaigns") == 2


async def test_the_fast_path_reports_refused_rows_and_the_upsert_keeps_the_transaction_usable(
    database: PostgresDatabase, db: asyncpg.Connection, make_fetched: Any
) -> None:
    await db.execute("ALTER TABLE campaigns ADD CONSTRAINT no_cursed_names CHECK (name <> 'cursed')")
    cursed = [campaign_values(make_fetched("z", name="cursed"))]
    with pytest.raises(RejectedByDatabase, match="no_cursed_names"):
        async with database.transaction() as repository:
            await repository.write_campaigns(cursed)
    async with database.transaction() as repository:
        with pytest.raises(RejectedByDatabase, match="no_cursed_names"):
            await repository.upsert_campaigns(cursed)
        assert await repository.upsert_campaigns([campaign_values(make_fetched("ok"))]) == {"ok": True}
    assert await db.fetchval("SELECT array_agg(campaign_id) FROM campaigns") == ["ok"]


async def test_a_days_message_postgresql_refuses_is_isolated_and_the_others_load(
    database: PostgresDatabase, db: asyncpg.Connection, make_days: Any, kafka_record: Any
) -> None:
    await db.execute("ALTER TABLE campaign_daily ADD CONSTRAINT no_cursed_syncs CHECK (sync_id <> 'cursed')")
    messages = [
        make_days("ok_1", sync_id="s", fetched_at=T, count=3),
        make_days("bad", sync_id="cursed", fetched_at=T, count=3),
        make_days("ok_2", sync_id="s", fetched_at=T, count=3),
    ]
    batch = check_batch(
        [kafka_record("cf", 0, i, m.model_dump_json().encode()) for i, m in enumerate(messages)]
    )
    letters: list[DeadLetter] = []

    class Collect:
        async def send(self, sent: Sequence[DeadLetter]) -> None:
            letters.extend(sent)

    loader = CampaignLoader(
        database,
        Collect(),
        group_id="loader",
        retry=RetryPolicy(0.01, 0.1),
        partitions=DailyPartitions(database, retention_days=0),
    )
    outcome = await loader.load(batch)
    assert (outcome.totals.inserted, outcome.totals.rejected, outcome.totals.rows) == (2, 1, 6)
    assert [letter.record.offset for letter in letters] == [1]
    assert "no_cursed_syncs" in letters[0].rejection.detail
    assert await db.fetchval("SELECT array_agg(DISTINCT campaign_id) FROM campaign_daily") == ["ok_1", "ok_2"]
    assert await db.fetchval("SELECT array_agg(campaign_id ORDER BY campaign_id) FROM campaigns") == [
        "ok_1",
        "ok_2",
    ]


# ------------------------------------------------------------------------------ deriving campaigns' rows

DERIVED_CAMPAIGNS, FIRST_DAY, DAYS = 2_000, dt.date(2026, 1, 1), 120  # 2026-01-01 .. 2026-04-30: 4 partitions

SEED_DAILY = f"""
INSERT INTO campaign_daily (campaign_id, date, channel, impressions, clicks, engagement, cost, conversions,
                            revenue, fetched_at, sync_id)
SELECT 'c_' || lpad(c::text, 6, '0'), DATE '{FIRST_DAY}' + day, 'facebook', 1000 + day, c % 1000, 0,
       day, c % 17, c % 400, TIMESTAMPTZ '{FIRST_DAY}T00:00Z' + make_interval(days => day + 1), 'seed'
FROM generate_series(1, {DERIVED_CAMPAIGNS}) AS c, generate_series(0, {DAYS - 1}) AS day
"""


@pytest.mark.parametrize("generic", [False, True], ids=["custom-plan", "generic-plan"])
async def test_deriving_a_batchs_campaigns_reads_their_days_by_primary_key_not_the_whole_table(
    db: asyncpg.Connection, generic: bool
) -> None:
    # A batch names thousands of campaigns: a join of them with the daily table was planned as a hash join
    # over a sequential scan of every partition, each batch, however few of the rows were theirs.
    for month in DAILY_PARTITIONS.months(FIRST_DAY, FIRST_DAY + dt.timedelta(days=DAYS - 1)):
        await db.execute(DAILY_PARTITIONS.create_sql(month))
    await db.execute(SEED_DAILY)
    await db.execute("ANALYZE campaign_daily")
    named = [f"c_{n:06d}" for n in range(1, DERIVED_CAMPAIGNS + 1, 2)]  # half the campaigns
    await db.execute(f"SET plan_cache_mode = {'force_generic_plan' if generic else 'force_custom_plan'}")
    explained = await db.prepare(f"EXPLAIN {_DERIVE_CAMPAIGNS}")
    plan = "\n".join(row[0] for row in await explained.fetch(named, ["n"] * len(named), ["s"] * len(named)))
    for month in (1, 2, 3, 4):
        partition = DAILY_PARTITIONS.name(dt.date(2026, month, 1))
        assert re.search(rf"Index Scan (using|on) {partition}_pkey", plan), plan  # or a bitmap index scan
        assert f"Seq Scan on {partition}" not in plan, plan
    assert "Hash Join" not in plan, plan


DERIVED = f"SELECT {', '.join(CAMPAIGN_DATA_COLUMNS)} FROM campaigns ORDER BY campaign_id"


async def test_campaigns_new_in_a_batch_are_derived_from_their_days_partitions_alone_to_the_same_totals(
    db: asyncpg.Connection,
) -> None:
    # All of a new campaign's days are its batch's, so the derive reads only the partitions of their range
    # (run-time pruning, per campaign): the other months' indexes are never probed, the rows are the same.
    for month in DAILY_PARTITIONS.months(FIRST_DAY, FIRST_DAY + dt.timedelta(days=DAYS - 1)):
        await db.execute(DAILY_PARTITIONS.create_sql(month))
    await db.execute(SEED_DAILY)
    await db.execute("ANALYZE campaign_daily")
    named = [f"c_{n:06d}" for n in range(1, 201)]
    identity = (named, ["n"] * len(named), ["s"] * len(named))
    february = (dt.date(2026, 2, 1), dt.date(2026, 2, 28))
    derived = {}
    for statement, arguments in (
        (_DERIVE_CAMPAIGNS, identity),
        (_DERIVE_NEW_CAMPAIGNS, (*identity, [FIRST_DAY] * len(named), [dt.date(2026, 4, 30)] * len(named))),
    ):
        writing = db.transaction()
        await writing.start()
        try:
            await db.fetch(statement, *arguments)
            derived[statement] = await db.fetch(DERIVED)
        finally:
            await writing.rollback()
    assert derived[_DERIVE_CAMPAIGNS] == derived[_DERIVE_NEW_CAMPAIGNS]
    assert len(derived[_DERIVE_CAMPAIGNS]) == len(named)

    writing = db.transaction()
    await writing.start()
    try:
        explained = await db.fetch(
            f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) {_DERIVE_NEW_CAMPAIGNS}",
            *identity,
            [february[0]] * len(named),
            [february[1]] * len(named),
        )
    finally:
        await writing.rollback()
    plan = "\n".join(row[0] for row in explained)
    for month in (1, 3, 4):
        partition = DAILY_PARTITIONS.name(dt.date(2026, month, 1))
        assert re.search(rf"on {partition} .*\(never executed\)", plan), plan
    assert re.search(rf"on {DAILY_PARTITIONS.name(february[0])} .*loops={len(named)}", plan), plan
