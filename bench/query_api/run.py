"""The query API under a dashboard's real workload, uncached, at concurrency 64, with wrk; against its floor
and a peer (PostGraphile 4).

    uv run python bench/query_api/run.py [--rows 1000000] [--syncs 10000] [--duration 10]
        [--workers 2] [--pool-size 2] [--filter-sets 12] [--seed 13] [--no-peer] [--keep-db]

1. Seeds a private database (created on the server of DATABASE_URL, dropped at the end): --rows campaigns and
   daily rows for the first 1,000 of them (for the summary) with generate_series in SQL (no row crosses the
   wire: faster than COPY from Python), --syncs hourly syncs with their event rows (a request, then per
   channel fetch.started, fetch.completed and two loads) and their sync projection (filled from those rows
   by the loader's own refresh, ``sync_projection.backfill_syncs``); ANALYZE; refreshes the summary
   aggregate.
2. Starts the API as production does (``python -m demetra_query_api``, --workers uvicorn processes x
   --pool-size connections) with RESPONSE_CACHE_TTL_S=0 (every request queries PostgreSQL), and builds the
   workloads from the API's own declaration, with a fixed seed (--seed):
   * **mixed**: --filter-sets random sets of the list's filters (CampaignQuery's fields, CAMPAIGN_FILTERS'
     rows; values drawn around one seeded row, which the set selects) x every SortField x asc/desc x pages
     1-3 (pages 2 and 3 through the cursors the API itself returned), shuffled;
   * **syncs**: /api/syncs pages 1-3 and 200 single syncs; **syncs_filtered**: /api/syncs pages 1-3 of every
     status, every trigger and every (status, trigger) pair (SyncsQuery's filters; a filter no sync matches
     is one empty page); **summary**: /api/metrics/summary over 12 ranges;
     **campaign**: 500 random /api/campaigns/{id}; **trivial**: /health (no database, every middleware: what
     the machine allows the HTTP layer at c=64 at that moment).
   Each runs ``wrk -t2 -c64 --latency`` with a Lua script that cycles through its URLs.
3. The **floor** (``floor_app.py``): a bare ASGI app on the same uvicorn, workers and pool that serves the
   very same mixed URLs with the list's repository function, rows to dicts to orjson, nothing else (checked:
   the same items as the API for a sample); then its /health, the machine's own floor at c=64 (uvicorn and
   wrk, no framework, no database).
4. The **peer**: PostGraphile 4 (npm, pinned, installed once into ~/.cache/demetra; skipped with a message
   when node/npm are missing or --no-peer) over the same table, with the connection-filter plugin so it
   applies the same filters, serving the mixed workload's first pages as GraphQL POSTs (checked: the same
   campaign ids as the API's first pages).

Targets (issue 13): every workload p99 <= 50 ms with 0 non-2xx; mixed rps >= 0.8 x floor; >= 2 x peer.
wrk comes from Debian: when it is missing the script runs ``apt-get install -y wrk`` (needs root; else
install it yourself: ``apt-get update && apt-get install -y wrk``).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import operator
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from demetra_common.contracts import Trigger
from demetra_common.db import asyncpg_url, plain_dsn
from demetra_common.sync_projection import backfill_syncs
from demetra_common.sync_status import SyncState
from demetra_common.tables import CAMPAIGN_DATA_COLUMNS, CampaignRow
from demetra_query_api.campaigns.repository import CAMPAIGN_FILTERS
from demetra_query_api.campaigns.schemas import CampaignQuery
from demetra_query_api.cursors import SortField, SortOrder
from demetra_query_api.statements import Compare, starts_with
from demetra_testkit import create_database, drop_database, free_port

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
LOG_DIR = REPO / ".state" / "bench"
PEER_VERSION = "4.14.1"
PEER_FILTER_PLUGIN = "postgraphile-plugin-connection-filter@2.3.0"
PEER_DIR = Path.home() / ".cache" / "demetra" / f"postgraphile-{PEER_VERSION}"
CHANNELS = ("facebook", "instagram", "google_ads", "tiktok")
DAILY_CAMPAIGNS = 1000

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

# The first DAILY_CAMPAIGNS campaigns, one row per day of 2026-01-01..2026-11-26 (what the summary reads).
SEED_DAYS = """
INSERT INTO campaign_daily (campaign_id, date, channel, impressions, clicks, engagement, cost, conversions,
                            revenue, fetched_at, sync_id)
