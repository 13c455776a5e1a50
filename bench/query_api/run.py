"""Query API throughput and latency over 1M campaigns, measured with wrk at concurrency 64.

    uv run python bench/query_api/run.py [--rows 1000000] [--duration 10] [--workers 2] [--pool-size 2]
                                         [--keep-db]

1. Seeds a private database (created on the server of DATABASE_URL, dropped at the end) with --rows campaigns
   (generate_series in SQL) and ~2,200 hourly syncs of event rows, ANALYZEs it and refreshes the summary
   aggregate.
2. Runs the API as production does (``python -m demetra_query_api``, --workers uvicorn processes with
   --pool-size PostgreSQL connections each: 2 x 2 backends suit 2 cores that PostgreSQL, the API and wrk
   share; more backends only contend for the same cores) and
   measures, one after the other, with ``wrk -t2 -c64 --latency``:
   /health, GET /api/campaigns (channel + date filter, date sort, the SECOND page via its cursor),
   GET /api/metrics/summary (one month, all channels) and GET /api/syncs.
3. Does it twice: with the response micro-cache off (RESPONSE_CACHE_TTL_S=0: every request queries
   PostgreSQL) and with the default 1 s cache (the same URL again and again is then served from memory).

The final line reports the uncached run, which is what the code and the indexes deliver; the cached run's
figures are printed above it and appended as ``cached_*`` pairs.

wrk comes from Debian: when it is missing the script runs ``apt-get install -y wrk`` (needs root).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import orjson

from demetra_common.db import asyncpg_url, plain_dsn
from demetra_query_api.cursors import CampaignCursor, SortField, SortOrder
from demetra_testkit import create_database, drop_database, free_port

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
LOG_DIR = REPO / ".state" / "bench"

SEED_CAMPAIGNS = """
INSERT INTO campaigns (campaign_id, channel, name, date, impressions, clicks, engagement, cost,
                       conversion_rate, roi, fetched_at, sync_id)
SELECT c.prefix || '_' || lpad(g::text, 8, '0'), c.channel, 'Campaign ' || g,
       DATE '2026-01-01' + (g % 330)::int,
       c.impressions, (c.impressions * (0.002 + (g % 37) / 1000.0))::bigint, (c.impressions * 0.03)::bigint,
       round((c.impressions * (0.002 + (g % 37) / 1000.0) * (0.4 + (g % 13) / 5.0))::numeric, 2),
       (g % 97) / 1000.0, ((g * 31) % 401) / 100.0 - 1.0,
       TIMESTAMPTZ '2026-01-01 00:00Z' + make_interval(days => (g % 330)::int, hours => (g % 24)::int),
       'sched-seed'
FROM generate_series($1::bigint, $2::bigint) AS g
CROSS JOIN LATERAL (
    SELECT (ARRAY['facebook', 'instagram', 'google_ads', 'tiktok'])[1 + g % 4] AS channel,
           (ARRAY['fb', 'ig', 'gads', 'tt'])[1 + g % 4] AS prefix,
           (1000 + (g * 7919) % 200000)::bigint AS impressions
) AS c
"""

# Hourly scheduled syncs over ~90 days: one request, then per channel started, completed and two loads.
SEED_SYNCS = """
WITH syncs AS (
    SELECT s, 'sched-' || to_char(TIMESTAMPTZ '2026-08-01 00:00Z' + make_interval(hours => s),
                                   'YYYYMMDD"T"HH24MI"Z"') AS sync_id,
           TIMESTAMPTZ '2026-08-01 00:00Z' + make_interval(hours => s) AS at
    FROM generate_series(0, 2199) AS s
), channels AS (
    SELECT * FROM unnest(ARRAY['facebook', 'instagram', 'google_ads', 'tiktok'])
                  WITH ORDINALITY AS c(channel, n)
)
INSERT INTO events (event_id, sync_id, channel, type, payload, occurred_at, recorded_at)
SELECT gen_random_uuid(), sync_id, NULL, 'sync.requested',
       jsonb_build_object('schema_version', 1, 'sync_id', sync_id, 'trigger', 'schedule', 'requested_at', at,
                          'channels', jsonb_build_array('facebook', 'instagram', 'google_ads', 'tiktok')),
       at, at
FROM syncs
UNION ALL
SELECT gen_random_uuid(), sync_id, channel, 'fetch.started',
       jsonb_build_object('sync_id', sync_id, 'channel', channel, 'type', 'fetch.started'),
       at + make_interval(secs => n), at + make_interval(secs => n)
FROM syncs, channels
UNION ALL
SELECT gen_random_uuid(), sync_id, channel, 'fetch.completed',
       jsonb_build_object('sync_id', sync_id, 'channel', channel, 'type', 'fetch.completed', 'count', 500),
       at + make_interval(secs => 10 + n), at + make_interval(secs => 10 + n)
