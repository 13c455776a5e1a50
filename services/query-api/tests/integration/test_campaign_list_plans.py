"""Every (filter set, sort, order) class of GET /api/campaigns is index-backed or bounded by LIMIT, on its
first and its next pages, in every statement a page may run (the walk, and beyond it), in custom and
generic plans: EXPLAIN over the whole matrix on a seeded, analysed table (the rule:
demetra_testkit.campaign_list.plan_violations)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from demetra_common.db import plain_dsn
from demetra_common.tables import CAMPAIGN_SORT_INDEXES
from demetra_query_api.campaigns import repository
from demetra_query_api.cursors import SortField, SortOrder
from demetra_testkit import create_database, drop_database
from demetra_testkit.campaign_list import FILTER_SETS, explain, indexes_used, plan_violations, seed_sql, sizes

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
                after = (first[LIMIT - 1]["sort_key"], first[LIMIT - 1]["id"]) if len(first) > LIMIT else None
                for position in (None, after) if after else (None,):
                    statements = repository.campaign_page_statements(
                        filters, sort, order, position is not None
                    )
                    values = repository.campaign_page_values(filters, position, LIMIT + 1)
                    for step, (statement, _) in enumerate(statements, 1):
                        for generic in (False, True):
                            plan = await explain(
                                seeded, statement.sql, statement.args(values), generic=generic
                            )
                            for problem in plan_violations(plan["Plan"]):
                                page = "next page" if position else "first page"
                                mode = "generic" if generic else "custom"
                                failures.append(
                                    f"{label} / {sort.value} {order.value} / {page} / step {step} / {mode}: "
                                    f"{problem}"
                                )
    print(f"\n{classes} classes x pages x plans checked; {await sizes(seeded)}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("sort", list(SortField))
async def test_a_page_of_one_channel_reads_the_sorts_own_index(
    seeded: asyncpg.Connection, sort: SortField
) -> None:
    filters: dict[str, Any] = {"channel": ["instagram"]}
    statement = repository.campaign_page_statement(filters, sort, SortOrder.DESC, False)
    args = statement.args(repository.campaign_page_values(filters, None, LIMIT + 1))
    plan = (await explain(seeded, statement.sql, args, generic=True))["Plan"]
    assert indexes_used(plan) == {CAMPAIGN_SORT_INDEXES[sort].name}, plan