SELECT campaign_id, d::date, channel, 1000 + (id * 7 + extract(doy FROM d)::int) % 5000, 20, 30, 12.5, 2, 40,
       d + interval '1 day', 'sched-seed'
FROM campaigns, generate_series(DATE '2026-01-01', DATE '2026-11-26', interval '1 day') AS d
WHERE id <= $1
"""

# Hourly scheduled syncs: one request, then per channel started, completed and two loads.
SEED_SYNCS = """
WITH syncs AS (
    SELECT s, 'sched-' || to_char(TIMESTAMPTZ '2025-08-01 00:00Z' + make_interval(hours => s),
                                   'YYYYMMDD"T"HH24MI"Z"') AS sync_id,
           TIMESTAMPTZ '2025-08-01 00:00Z' + make_interval(hours => s) AS at
    FROM generate_series(0, $1::int - 1) AS s
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


async def seed(url: str, rows: int, syncs: int) -> None:
    connection = await asyncpg.connect(plain_dsn(url))
    try:
        chunk = 250_000
        for start in range(1, rows + 1, chunk):
            await connection.execute(SEED_CAMPAIGNS, start, min(rows, start + chunk - 1))
        await connection.execute(SEED_DAYS, DAILY_CAMPAIGNS)
        await connection.execute(SEED_SYNCS, syncs)
        async with connection.transaction():  # the sync projection, as the loader keeps it
            await backfill_syncs(connection)
        for table in ("campaigns", "campaign_daily", "events", "syncs", "sync_channels"):
            await connection.execute(f"ANALYZE {table}")
        await connection.execute("REFRESH MATERIALIZED VIEW campaign_daily_metrics")
        counts = [await connection.fetchval(f"SELECT count(*) FROM {t}") for t in ("campaigns", "events")]
        print(f"seeded {counts[0]:,} campaigns, {syncs:,} syncs ({counts[1]:,} event rows)", flush=True)
    finally:
        await connection.close()


# ----------------------------------------------------------------------------------------- processes


class Server:
    """A process serving HTTP on a free port (the API, the floor, the peer), with its log under .state."""

    def __init__(self, name: str, command: Sequence[str], env: dict[str, str], ready_path: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ready_path = ready_path
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.log = LOG_DIR / f"{name}.log"
        environment = {**os.environ, **env, "HTTP_PORT": str(self.port), "HTTP_HOST": "127.0.0.1"}
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [part.replace("{port}", str(self.port)) for part in command],
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(self.url + path, timeout=30) as response:
            return bytes(response.read())

    def post(self, path: str, body: bytes) -> bytes:
        request = urllib.request.Request(
            self.url + path, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return bytes(response.read())

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"{self.log.stem} exited; see {self.log}")
            try:
                self.get(self.ready_path)
                return
            except (OSError, urllib.error.HTTPError):
                time.sleep(0.2)
        raise SystemExit(f"{self.log.stem} did not answer within {timeout:.0f}s; see {self.log}")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk not found: installing the Debian package (apt-get install -y wrk)", flush=True)
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=False, capture_output=True)
    if not shutil.which("wrk"):
        subprocess.run(["apt-get", "update"], check=False, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=False, capture_output=True)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit(
            "wrk is needed: apt-get update && apt-get install -y wrk (Debian), or your OS's package"
        )
    return found


def ensure_peer() -> Path | None:
    """PostGraphile's CLI, installed once into PEER_DIR; None (and why) when node or npm is missing."""
    if not (shutil.which("node") and shutil.which("npm")):
        print("peer skipped: node and npm are needed for PostGraphile (apt-get install -y nodejs npm)")
        return None
    cli = PEER_DIR / "node_modules" / ".bin" / "postgraphile"
    if not cli.exists():
        print(f"installing postgraphile@{PEER_VERSION} into {PEER_DIR} (once)", flush=True)
        PEER_DIR.mkdir(parents=True, exist_ok=True)
        installed = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error",
             f"postgraphile@{PEER_VERSION}", PEER_FILTER_PLUGIN],
            cwd=PEER_DIR, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if installed.returncode != 0 or not cli.exists():
            print(f"peer skipped: npm install failed: {installed.stderr.strip()[-500:]}")
            return None
    return cli


