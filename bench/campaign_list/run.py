"""Single-request latency of every class of the campaign list on a large table: EXPLAIN ANALYZE of the
first and the next page of each (filter set, sort, order) of demetra_testkit.campaign_list (the rows each
read, and its plan checked against the same rule as the test), and the indexes' size against the table's.

    uv run --frozen python bench/campaign_list/run.py [--rows 1000000] [--database NAME] [--keep]

Without --database it creates a private database on DATABASE_URL's server, seeds it and drops it after
(unless --keep: then reuse it with --database). Ends with one line of name=value pairs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from typing import Any

import asyncpg

from demetra_common.db import plain_dsn
from demetra_query_api.campaigns import repository
from demetra_query_api.cursors import SortField, SortOrder
from demetra_testkit import create_database, database_url_named, drop_database
from demetra_testkit.campaign_list import (
    FILTER_SETS,
    explain,
    plan_violations,
    rows_read,
    seed_sql,
    sizes,
)

LIMIT = 50
SERVER = os.environ.get("DATABASE_URL", "postgresql+asyncpg://demetra:demetra@127.0.0.1:5432/demetra")


async def _page_ms(
    db: asyncpg.Connection, filters: dict[str, Any], sort: SortField, order: SortOrder
) -> list[Any]:
    """(ms, rows read, violations) of the first page and, if there is one, the next: every statement the
    page runs (the walk, and beyond it for the capped channels), as it runs them (the walk as a generic
    plan). A step 2 past its budget (BEYOND_WALK_MS) is cancelled in the page; here it runs to its end."""
    first = await repository.campaign_page(db, filters, sort, order, None, LIMIT + 1)
    positions: list[Any] = [None]
    if len(first.records) > LIMIT:
        positions.append((first.records[LIMIT - 1]["sort_key"], first.records[LIMIT - 1]["id"]))
    elif first.frontier is not None:
        positions.append(first.frontier)
    results = []
    for position in positions:
        _, steps, values = await repository.campaign_page_steps(db, filters, sort, order, position, LIMIT + 1)
        milliseconds, read, violations = 0.0, 0, []
        for statement, generic in steps:
            document = await explain(
                db, statement.sql, statement.args(values), generic=generic, analyze=True, prepared=True
            )
            milliseconds += document["Execution Time"]
            read += rows_read(document["Plan"])
            violations += plan_violations(document["Plan"])
        results.append((milliseconds, read, violations))
    return results


async def _index_sizes(db: asyncpg.Connection) -> list[str]:
    rows = await db.fetch(
        "SELECT indexrelid::regclass::text AS name, pg_relation_size(indexrelid) AS bytes FROM pg_index "
        "WHERE indrelid = 'campaigns'::regclass ORDER BY 2 DESC"
    )
    return [f"  {row['name']}: {row['bytes'] / 2**20:.1f} MiB" for row in rows]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--reindex", action="store_true", help="REINDEX first (sizes as built, not as grown)")
    options = parser.parse_args()
    name = options.database or f"bench_list_{uuid.uuid4().hex[:8]}"
    if options.database is None:
        await create_database(SERVER, name, migrate=True)
    db = await asyncpg.connect(plain_dsn(database_url_named(SERVER, name)))
    try:
        if options.database is None:
            started = time.perf_counter()
            await db.execute(seed_sql(options.rows))
            await db.execute("VACUUM ANALYZE campaigns")
            print(
                f"seeded {options.rows} campaigns in {time.perf_counter() - started:.0f} s (database {name})"
            )
        if options.reindex:
            await db.execute("REINDEX TABLE campaigns")
        timings: list[tuple[float, str]] = []
        violations: list[str] = []
        for label, filters in FILTER_SETS.items():
            for sort in SortField:
                for order in SortOrder:
                    for page, (ms, read, problems) in zip(
                        ("first", "next"), await _page_ms(db, filters, sort, order), strict=False
                    ):
                        case = f"{label} / {sort.value} {order.value} / {page}"
                        timings.append((ms, f"{case} ({read} rows read)"))
                        violations += [f"{case}: {problem}" for problem in problems]
        timings.sort(reverse=True)
        print(f"{len(timings)} pages of {len(FILTER_SETS)} filter sets x {len(SortField)} sorts x 2 orders")
        print("slowest:")
        for ms, case in timings[:15]:
            print(f"  {ms:8.2f} ms  {case}")
        print("plan rule violations:" if violations else "plan rule violations: none")
        for violation in violations:
            print(f"  {violation}")
        print(await sizes(db))
        print("\n".join(await _index_sizes(db)))
        values = [ms for ms, _ in timings]
        p99 = statistics.quantiles(values, n=100)[98]
        print(
            f"list_classes={len(timings)} list_max_ms={values[0]:.2f} list_p99_ms={p99:.2f} "
            f"list_median_ms={statistics.median(values):.2f} plan_violations={len(violations)}"
        )
    finally:
        await db.close()
        if options.database is None and not options.keep:
            await drop_database(SERVER, name)


if __name__ == "__main__":
    asyncio.run(main())
