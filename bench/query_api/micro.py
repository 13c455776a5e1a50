"""The query API's CPU per request in process (no HTTP, no network client): the floor of the HTTP layer and
of the endpoints that bench/query_api/run.py loads with wrk.

    uv run python bench/query_api/micro.py [--rows 100000] [--syncs 10000] [--requests 2000]
                                           [--compressed] [--database NAME] [--drop] [--profile DIR]

A private database is seeded as run.py seeds it (``run.seed``: fewer campaigns by default, the same syncs
and daily rows), then the app (``create_app``, its lifespan run in process) is called as an ASGI app, one
request after another, with run.py's URL lists, as wrk sends them (no ``Accept-Encoding``; ``--compressed``
sends a browser's ``gzip, br``):

* **trivial**: ``GET /health`` through every middleware (request id, compression, CORS, telemetry; the HTTP
  metrics leave the ops endpoints out), **root**: ``GET /`` (the service's links: a response model, and the
  HTTP metrics too), and **bare**: ``/health`` on a FastAPI app with no middleware of ours: the differences
  are what the HTTP layer costs every request;
* **syncs** (pages 1-3 and 200 single syncs), **summary** (12 thirty-day ranges), **campaign** (500 by id).

Prints the process CPU time per request (which leaves out PostgreSQL's, a process of its own) and the wall
time. ``--database NAME`` keeps the seeded database (reused by the next run with that name; ``--drop`` drops
it at the end). ``--profile DIR`` writes a cProfile of each list to DIR.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import os
import random
import sys
import time
from pathlib import Path

import asyncpg
import orjson
from fastapi import FastAPI

from demetra_common.db import plain_dsn
from demetra_common.ops import ops_router
from demetra_query_api.app import create_app
from demetra_query_api.settings import QueryApiSettings
from demetra_testkit import create_database, database_url_named, drop_database
from demetra_testkit.scripts import ASGIApp, asgi_get, in_process_api_env, load_script

run = load_script(Path(__file__).resolve().parent / "run.py", "bench_query_api_run")


async def database(server: str, name: str, rows: int, syncs: int) -> str:
    """The seeded database ``name`` (seeded now unless it exists)."""
    connection = await asyncpg.connect(plain_dsn(server))
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
    finally:
        await connection.close()
    if exists:
        return database_url_named(server, name)
    url = await create_database(server, name, migrate=True)
    await run.seed(url, rows, syncs)
    return url


BROWSER = [(b"accept-encoding", b"gzip, br")]


async def call(app: ASGIApp, path: str, *, compressed: bool) -> tuple[int, bytes]:
    """One GET through the ASGI app (``compressed``: as a browser asks, gzip or brotli)."""
    return await asgi_get(app, path, BROWSER if compressed else ())


class _Answers:
    """What run.other_workloads asks of the API server (``get``), answered from pages already read."""

    def __init__(self, bodies: dict[str, bytes]) -> None:
        self.bodies = bodies

    def get(self, path: str) -> bytes:
        return self.bodies[path]


async def url_lists(app: ASGIApp, rows: int, syncs: int, seed: int) -> dict[str, list[str]]:
    """run.py's lists for syncs, summary and campaign (the same seed, the same URLs)."""
    bodies: dict[str, bytes] = {}
    path = "/api/syncs"
    for _ in range(3):  # the sync pages' cursors, read through the app as run.py reads them over HTTP
        status, body = await call(app, path, compressed=False)
        assert status == 200, (path, status)
        bodies[path] = body
        path = f"/api/syncs?cursor={orjson.loads(body)['next_cursor']}"
    lists: dict[str, list[str]] = run.other_workloads(_Answers(bodies), random.Random(seed), rows, syncs)
    return lists


async def measure(
    name: str, app: ASGIApp, urls: list[str], profile: Path | None, *, compressed: bool
) -> None:
    for path in urls[:50]:  # warm: statements prepared, caches filled
        await call(app, path, compressed=compressed)
    gc.collect()
    profiler = cProfile.Profile() if profile else None
    wall, cpu = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    answered = [await call(app, path, compressed=compressed) for path in urls]
    if profiler and profile:
        profiler.disable()
        profiler.dump_stats(str(profile / f"{name}.prof"))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    statuses = {status for status, _ in answered}
    assert statuses == {200}, (name, statuses)
    print(
        f"{name:9} {len(urls)} requests: {1e6 * cpu / len(urls):7.0f} µs CPU/request, "
        f"{1e6 * wall / len(urls):7.0f} µs wall/request",
        flush=True,
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000, help="campaigns")
    parser.add_argument("--syncs", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=2_000, help="per URL list")
    parser.add_argument("--seed", type=int, default=13, help="run.py's seed: the same URLs")
    parser.add_argument("--database", default=f"bench_query_api_micro_{os.getpid()}")
    parser.add_argument("--drop", action="store_true", help="drop --database at the end")
    parser.add_argument("--compressed", action="store_true", help="Accept-Encoding: gzip, br")
    parser.add_argument("--profile", type=Path, help="write a cProfile of each list here")
    args = parser.parse_args()
    keep = "--database" in sys.argv and not args.drop
    server = run.asyncpg_url(
        os.environ.get("DATABASE_URL", "postgresql://demetra:demetra@127.0.0.1:5432/demetra")
    )
    url = await database(server, args.database, args.rows, args.syncs)
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    try:
        os.environ.update(in_process_api_env(url, "bench-query-api-micro", LOG_FORMAT="text"))
        app = create_app(QueryApiSettings())
        async with app.router.lifespan_context(app):
            lists = await url_lists(app, args.rows, args.syncs, args.seed)
            await measure(
                "trivial", app, ["/health"] * args.requests, args.profile, compressed=args.compressed
            )
            await measure("root", app, ["/"] * args.requests, args.profile, compressed=args.compressed)
            bare = FastAPI()  # FastAPI's own defaults only: no middleware of ours
            bare.include_router(ops_router({}))
            await measure("bare", bare, ["/health"] * args.requests, args.profile, compressed=args.compressed)
            for name, urls in lists.items():
                cycled = [urls[i % len(urls)] for i in range(args.requests)]
                await measure(name, app, cycled, args.profile, compressed=args.compressed)
    finally:
        if not keep:
            await drop_database(server, args.database)


if __name__ == "__main__":
    asyncio.run(main())
