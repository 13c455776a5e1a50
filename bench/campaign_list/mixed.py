"""The query API bench's mixed list workload, in process: every page of it timed one at a time through the
list's core function (``campaigns.service.campaign_page``, the route's and the floor's), with the API's
session settings (generic plans), on the query API bench's own seed.

    uv run --frozen python bench/campaign_list/mixed.py [--rows 1000000] [--filter-sets 12] [--seed 13]
        [--database NAME] [--keep] [--repeat 1]

The chains (filter set x sort x order) are ``bench/query_api/run.py``'s, drawn with the same seed from the
same sample, so the pages are the ones wrk sends there (pages 1-3 of each chain, through the cursors the core
returns). Without --database it creates a private database on DATABASE_URL's server, seeds it as that bench
does and drops it after (unless --keep: then reuse it with --database). Prints the slowest pages, how many
ended short (fewer than ``limit`` items, a next cursor), and one line of name=value pairs.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg

from demetra_common.db import asyncpg_url, plain_dsn
from demetra_query_api.campaigns import service
from demetra_query_api.cursors import CampaignCursor, SortField, SortOrder
from demetra_query_api.db import server_settings
from demetra_query_api.settings import QueryApiSettings
from demetra_testkit import create_database, database_url_named, drop_database

LIMIT = 50
SERVER = asyncpg_url(os.environ.get("DATABASE_URL", "postgresql://demetra:demetra@127.0.0.1:5432/demetra"))
_QUERY_API_BENCH = Path(__file__).resolve().parents[1] / "query_api" / "run.py"


def _query_api_bench() -> Any:
    """bench/query_api/run.py as a module (a script, not a package): its seed, sample and filter sets."""
    spec = importlib.util.spec_from_file_location("query_api_bench", _QUERY_API_BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


async def _chain_ms(
    db: asyncpg.Connection, filters: dict[str, Any], sort: SortField, order: SortOrder
) -> list[tuple[float, int, bool]]:
    """(ms, items, short) of pages 1-3 of one chain (fewer when the list ends)."""
    cursor: CampaignCursor | None = None
    pages = []
    for _ in range(3):
        began = time.perf_counter()
        page = await service.campaign_page(db, filters, sort=sort, order=order, cursor=cursor, limit=LIMIT)
        elapsed = (time.perf_counter() - began) * 1000
        pages.append((elapsed, len(page.items), page.next is not None and len(page.items) < LIMIT))
        if page.next is None:
            break
        cursor = page.next
    return pages


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--filter-sets", type=int, default=12)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--database")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--repeat", type=int, default=1, help="runs over the workload (best per page)")
    options = parser.parse_args()
    bench = _query_api_bench()
    name = options.database or f"bench_list_mixed_{uuid.uuid4().hex[:8]}"
    url = database_url_named(SERVER, name)
    if options.database is None:
        await create_database(SERVER, name, migrate=True)
        began = time.perf_counter()
        await bench.seed(url, options.rows, 0)
        print(f"seeded in {time.perf_counter() - began:.0f} s (database {name})", flush=True)
    settings = server_settings(QueryApiSettings(database_url=url))
    db = await asyncpg.connect(plain_dsn(url), server_settings=settings)
    try:
        sample = await bench._sample(url)
        rng = random.Random(options.seed)
        chains = [
            (bench._filter_values(rng, sample), sort, order)
            for _ in range(options.filter_sets)
            for sort in SortField
            for order in SortOrder
        ]
        best: dict[tuple[int, int], tuple[float, int, bool]] = {}
        for _ in range(options.repeat):
            for number, chain in enumerate(chains):
                for page, timing in enumerate(await _chain_ms(db, *chain)):
                    known = best.get((number, page))
                    best[(number, page)] = timing if known is None or timing[0] < known[0] else known
        timings = sorted(((ms, key) for key, (ms, _, _) in best.items()), reverse=True)
        print(f"{len(best)} pages of {len(chains)} chains; slowest:")
        for ms, (number, page) in timings[:12]:
            filters, sort, order = chains[number]
            print(f"  {ms:8.2f} ms  page {page + 1}  {sort.value} {order.value}  {filters}")
        values = [ms for ms, _ in timings]
        short = sum(1 for _, _, ended_short in best.values() if ended_short)
        empty = sum(1 for _, items, ended_short in best.values() if ended_short and not items)
        print(
            f"mixed_pages={len(values)} total_s={sum(values) / 1000:.2f} "
            f"median_ms={statistics.median(values):.2f} "
            f"p90_ms={statistics.quantiles(values, n=10)[8]:.2f} "
            f"p99_ms={statistics.quantiles(values, n=100)[98]:.2f} max_ms={values[0]:.2f} "
            f"short_pages={short} empty_pages={empty}"
        )
    finally:
        await db.close()
        if options.database is None and not options.keep:
            await drop_database(SERVER, name)


if __name__ == "__main__":
    asyncio.run(main())