# ----------------------------------------------------------------------------------------- workloads


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


Chain = tuple[dict[str, Any], SortField, SortOrder]  # a filter set, a sort, an order


@dataclass(frozen=True)
class ListRequest:
    """One request of the mixed workload: its query parameters (page 1 has no cursor)."""

    params: tuple[tuple[str, str], ...]
    page: int

    @property
    def path(self) -> str:
        return "/api/campaigns?" + urllib.parse.urlencode(self.params)


def _filter_values(rng: random.Random, sample: list[asyncpg.Record]) -> dict[str, Any]:
    """A random set of the list's filters (CampaignQuery's fields that CAMPAIGN_FILTERS declares, and the
    channels) that a user could mean: every value is drawn around one seeded row (the anchor), which the
    set therefore selects (a prefix or a piece of its text, ranges that include it, its channel)."""
    anchor, other = rng.choice(sample), rng.choice(sample)
    chosen: dict[str, Any] = {}
    fields = CampaignQuery.model_fields
    if "channel" in fields and rng.random() < 0.7:
        extra = [rng.choice(CHANNELS)] if rng.random() < 0.2 else []
        chosen["channel"] = list(dict.fromkeys([anchor["channel"], *extra]))
    for name, row in CAMPAIGN_FILTERS.items():
        if name not in fields or name == "channel" or not isinstance(row, Compare) or rng.random() > 0.3:
            continue
        mine, theirs = anchor[row.column.name], other[row.column.name]
        if row.operator is starts_with:
            value = mine[: rng.randint(4, 7)]
        elif isinstance(mine, str):  # a text search: a piece of the anchor's text
            start = rng.randint(0, max(0, len(mine) - 3))
            value = mine[start : start + 3]
        elif row.operator is operator.ge:
            value = min(mine, theirs)
        elif row.operator is operator.le:
            value = max(mine, theirs)
        else:
            continue
        chosen[name] = float(value) if isinstance(value, Decimal | float) else value
    return chosen


def _params(filters: dict[str, Any], sort: SortField, order: SortOrder) -> tuple[tuple[str, str], ...]:
    params: list[tuple[str, str]] = []
    for name, value in filters.items():
        for one in value if isinstance(value, list) else [value]:
            params.append((name, one.isoformat() if isinstance(one, dt.date) else str(one)))
    return (*params, ("sort", sort.value), ("order", order.value))


