"""Every (filter set, sort, order) class of GET /api/campaigns is index-backed or bounded by LIMIT, on its
first and its next pages, in every statement a page may run (the walk, and beyond it), in custom and
generic plans: EXPLAIN over the whole matrix on a seeded, analysed table (the rule:
demetra_testkit.campaign_list.plan_violations); and the walk, as it runs, reads at most WALK_ROWS rows of
each channel (EXPLAIN ANALYZE)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import func, select

from demetra_common.contracts import Channel
from demetra_common.db import plain_dsn
from demetra_common.tables import CAMPAIGN_SORT_INDEXES
from demetra_query_api.campaigns import repository
from demetra_query_api.cursors import SortField, SortOrder
from demetra_query_api.statements import compile_statement
from demetra_testkit import create_database, drop_database
from demetra_testkit.campaign_list import (
    FILTER_SETS,
    explain,
    indexes_used,
    plan_violations,
    rows_read,
    seed_sql,
    sizes,
)

ROWS = 120_000  # enough for the planner to prefer the indexes to a scan and sort
LIMIT = 50


@pytest.fixture(scope="module")
async def seeded(postgres_server_url: str, migrated_template: str) -> AsyncIterator[asyncpg.Connection]:
    name = f"t_plans_{time.monotonic_ns() % 10**10}"
    url = await create_database(postgres_server_url, name, template=migrated_template)
    connection = await asyncpg.connect(plain_dsn(url))
    try:
        await connection.execute(seed_sql(ROWS))
        await connection.execute("VACUUM ANALYZE campaigns")
        yield connection
    finally:
        await connection.close()
        await drop_database(postgres_server_url, name)


async def test_every_class_of_the_campaign_list_is_index_backed_or_bounded(
    seeded: asyncpg.Connection,
) -> None:
    failures: list[str] = []
    classes = 0
    for label, filters in FILTER_SETS.items():
        for sort in SortField:
            for order in SortOrder:
                classes += 1
                first = await repository.campaign_page(seeded, filters, sort, order, None, LIMIT + 1)
                after = _next_position(first)
                for position in (None, after) if after else (None,):
                    page = "next page" if position else "first page"
                    statements = repository.campaign_page_statements(
                        filters, sort, order, position is not None
                    )
                    values = repository.campaign_page_values(filters, position, LIMIT + 1)
                    walk, _ = statements[0]
                    ran = await explain(
                        seeded, walk.sql, walk.args(values), generic=True, analyze=True, prepared=True
                    )
                    channels = len(filters.get("channel") or Channel)
                    bound = channels * (repository.WALK_ROWS + LIMIT + 1)  # + the kept rows by key
                    if (read := rows_read(ran["Plan"])) > bound:
                        failures.append(
                            f"{label} / {sort.value} {order.value} / {page} / step 1: read {read} rows "
                            f"(bound {bound})"
                        )
                    for step, (statement, _) in enumerate(statements, 1):
                        for generic in (False, True):
                            plan = await explain(
                                seeded,
                                statement.sql,
                                statement.args(values),
                                generic=generic,
                                prepared=True,
                            )
                            for problem in plan_violations(plan["Plan"]):
                                mode = "generic" if generic else "custom"
                                failures.append(
                                    f"{label} / {sort.value} {order.value} / {page} / step {step} / {mode}: "
                                    f"{problem}"
                                )
    print(f"\n{classes} classes x pages x plans checked; {await sizes(seeded)}")
    assert not failures, "\n".join(failures)


def _next_position(rows: repository.PageRows) -> tuple[Any, int] | None:
    """Where the page after ``rows`` (read with LIMIT + 1) starts, as the service finds it."""
    if len(rows.records) > LIMIT:
        return rows.records[LIMIT - 1]["sort_key"], rows.records[LIMIT - 1]["id"]
    return rows.frontier


@pytest.mark.parametrize("sort", list(SortField))
async def test_a_page_of_one_channel_reads_the_sorts_own_index(
    seeded: asyncpg.Connection, sort: SortField
) -> None:
    filters: dict[str, Any] = {"channel": ["instagram"]}
    statement = repository.campaign_page_statement(filters, sort, SortOrder.DESC, False)
    args = statement.args(repository.campaign_page_values(filters, None, LIMIT + 1))
    plan = (await explain(seeded, statement.sql, args, generic=True, prepared=True))["Plan"]
    assert indexes_used(plan) == {CAMPAIGN_SORT_INDEXES[sort].name}, plan


async def test_a_page_whose_second_step_is_past_its_budget_ends_short_at_the_walks_frontier(
    seeded: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    filters, sort = FILTER_SETS["name rare"], SortField.DATE  # one match: every channel's walk is capped
    slow = compile_statement(select(func.pg_sleep(5)))
    monkeypatch.setattr(repository, "_beyond_walk_statement", lambda *_: slow)
    began = time.monotonic()
    rows, steps, _ = await repository.campaign_page_steps(
        seeded, filters, sort, SortOrder.DESC, None, LIMIT + 1
    )
    assert time.monotonic() - began < 2, "step 2 ran past its budget"
    assert [statement for statement, _ in steps][1] is slow
    assert rows.frontier is not None and len(rows.records) < LIMIT
    walk, _ = steps[0]
    walked = await walk.fetch(seeded, **repository.campaign_page_values(filters, None, LIMIT + 1))
    frontiers = [record for record in walked if record["walked"] == repository.WALK_ROWS]
    assert rows.frontier == (frontiers[0]["sort_key"], frontiers[0]["id"])
    assert await seeded.fetchval("SHOW statement_timeout") == "0", "the budget was the step's own"