FROM syncs, channels
UNION ALL
SELECT gen_random_uuid(), sync_id, channel, 'load',
       jsonb_build_object('inserted', 10, 'updated', 200, 'unchanged', 40, 'rejected', 0),
       at + make_interval(secs => 10 + n + b), at + make_interval(secs => 10 + n + b)
FROM syncs, channels, generate_series(1, 2) AS b
"""


@dataclass(frozen=True)
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int

    def line(self, health: Result) -> str:
        errors = f"  ({self.errors} non-2xx)" if self.errors else ""
        return (
            f"{self.name:<34} {self.rps:>9.0f} req/s  p50 {self.p50_ms:>7.2f} ms  "
            f"p99 {self.p99_ms:>7.2f} ms  {self.rps / health.rps:>6.1%} of /health{errors}"
        )


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk not found: installing the Debian package (apt-get install -y wrk)", flush=True)
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=False, capture_output=True)
    if not shutil.which("wrk"):
        subprocess.run(["apt-get", "update"], check=False, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, capture_output=True)
    return shutil.which("wrk") or "wrk"


async def seed(url: str, rows: int) -> None:
    connection = await asyncpg.connect(plain_dsn(url))
    try:
        chunk = 250_000
        for start in range(1, rows + 1, chunk):
            await connection.execute(SEED_CAMPAIGNS, start, min(rows, start + chunk - 1))
        await connection.execute(SEED_SYNCS)
        await connection.execute("ANALYZE campaigns")
        await connection.execute("ANALYZE events")
        await connection.execute("REFRESH MATERIALIZED VIEW campaign_daily_metrics")
        count = await connection.fetchval("SELECT count(*) FROM campaigns")
        events = await connection.fetchval("SELECT count(*) FROM events")
        print(f"seeded {count:,} campaigns and {events:,} event rows", flush=True)
    finally:
        await connection.close()


class Api:
    """The query API as production runs it (``python -m demetra_query_api``), or the floor app; both read
    the same settings from the environment."""

    def __init__(
        self,
        env: dict[str, str],
        name: str,
        *,
        command: tuple[str, ...] = (sys.executable, "-m", "demetra_query_api"),
        ready_path: str = "/api/syncs?limit=1",
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ready_path = ready_path
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.log = LOG_DIR / f"{name}.log"
        environment = {**os.environ, **env, "HTTP_PORT": str(self.port), "HTTP_HOST": "127.0.0.1"}
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT)

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(self.url + path, timeout=10) as response:
            return bytes(response.read())

    def wait_healthy(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the API exited; see {self.log}")
            try:
                self.get("/health")
                self.get(self.ready_path)  # every worker answers once its pool works
                return
            except OSError:
                time.sleep(0.2)
        raise SystemExit(f"the API did not answer within {timeout:.0f}s; see {self.log}")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


LATENCY = re.compile(r"^\s*(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def run_wrk(wrk: str, name: str, url: str, duration: int) -> Result:
    output = subprocess.run(
        [wrk, "-t2", "-c64", f"-d{duration}s", "--latency", url], capture_output=True, text=True, check=True
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    latencies = {pct: float(value) * UNIT_MS[unit] for pct, value, unit in LATENCY.findall(output)}
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    return Result(name, rps, latencies["50"], latencies["99"], int(non_2xx.group(1)) if non_2xx else 0)


FIRST_PAGE = "/api/campaigns?channel=facebook&date_from=2026-03-01&sort=date&order=desc"


def measure(wrk: str, api: Api, duration: int) -> dict[str, Result]:
    second_page = orjson.loads(api.get(FIRST_PAGE))["next"]
    assert second_page and len(orjson.loads(api.get(second_page))["items"]) == 50
    targets = {
        "health": "/health",
        "list": second_page,
        "summary": "/api/metrics/summary?date_from=2026-06-01&date_to=2026-06-30",
        "syncs": "/api/syncs",
    }
    for path in targets.values():  # warm every worker's pool and statement cache
        for _ in range(20):
            api.get(path)
    return {name: run_wrk(wrk, name, api.url + path, duration) for name, path in targets.items()}


def measure_floor(wrk: str, api: Api, env: dict[str, str], duration: int) -> dict[str, Result]:
    """/health and the API's second page on the floor app (same settings); checks it serves the very same
    campaigns."""
    first = orjson.loads(api.get(FIRST_PAGE))
    second_page = orjson.loads(api.get(first["next"]))["items"]
    after = CampaignCursor.decode(first["next_cursor"], SortField.DATE, SortOrder.DESC)
    floor = Api(
        {**env, "FLOOR_AFTER": f"{after.key},{after.id}"},
        "query-api-floor",
        command=(sys.executable, str(HERE / "floor_app.py")),
        ready_path="/page",
    )
    try:
        floor.wait_healthy()
        assert orjson.loads(floor.get("/page"))["items"] == second_page, "the floor serves another page"
        for path in ("/health", "/page"):
            for _ in range(20):
                floor.get(path)
        return {
            "health": run_wrk(wrk, "health", floor.url + "/health", duration),
            "list": run_wrk(wrk, "list", floor.url + "/page", duration),
        }
    finally:
        floor.stop()


def report(title: str, results: dict[str, Result], health: Result | None = None) -> None:
    """One line per endpoint; the percentage is of ``health`` (by default the /health of ``results``)."""
    health = health or results["health"]
    print(f"\n{title}")
    labels = {
        "health": "GET /health",
        "list": "GET /api/campaigns (2nd page)",
        "floor_health": "floor: GET /health",
        "floor_list": "floor: GET the same page",
        "summary": "GET /api/metrics/summary",
        "syncs": "GET /api/syncs",
    }
    for name, result in results.items():
        labelled = Result(labels[name], result.rps, result.p50_ms, result.p99_ms, result.errors)
        print("  " + labelled.line(health))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument(
        "--pool-size", type=int, default=2, help="PostgreSQL connections per worker (DB_POOL_SIZE)"
    )
    parser.add_argument("--keep-db", action="store_true", help="leave the seeded database for inspection")
    args = parser.parse_args()

    wrk = ensure_wrk()
    server = asyncpg_url(
        os.environ.get("DATABASE_URL", "postgresql://demetra:demetra@127.0.0.1:5432/demetra")
    )
    name = f"bench_query_api_{uuid.uuid4().hex[:8]}"
    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} CPUs, load average {load:.2f}; database {name}", flush=True)
    database = asyncio.run(create_database(server, name, migrate=True))
    try:
        began = time.monotonic()
        asyncio.run(seed(database, args.rows))
        print(f"seeding took {time.monotonic() - began:.0f}s", flush=True)
        common = {
            "DATABASE_URL": database,
            "KAFKA_TOPIC_PREFIX": f"bench-{name}.",
            "HTTP_WORKERS": str(args.workers),
            "LOG_LEVEL": "WARNING",
            "LOG_FORMAT": "text",
            "DB_POOL_SIZE": str(args.pool_size),
            "DB_MAX_OVERFLOW": "0",
        }
        runs: dict[str, dict[str, Result]] = {}
        for label, ttl in (("uncached", "0"), ("cached", "1.0")):
            api = Api({**common, "RESPONSE_CACHE_TTL_S": ttl}, f"query-api-{label}")
            try:
                api.wait_healthy()
                runs[label] = measure(wrk, api, args.duration)
                if label == "uncached":
                    runs["floor"] = measure_floor(wrk, api, common, args.duration)
            finally:
                api.stop()
            title = (
                "RESPONSE_CACHE_TTL_S=0 (every request queries PostgreSQL)"
                if ttl == "0"
                else "RESPONSE_CACHE_TTL_S=1.0 (default: the same URL is served from memory for 1 s)"
            )
            setup = f"{args.workers} workers x {args.pool_size} connections, wrk -t2 -c64 -d{args.duration}s"
            report(f"{title}, {setup}:", runs[label])
            if label == "uncached":
                report(
                    f"Floor (bare uvicorn app: the same query, rows and JSON, no framework), {setup}; "
                    "percentages of the API's /health above:",
                    {f"floor_{name}": result for name, result in runs["floor"].items()},
                    health=runs[label]["health"],
                )
    finally:
        if not args.keep_db:
            asyncio.run(drop_database(server, name))

    plain, cached, floor = runs["uncached"], runs["cached"], runs["floor"]
    print(
        f"\nhealth_rps={plain['health'].rps:.0f} list_rps={plain['list'].rps:.0f} "
        f"list_vs_health={plain['list'].rps / plain['health'].rps:.2f} "
        f"list_p99_ms={plain['list'].p99_ms:.1f} "
        f"summary_p99_ms={plain['summary'].p99_ms:.1f} "
        f"floor_list_rps={floor['list'].rps:.0f} "
        f"floor_list_vs_health={floor['list'].rps / plain['health'].rps:.2f} "
        f"list_vs_floor={plain['list'].rps / floor['list'].rps:.2f} "
        f"cached_health_rps={cached['health'].rps:.0f} cached_list_rps={cached['list'].rps:.0f} "
        f"cached_list_vs_health={cached['list'].rps / cached['health'].rps:.2f} "
        f"cached_list_p99_ms={cached['list'].p99_ms:.1f} cached_summary_p99_ms={cached['summary'].p99_ms:.1f}"
    )


if __name__ == "__main__":
    main()
