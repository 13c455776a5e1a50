"""The query API's CPU per request on the two history reads, in process (no HTTP, no network client).

    uv run python bench/history/micro.py [--campaigns 300] [--requests 2000] [--database NAME] [--drop]
                                         [--save FILE | --compare FILE]

A private database is seeded as bench/history/run.py seeds its year (the mock's history, COPYed, campaigns
derived, the summary view refreshed), then the app (``create_app``, its lifespan run in process) is called
as an ASGI app, one request after another, with the URL lists of run.py: **series** (a channel's 90 daily
points, every metric) and **history** (a campaign's 90-day range). Prints the process CPU time (µs/request),
the CPU time of the PostgreSQL backends of the app's connections (its requests' pool has one; read from
``/proc``, so only when PostgreSQL runs on this machine: both share its cores under wrk) and the wall
time per request.

``--database NAME`` keeps the seeded database under that name (reused by the next run with the same name, so
the same rows answer before and after a change; ``--drop`` drops it at the end); ``--save FILE`` writes the
response bodies, ``--compare FILE`` checks that every body is byte-for-byte the one saved.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg

from demetra_common.db import plain_dsn
from demetra_query_api.app import create_app
from demetra_query_api.db import server_settings
from demetra_query_api.settings import QueryApiSettings
from demetra_testkit import create_database, database_url_named, drop_database
from demetra_testkit.scripts import asgi_get, in_process_api_env, load_script

run = load_script(Path(__file__).resolve().parent / "run.py", "bench_history_run")


async def database(name: str, campaigns: int, days: int) -> tuple[str, Any]:
    """The seeded database ``name`` (seeded now unless it exists) and its Seeded (from its rows)."""
    server = run.SERVER_URL
    connection = await asyncpg.connect(plain_dsn(server))
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
    finally:
        await connection.close()
    if not exists:
        url = await create_database(server, name, migrate=True)
        await run.seed_year(url, campaigns, days)
    else:
        url = database_url_named(server, name)
    connection = await asyncpg.connect(plain_dsn(url))
    try:
        bounds = await connection.fetchrow(f"SELECT min(date) AS first, max(date) AS last FROM {run.DAILY}")
        spans = await connection.fetch(
            f"SELECT campaign_id, min(date), max(date) FROM {run.DAILY} GROUP BY campaign_id ORDER BY 1"
        )
        rows = int(await connection.fetchval(f"SELECT count(*) FROM {run.DAILY}"))
    finally:
        await connection.close()
    seeded = run.Seeded(bounds["first"], bounds["last"], rows, [tuple(s) for s in spans])
    return url, seeded


def backends_cpu_s(pids: list[int]) -> float | None:
    """User + system CPU seconds so far of the processes ``pids`` (None when one is not on this machine)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


async def backend_pids(url: str, database_name: str, application: str) -> list[int]:
    """The PostgreSQL backends of the app's connections (its requests' one and its background loops')."""
    connection = await asyncpg.connect(plain_dsn(url))
    try:
        pids = await connection.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = $2",
            database_name,
            application,
        )
    finally:
        await connection.close()
    return [row["pid"] for row in pids]


async def call(app: Any, path: str) -> tuple[int, bytes]:
    """One GET through the ASGI app, as a server would call it."""
    return await asgi_get(app, path)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--campaigns", type=int, default=300, help="campaigns per channel")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--requests", type=int, default=2_000, help="per URL list")
    parser.add_argument("--database", default=f"bench_history_micro_{os.getpid()}")
    parser.add_argument("--drop", action="store_true", help="drop --database at the end")
    parser.add_argument("--save", type=Path)
    parser.add_argument("--compare", type=Path)
    args = parser.parse_args()
    keep = "--database" in sys.argv
    url, seeded = await database(args.database, args.campaigns, args.days)
    try:
        os.environ.update(
            in_process_api_env(
                url,
                "bench-history-micro",
                SUMMARY_REFRESH_INTERVAL_S="3600",
                # the view as seeded: a refresh could change its sums in the last bit
                SUMMARY_MAX_AGE_S="86400",
            )
        )
        settings = QueryApiSettings()
        app = create_app(settings)
        lists = {name: urls[: args.requests] for name, urls in run.url_lists(seeded).items()}
        bodies: dict[str, list[str]] = {}
        async with app.router.lifespan_context(app):
            for name, urls in lists.items():
                for path in urls[:50]:  # warm: statements prepared, caches filled
                    await call(app, path)
                application = server_settings(settings)["application_name"]
                backends = await backend_pids(url, args.database, application)
                gc.collect()
                backends_before = backends_cpu_s(backends)
                wall, cpu = time.perf_counter(), time.process_time()
                answered = [await call(app, path) for path in urls]
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                assert all(status == 200 for status, _ in answered), name
                bodies[name] = [body.decode() for _, body in answered]
                backends_after = backends_cpu_s(backends)
                postgres = (
                    f"{1e6 * (backends_after - backends_before) / len(urls):5.0f} µs"
                    if backends_after is not None and backends_before is not None
                    else "    ?"
                )
                print(
                    f"{name:8} {len(urls)} requests: {1e6 * cpu / len(urls):5.0f} µs CPU/request in the API, "
                    f"{postgres} in PostgreSQL, {1e6 * wall / len(urls):5.0f} µs wall/request",
                    flush=True,
                )
        if args.save:
            args.save.write_text(json.dumps(bodies))
        if args.compare:
            saved = json.loads(args.compare.read_text())
            for name, answers in bodies.items():
                differ = [i for i, (a, b) in enumerate(zip(answers, saved[name], strict=True)) if a != b]
                print(
                    f"{name:8} {len(answers) - len(differ)}/{len(answers)} bodies identical to {args.compare}"
                )
                if differ:
                    print("  first difference:", lists[name][differ[0]])
                    print("  now:  ", answers[differ[0]][:600])
                    print("  saved:", saved[name][differ[0]][:600])
    finally:
        if args.drop or not keep:
            await drop_database(run.SERVER_URL, args.database)


if __name__ == "__main__":
    asyncio.run(main())