def mixed_workload(
    api: Server, sample: list[asyncpg.Record], filter_sets: int, rng: random.Random
) -> tuple[list[ListRequest], list[tuple[Chain, list[str]]]]:
    """Every (filter set, sort, order) chain's pages 1-3 (fewer when the list ends), shuffled; and each
    chain with the campaign ids of its first page (what the peer must serve)."""
    chains = [
        (_filter_values(rng, sample), sort, order)
        for _ in range(filter_sets)
        for sort in SortField
        for order in SortOrder
    ]

    def pages(chain: Chain) -> tuple[list[ListRequest], list[str]]:
        params = _params(*chain)
        found: list[ListRequest] = []
        cursor, first_ids = None, []
        for page in (1, 2, 3):
            request = ListRequest(params + ((("cursor", cursor),) if cursor else ()), page)
            found.append(request)
            began = time.perf_counter()
            try:
                body = orjson.loads(api.get(request.path))
            except urllib.error.HTTPError as exc:  # e.g. 503: past the API's statement timeout
                print(f"  generating: {exc.code} on {request.path} (kept in the workload)", flush=True)
                break
            finally:
                timings.append((time.perf_counter() - began, request.path))
            if page == 1:
                first_ids = [item["campaign_id"] for item in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        return found, first_ids

    timings: list[tuple[float, str]] = []
    with ThreadPoolExecutor(4) as pool:
        built = list(pool.map(pages, chains))
    print("  slowest pages while generating (4 at a time):", flush=True)
    for seconds, path in sorted(timings, reverse=True)[:10]:
        print(f"    {seconds * 1000:8.0f} ms  {path}", flush=True)
    requests = [request for chain_pages, _ in built for request in chain_pages]
    rng.shuffle(requests)
    return requests, [(chain, first_ids) for chain, (_, first_ids) in zip(chains, built, strict=True)]


def sync_pages(api: Server, query: str = "") -> list[str]:
    """/api/syncs?``query``, pages 1-3 (fewer when the list ends), through the cursors the API returns."""
    pages: list[str] = []
    cursor = None
    for _ in range(3):
        parameters = "&".join(part for part in (query, f"cursor={cursor}" if cursor else "") if part)
        path = "/api/syncs" + (f"?{parameters}" if parameters else "")
        pages.append(path)
        cursor = orjson.loads(api.get(path))["next_cursor"]
        if cursor is None:
            break
    return pages


def sync_filter_queries() -> list[str]:
    """Every status, every trigger and every (status, trigger) pair of SyncsQuery, as query strings."""
    statuses = [f"status={state.value}" for state in SyncState]
    triggers = [f"trigger={trigger.value}" for trigger in Trigger]
    return [*statuses, *triggers, *(f"{status}&{trigger}" for status in statuses for trigger in triggers)]


def other_workloads(api: Server, rng: random.Random, rows: int, syncs: int) -> dict[str, list[str]]:
    unfiltered = sync_pages(api)
    start = dt.datetime(2025, 8, 1, tzinfo=dt.UTC)
    single = [
        f"/api/syncs/sched-{start + dt.timedelta(hours=rng.randrange(syncs)):%Y%m%dT%H%MZ}"
        for _ in range(200)
    ]
    summary = []
    for _ in range(12):
        first = dt.date(2026, 1, 1) + dt.timedelta(days=rng.randrange(300))
        summary.append(f"/api/metrics/summary?date_from={first}&date_to={first + dt.timedelta(days=29)}")
    prefixes = ("fb", "ig", "gads", "tt")
    campaigns = []
    for _ in range(500):
        g = rng.randint(1, rows)
        campaigns.append(f"/api/campaigns/{prefixes[g % 4]}_{g:08d}")
    # The machine's floor at this concurrency now: an endpoint that does nothing, through every middleware.
    return {
        "syncs": unfiltered * 50 + single,
        "syncs_filtered": [path for query in sync_filter_queries() for path in sync_pages(api, query)],
        "summary": summary,
        "campaign": campaigns,
        "trivial": ["/health"],
    }


# --------------------------------------------------------------------------------------------- the peer

_PEER_OPERATORS: dict[Callable[..., Any], str] = {
    operator.ge: "greaterThanOrEqualTo",
    operator.le: "lessThanOrEqualTo",
    starts_with: "startsWith",
}


def peer_body(filters: dict[str, Any], sort: SortField, order: SortOrder, limit: int) -> bytes | None:
    """The GraphQL POST body asking PostGraphile for the same first page; None for a filter it cannot say."""
    conditions: dict[str, Any] = {}
    for name, value in filters.items():
        if name == "channel":
            conditions["channel"] = {"in": value}
            continue
        row = CAMPAIGN_FILTERS[name]
        if not isinstance(row, Compare):
            return None
        column = _camel(row.column.name)
        verb = _PEER_OPERATORS.get(row.operator, "includesInsensitive")
        if isinstance(value, dt.date):
            value = value.isoformat()
        elif row.column.name == "cost":
            value = str(value)  # numeric: PostGraphile's BigFloat, a string
        conditions.setdefault(column, {})[verb] = value
    if sort.value not in CampaignRow.__table__.c:  # a computed sort (CTR, CPC...): not a column to order by
        return None
    direction = order.value.upper()
    order_by = [f"{sort.value.upper()}_{direction}"]  # PostGraphile's enum: the column in capitals
    if sort is not SortField.CAMPAIGN_ID:
        order_by.append(f"ID_{direction}")
    fields = " ".join(_camel(column) for column in CAMPAIGN_DATA_COLUMNS)
    query = (
        "query Page($filter: CampaignFilter, $orderBy: [CampaignsOrderBy!], $first: Int) {"
        f" allCampaigns(filter: $filter, orderBy: $orderBy, first: $first) {{ nodes {{ {fields} }} }} }}"
    )
    variables: dict[str, Any] = {"orderBy": order_by, "first": limit}
    if conditions:  # PostGraphile refuses a null filter
        variables["filter"] = conditions
    return orjson.dumps({"query": query, "variables": variables})


def start_peer(cli: Path, database: str) -> Server:
    return Server(
        "peer-postgraphile",
        ["node", str(cli), "--connection", plain_dsn(database), "--schema", "public", "--host", "127.0.0.1",
         "--port", "{port}", "--disable-graphiql", "--disable-query-log", "--append-plugins",
         "postgraphile-plugin-connection-filter", "--cluster-workers", "2"],
        {"NODE_PATH": str(PEER_DIR / "node_modules")},
        ready_path="/health",  # 404 until it listens; any answer means up
    )  # fmt: skip


def wait_peer(peer: Server, body: bytes, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if peer.process.poll() is not None:
            raise SystemExit(f"PostGraphile exited; see {peer.log}")
        try:
            peer.post("/graphql", body)
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"PostGraphile did not answer within {timeout:.0f}s; see {peer.log}")


# ------------------------------------------------------------------------------------------------- wrk


@dataclass(frozen=True)
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    urls: int

    def line(self) -> str:
        errors = f"  ({self.errors} non-2xx)" if self.errors else ""
        return (
            f"  {self.name:<44} {self.rps:>8.0f} req/s  p50 {self.p50_ms:>7.2f} ms  "
            f"p99 {self.p99_ms:>7.2f} ms  ({self.urls} URLs){errors}"
        )


LATENCY = re.compile(r"^\s*(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _lua_string(text: str | bytes) -> str:
    value = text.decode() if isinstance(text, bytes) else text
    assert "]==]" not in value
    return f"[==[{value}]==]"


def lua_script(paths: Sequence[str], bodies: Sequence[bytes] = ()) -> str:
    """A wrk script cycling through ``paths`` (GETs), or POSTing ``bodies`` to the one path given."""
    if bodies:
        items = ",\n".join(_lua_string(body) for body in bodies)
        return (
            f"local bodies = {{\n{items}\n}}\nlocal i = 0\n"
            'local headers = {["Content-Type"] = "application/json"}\n'
            "request = function()\n  i = i % #bodies + 1\n"
            f"  return wrk.format('POST', {_lua_string(paths[0])}, headers, bodies[i])\nend\n"
        )
    items = ",\n".join(_lua_string(path) for path in paths)
    return (
        f"local paths = {{\n{items}\n}}\nlocal i = 0\n"
        "request = function()\n  i = i % #paths + 1\n  return wrk.format('GET', paths[i])\nend\n"
    )


def run_wrk(wrk: str, name: str, base_url: str, script: str, urls: int, duration: int) -> Result:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(script)
    try:
        command = [wrk, "-t2", "-c64", f"-d{duration}s", "--latency", "-s", file.name, base_url]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(file.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    latencies = {pct: float(value) * UNIT_MS[unit] for pct, value, unit in LATENCY.findall(output)}
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    errors = int(non_2xx.group(1)) if non_2xx else 0
    errors += sum(int(n) for n in socket_errors.groups()) if socket_errors else 0
    result = Result(name, rps, latencies["50"], latencies["99"], errors, urls)
    print(result.line(), flush=True)  # as it comes; the table at the end repeats it
    return result


def warm(server: Server, paths: Sequence[str], at_most: int = 300) -> None:
    """Prepares the statements of every worker's connections (most URLs share a few shapes)."""
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(server.get, paths[:at_most]))


# ------------------------------------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--syncs", type=int, default=10_000)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--pool-size", type=int, default=2, help="PostgreSQL connections per worker")
    parser.add_argument(
        "--filter-sets", type=int, default=12, help="random filter sets of the mixed workload"
    )
    parser.add_argument("--seed", type=int, default=13, help="the workload's random seed")
    parser.add_argument("--no-peer", action="store_true", help="skip PostGraphile")
    parser.add_argument("--keep-db", action="store_true", help="leave the seeded database for inspection")
    args = parser.parse_args()

    wrk = ensure_wrk()
    server = asyncpg_url(
        os.environ.get("DATABASE_URL", "postgresql://demetra:demetra@127.0.0.1:5432/demetra")
    )
    name = f"bench_query_api_{uuid.uuid4().hex[:8]}"
    print(
        f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; database {name}", flush=True
    )
    database = asyncio.run(create_database(server, name, migrate=True))
    rng = random.Random(args.seed)
    results: dict[str, Result] = {}
    setup = f"{args.workers} workers x {args.pool_size} connections, wrk -t2 -c64 -d{args.duration}s"
    try:
        began = time.monotonic()
        asyncio.run(seed(database, args.rows, args.syncs))
        print(f"seeding took {time.monotonic() - began:.0f}s", flush=True)
        sample = asyncio.run(_sample(database))
        common = {
            "DATABASE_URL": database,
            "KAFKA_TOPIC_PREFIX": f"bench-{name}.",
            "HTTP_WORKERS": str(args.workers),
            "LOG_LEVEL": "WARNING",
            "LOG_FORMAT": "text",
            "DB_POOL_SIZE": str(args.pool_size),
            "DB_MAX_OVERFLOW": "0",
            "RESPONSE_CACHE_TTL_S": "0",
        }
        api = Server("query-api", (sys.executable, "-m", "demetra_query_api"), common, "/api/syncs?limit=1")
        try:
            api.wait_ready()
            began = time.monotonic()
            mixed, chains = mixed_workload(api, sample, args.filter_sets, rng)
            others = other_workloads(api, rng, args.rows, args.syncs)
            print(
                f"workloads built in {time.monotonic() - began:.0f}s: mixed {len(mixed)} URLs "
                f"({len(chains)} filter x sort x order chains, pages 1-3)",
                flush=True,
            )
            mixed_paths = [request.path for request in mixed]
            for label, paths in (("mixed", mixed_paths), *others.items()):
                warm(api, paths)
                results[label] = run_wrk(
                    wrk, label, api.url, lua_script(paths), len(set(paths)), args.duration
                )
            check = [(path, orjson.loads(api.get(path))["items"]) for path in mixed_paths[:40]]
        finally:
            api.stop()

        urls_file = LOG_DIR / "floor_urls.json"
        urls_file.write_text(json.dumps(mixed_paths))
        floor = Server(
            "query-api-floor", (sys.executable, str(HERE / "floor_app.py")),
            {**common, "FLOOR_URLS": str(urls_file)}, "/health",
        )  # fmt: skip
        try:
            floor.wait_ready()
            for path, items in check:
                # A page whose second step ran out of its time budget ends short: one of the two pages of
                # a URL may be a prefix of the other.
                theirs = orjson.loads(floor.get(path))["items"]
                shorter = min(len(theirs), len(items))
                assert theirs[:shorter] == items[:shorter], f"the floor serves another page: {path}"
            warm(floor, mixed_paths)
            script = lua_script(mixed_paths)
            results["floor"] = run_wrk(wrk, "floor", floor.url, script, len(set(mixed_paths)), args.duration)
            results["bare"] = run_wrk(wrk, "bare", floor.url, lua_script(["/health"]), 1, args.duration)
        finally:
            floor.stop()

        cli = None if args.no_peer else ensure_peer()
        if args.no_peer:
            print("peer skipped: --no-peer")
        if cli is not None:
            bodies = [(peer_body(*chain, limit=50), ids) for chain, ids in chains]
            usable = [(body, ids) for body, ids in bodies if body is not None]
            peer = start_peer(cli, database)
            try:
                wait_peer(peer, usable[0][0])
                for body, ids in usable:  # the API's first pages (campaign ids in order); warms it too
                    theirs = orjson.loads(peer.post("/graphql", body))
                    assert "errors" not in theirs, theirs["errors"]
                    served = [node["campaignId"] for node in theirs["data"]["allCampaigns"]["nodes"]]
                    # The API's page may end short at its walk's bound: a prefix of the peer's.
                    assert served[: len(ids)] == ids, f"the peer serves another page for {body.decode()}"
                results["peer"] = run_wrk(
                    wrk, "peer", peer.url, lua_script(["/graphql"], [body for body, _ in usable]),
                    len(usable), args.duration,
                )  # fmt: skip
            finally:
                peer.stop()
    finally:
        if not args.keep_db:
            asyncio.run(drop_database(server, name))

    labels = {
        "mixed": "mixed list (filters x sorts x orders x pages 1-3)",
        "syncs": "/api/syncs pages 1-3 and single syncs",
        "syncs_filtered": "/api/syncs by status, trigger, both: pages 1-3",
        "summary": "/api/metrics/summary (30-day ranges)",
        "campaign": "/api/campaigns/{id}",
        "trivial": "/health (no database; every middleware)",
        "floor": "floor: bare ASGI app, the mixed URLs",
        "bare": "floor: bare ASGI app, /health",
        "peer": f"peer: PostGraphile {PEER_VERSION}, the mixed first pages",
    }
    print(f"\nRESPONSE_CACHE_TTL_S=0 (every request queries PostgreSQL), {setup}:")
    for label, result in results.items():
        print(
            Result(labels[label], result.rps, result.p50_ms, result.p99_ms, result.errors, result.urls).line()
        )
    mixed_result, floor_result = results["mixed"], results["floor"]
    peer_ratio = f"{mixed_result.rps / results['peer'].rps:.2f}" if "peer" in results else "skipped"
    print(
        f"\nmixed_p99_ms={mixed_result.p99_ms:.1f} mixed_rps={mixed_result.rps:.0f} "
        f"mixed_vs_floor={mixed_result.rps / floor_result.rps:.2f} mixed_vs_peer={peer_ratio} "
        f"syncs_p99_ms={results['syncs'].p99_ms:.1f} "
        f"syncs_filtered_p99_ms={results['syncs_filtered'].p99_ms:.1f} "
        f"summary_p99_ms={results['summary'].p99_ms:.1f}"
    )


async def _sample(database: str) -> list[asyncpg.Record]:
    """Rows to draw filter values from (a fixed set: the same seed gives the same workload)."""
    connection = await asyncpg.connect(plain_dsn(database))
    try:
        return list(await connection.fetch("SELECT * FROM campaigns WHERE id % 997 = 0 ORDER BY id"))
    finally:
        await connection.close()


if __name__ == "__main__":
    main()
