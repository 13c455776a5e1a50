"""Daily history: a 90-day backfill end to end, and reads over a year of history, in one run.

    uv run python bench/history/run.py [--campaigns 2000] [--backfill-days 90] [--history-days 365]
                                       [--duration 10] [--connections 16] [--replay-copies 3]
                                       [--replay-rounds 3]

1. **Backfill.** With private topics and a private migrated database (on the Kafka and PostgreSQL of
   KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL), the real services run as processes, as the e2e bench runs them:
   one ingestor per channel (MOCK_CAMPAIGNS_PER_CHANNEL=--campaigns), one loader, the query API.
   ``POST /api/syncs {"date_from": today - 89, "date_to": today}`` (4 channels x 2,000 campaigns x 90 days,
   ~720,000 daily rows), timed until ``GET /api/syncs/{id}`` reports ``completed``. From the sync's events:
   the ingestors' messages and daily rows per second (first fetch.started to last fetch.completed), the
   loader's daily rows per second (first to last load transaction: ``recorded_at`` of the load events is
   their transaction's start, so the last transaction's rows are left out of the numerator: the loader
   *contended*, sharing the cores with 4 ingestors producing), and checks rows_loaded == rows_fetched == the
   rows in campaign_daily. Then **the loader alone**: the backfill's loader and ingestors stopped, the
   backfill's campaign.fetched messages copied --replay-copies times over (3; each copy with campaign ids
   of its own) onto a topic set of their own, and per round (--replay-rounds, 3) a fresh loader (consumer
   groups of its own) into a fresh migrated database, timed from its first load commit to its last (its
   load events polled every 20 ms; the first transaction's rows left out); and, right after, its ceiling:
   the very rows it wrote, read back and COPYed (asyncpg ``copy_records_to_table``, one transaction) into
   the empty campaign_daily of another private database. ``backfill_loader_vs_ceiling`` = the loader
   alone's best round / the best COPY (the contended ratio is reported too). Then
   the services again and the same backfill again, as of the first one's moment (a SyncRequested of its own
   with the first one's ``requested_at``, on sync.requested): it must change nothing (inserted + updated ==
   0, restated == 0), even when the clock has passed an hour since (the mock's figures move by the hour).
2. **Reads over a year.** A third private database is seeded with --history-days of mock history
   (``demetra_mock.mock_campaign_days``, the ingestors' source, 4 x --campaigns, ~2.9M rows) by COPY, the
   campaigns rows derived from it in one INSERT ... SELECT, ANALYZEd, the summary view refreshed. The API
   runs as production does (HTTP_WORKERS=2, DB_POOL_SIZE=2, RESPONSE_CACHE_TTL_S=0: every request queries
   PostgreSQL) and wrk (-t2 -c16 -d10s --latency) replays two URL lists drawn with a fixed seed:
   **series** (a random channel's daily timeseries over a random 90-day window of the year) and **history**
   (a random campaign's history over a 90-day window around its days).

Prints a table and ends with one line:
``backfill_s=N backfill_rows=N backfill_loader_vs_ceiling=R series_p99_ms=N history_p99_ms=N ...``.
Everything it creates is deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib.util
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from demetra_common.contracts import ALL_CHANNELS, Channel, SyncRequested, Trigger
from demetra_common.db import asyncpg_url, plain_dsn
from demetra_common.tables import (
    CAMPAIGN_DAILY_METRICS,
    CAMPAIGN_DATA_COLUMNS,
    DAILY_CHANGE_MARKER,
    DAILY_COLUMNS,
    DAILY_PARTITIONS,
    CampaignDayRow,
    CampaignRow,
)
from demetra_common.topics import CAMPAIGN_FETCHED, PARTITIONS, Topics
from demetra_loader.repository import CAMPAIGN_TOTALS
from demetra_mock import mock_campaign_days
from demetra_testkit import ServiceProcess, eventually, pipeline_env, private_database, private_topics
from demetra_testkit.syncs import TimedSync, publish_request, sync_as_of, timed_sync, wait_finished

API_KEY = "bench-history-key"
SERVER_URL = asyncpg_url(
    os.environ.get("DATABASE_URL", "postgresql+asyncpg://demetra:demetra@127.0.0.1:5432/demetra")
)
BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
DAILY = CampaignDayRow.__tablename__
CAMPAIGNS = CampaignRow.__tablename__
SEED = 11  # the URL lists
SEED_SYNC_ID = "bench-history-seed"

WRK_SCRIPT = """
-- Replays a URL list (one path a line, already shuffled with a fixed seed); each thread from its own offset.
local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
function init(args)
  paths = {}
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  position = (id or 0) * math.floor(#paths / 2)
end
function request()
  position = position % #paths + 1
  return wrk.format("GET", paths[position])
end
"""


def ensure_wrk() -> str:
    """wrk, as bench/query_api/run.py finds it (and installs the Debian package when missing)."""
    path = Path(__file__).resolve().parents[1] / "query_api" / "run.py"
    spec = importlib.util.spec_from_file_location("bench_query_api_run", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return str(module.ensure_wrk())


def say(message: str = "") -> None:
    print(message, flush=True)


# ------------------------------------------------------------------------------------------ 1. backfill


@dataclass(frozen=True)
class Rates:
    fetch_s: float
    ingestor_msgs_s: float
    ingestor_rows_s: float
    load_s: float
    loader_rows_s: float
    load_transactions: int


async def sync_rates(connection: asyncpg.Connection, sync_id: str) -> Rates:
    """From the sync's events: the fetch (first fetch.started .. last fetch.completed, every channel) and the
    loader (first to last load transaction; the last one's rows are not in the numerator, since recorded_at is
    a transaction's start)."""
    fetch = await connection.fetchrow(
        "SELECT min(occurred_at) FILTER (WHERE type = 'fetch.started') AS started,"
        "       max(occurred_at) FILTER (WHERE type = 'fetch.completed') AS completed,"
        "       sum((payload->>'count')::bigint) FILTER (WHERE type = 'fetch.completed') AS messages,"
        "       sum((payload->>'rows')::bigint) FILTER (WHERE type = 'fetch.completed') AS rows"
        "  FROM events WHERE sync_id = $1",
        sync_id,
    )
    assert fetch is not None, f"no events for {sync_id}"
    fetch_s = (fetch["completed"] - fetch["started"]).total_seconds()
    loads = await load_rate(connection, sync_id)
    return Rates(
        fetch_s,
        int(fetch["messages"]) / fetch_s,
        int(fetch["rows"]) / fetch_s,
        loads.seconds,
        loads.rows_s,
        loads.transactions,
    )


@dataclass(frozen=True)
class LoadRate:
    seconds: float  # first to last load transaction
    rows_s: float
    transactions: int


async def load_rate(connection: asyncpg.Connection, sync_id: str) -> LoadRate:
    """The loader's daily rows per second for the sync, from its load events: first to last load transaction
    (``recorded_at`` is a transaction's start, so the last one's rows are not in the numerator)."""
    loads = await connection.fetch(
        "SELECT recorded_at, sum((payload->>'rows')::bigint) AS rows FROM events"
        " WHERE sync_id = $1 AND type = 'load' GROUP BY recorded_at ORDER BY recorded_at",
        sync_id,
    )
    assert loads, f"no load events for {sync_id}"
    seconds = (loads[-1]["recorded_at"] - loads[0]["recorded_at"]).total_seconds()
    loaded = sum(int(r["rows"]) for r in loads[:-1])
    return LoadRate(seconds, loaded / seconds if seconds > 0 else float("nan"), len(loads))


async def copy_ceiling(source_url: str, chunk: int = 250_000) -> tuple[int, float]:
    """The daily rows of ``source_url``, COPYed in one transaction into the empty campaign_daily of a fresh
    private database: (rows, rows/s). Read back ``chunk`` rows at a time (a replay's millions of rows do not
    fit in memory at once); only the COPYs and the commit are timed."""
    source = await asyncpg.connect(plain_dsn(source_url))
    try:
        months = await source.fetchrow(f"SELECT min(date) AS first, max(date) AS last FROM {DAILY}")
        assert months is not None
        async with private_database(SERVER_URL, prefix="bench_history_copy") as url:
            target = await asyncpg.connect(plain_dsn(url))
            try:
                for month in DAILY_PARTITIONS.months(months["first"], months["last"]):
                    await target.execute(DAILY_PARTITIONS.create_sql(month))
                copied, spent = 0, 0.0
                writing = target.transaction()
                await writing.start()
                async with source.transaction():
                    cursor = await source.cursor(f"SELECT {', '.join(DAILY_COLUMNS)} FROM {DAILY}")
                    while rows := await cursor.fetch(chunk):
                        began = time.perf_counter()
                        await target.copy_records_to_table(DAILY, records=rows, columns=DAILY_COLUMNS)
                        spent += time.perf_counter() - began
                        copied += len(rows)
                began = time.perf_counter()
                await writing.commit()
                spent += time.perf_counter() - began
                return copied, copied / spent
            finally:
                await target.close()
    finally:
        await source.close()


@dataclass(frozen=True)
class Replay:
    rows: int
    commits: int  # load transactions
    seconds: float  # first to last load commit seen
    rows_s: float
    cpu_s: float  # the loader's CPU time from its start to the last commit
    copy_rows_s: float  # the COPY ceiling of the same rows, measured right after

    @property
    def loader_vs_ceiling(self) -> float:
        return self.rows_s / self.copy_rows_s


LOADED = (
    "SELECT coalesce(sum((payload->>'rows')::bigint), 0), clock_timestamp() FROM events WHERE type = 'load'"
)


async def replay_messages(source: str, target: str, copies: int) -> int:
    """The backfill's campaign.fetched messages, ``copies`` times over, into ``target``: the first copy as
    they are, each other one with its campaign ids prefixed ``r<n>.`` (key and value; nothing else of the
    bytes changes), so that each copy writes rows of its own. Returns how many messages it produced."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=BOOTSTRAP,
        group_id=None,
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 << 20,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=BOOTSTRAP, acks="all", enable_idempotence=True, linger_ms=20, max_batch_size=1 << 20
    )
    await consumer.start()
    await producer.start()
    try:
        partitions = [TopicPartition(source, p) for p in range(PARTITIONS[CAMPAIGN_FETCHED])]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[tuple[bytes, bytes]] = []
        while len(records) < sum(ends.values()):  # nothing else writes to the backfill's topic now
            for batch in (await consumer.getmany(timeout_ms=1000)).values():
                records.extend((r.key or b"", r.value or b"") for r in batch)
        futures = []
        for copy in range(copies):
            mark = f"r{copy}.".encode() if copy else b""
            for key, value in records:
                renamed = value.replace(b'"campaign_id":"', b'"campaign_id":"' + mark, 1)
                futures.append(await producer.send(target, renamed, key=mark + key))
        await asyncio.gather(*futures)
        return len(futures)
    finally:
        await producer.stop()
        await consumer.stop()


async def replay(env: dict[str, str], logs: Path, rows: int, round_: int) -> Replay:
    """The loader alone on the replay's messages: a fresh loader (groups of its own, so it reads
    campaign.fetched from the start) into a fresh migrated database, nothing else running, timed from its
    first load commit to its last (seen by polling its load events every 20 ms: PostgreSQL's clock at
    both ends; the first transaction's rows are left out); then the COPY ceiling of the very rows it wrote."""
    async with private_database(SERVER_URL, prefix="bench_history_replay") as url:
        group = f"bench-history-replay-{os.getpid()}-{round_}"
        loader = ServiceProcess(
            "loader-replay",
            "demetra_loader",
            {
                **env,
                "DATABASE_URL": url,
                "LOADER_GROUP_ID": group,
                "LOADER_EVENTS_GROUP_ID": f"{group}.events",
            },
            logs,
        )
        connection = await asyncpg.connect(plain_dsn(url))
        try:
            await asyncio.to_thread(loader.start)
            try:
                first: tuple[int, dt.datetime] | None = None
                deadline = time.monotonic() + 600
                while True:
                    loaded, now = await connection.fetchrow(LOADED)
                    if loaded and first is None:
                        first = (int(loaded), now)
                    if loaded >= rows:
                        break
                    if time.monotonic() > deadline:
                        raise SystemExit(f"replay: {loaded} of {rows} rows loaded in 600 s")
                    await asyncio.sleep(0.02)
                cpu_s = cpu_seconds(loader)
            finally:
                loader.stop()
            assert first is not None
            seconds = (now - first[1]).total_seconds()
            stored = int(await connection.fetchval(f"SELECT count(*) FROM {DAILY}"))
            assert stored == rows == loaded, (stored, rows, loaded)
            commits = int(
                await connection.fetchval(
                    "SELECT count(DISTINCT recorded_at) FROM events WHERE type = 'load'"
                )
            )
        finally:
            await connection.close()
        copied, copy_rows_s = await copy_ceiling(url)
        assert copied == rows
        rows_s = (rows - first[0]) / seconds if seconds > 0 else float("nan")  # nan: all in one commit
        return Replay(rows, commits, seconds, rows_s, cpu_s, copy_rows_s)


async def sync_again(api_url: str, topics: Topics, first: TimedSync) -> TimedSync:
    """The same backfill again, as of the first one's moment (its ``requested_at``; the mock's figures are
    those of its hour slot), so that it must change nothing even when the clock has passed an hour since:
    a SyncRequested of its own on sync.requested, as anyone may publish one, timed to its status's end."""
    began = time.perf_counter()
    request = SyncRequested(
        sync_id=f"{first.sync_id}-again",
        requested_at=sync_as_of(first.status),
        trigger=Trigger.MANUAL,
        channels=list(ALL_CHANNELS),
        date_from=dt.date.fromisoformat(first.status["date_from"]),
        date_to=dt.date.fromisoformat(first.status["date_to"]),
    )
    await publish_request(BOOTSTRAP, topics, request)
    status = await wait_finished(api_url, request.sync_id, timeout=240, interval=0.05)
    assert status["status"] == "completed", f"sync {request.sync_id} ended {status['status']}: {status}"
    return TimedSync(request.sync_id, time.perf_counter() - began, status)


def cpu_seconds(service: ServiceProcess) -> float:
    """User + system CPU time of a service's process so far (Linux /proc)."""
    assert service.process is not None
    fields = Path(f"/proc/{service.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Backfill:
    first: TimedSync
    again: TimedSync
    rows: int
    rates: Rates
    replays: list[Replay]  # one per round
    cpu_s: dict[str, float]  # CPU seconds each kind of service spent over the first backfill

    @property
    def replay(self) -> Replay:
        """The fastest round of the loader alone."""
        return max(self.replays, key=lambda replay: replay.rows_s)

    @property
    def copy_rows_s(self) -> float:
        """The fastest COPY ceiling of the rounds (interference only ever slows a run down)."""
        return max(replay.copy_rows_s for replay in self.replays)

    @property
    def loader_vs_ceiling(self) -> float:
        """The loader alone (its best round) against the COPY of the same rows (its best round)."""
        return self.replay.rows_s / self.copy_rows_s

    @property
    def contended_vs_ceiling(self) -> float:
        """The loader during the backfill (sharing the 2 cores with 4 ingestors producing) against it."""
        return self.rates.loader_rows_s / self.copy_rows_s


async def backfill(campaigns: int, days: int, copies: int, rounds: int) -> Backfill:
    async with (
        private_topics(BOOTSTRAP, prefix="benchh") as topics,
        private_database(SERVER_URL, prefix="bench_history") as url,
    ):
        env = pipeline_env(BOOTSTRAP, url, topics, api_key=API_KEY, MOCK_CAMPAIGNS_PER_CHANNEL=str(campaigns))
        logs = Path(tempfile.mkdtemp(prefix="bench-history-"))
        say(f"services' logs: {logs}")
        services = [ServiceProcess("loader", "demetra_loader", env, logs)]
        services += [
            ServiceProcess(f"ingestor-{c.value}", "demetra_ingestor", {**env, "CHANNEL": c.value}, logs)
            for c in ALL_CHANNELS
        ]
        api = ServiceProcess("query-api", "demetra_query_api", env, logs)
        services.append(api)
        try:
            for service in services:
                service.start()
            today = dt.datetime.now(dt.UTC).date()
            request = {
                "date_from": (today - dt.timedelta(days=days - 1)).isoformat(),
                "date_to": today.isoformat(),
            }
            say(f"backfill {request['date_from']}..{request['date_to']}, {len(ALL_CHANNELS)} x {campaigns}")
            before = [cpu_seconds(service) for service in services]
            first = await timed_sync(api.url, API_KEY, request)
            cpu_s: dict[str, float] = {}
            for service, was in zip(services, before, strict=True):
                kind = service.name.split("-")[0]
                cpu_s[kind] = cpu_s.get(kind, 0.0) + cpu_seconds(service) - was
            counts = first.status["counts"]
            say(f"  completed in {first.seconds:.2f}s: {counts}")
            connection = await asyncpg.connect(plain_dsn(url))
            try:
                stored = int(await connection.fetchval(f"SELECT count(*) FROM {DAILY}"))
                rates = await sync_rates(connection, first.sync_id)
            finally:
                await connection.close()
            assert counts["rows_loaded"] == counts["rows_fetched"] == stored, (counts, stored)
            # The loader alone on the same messages: the backfill's loader and ingestors stopped (started
            # again for the re-run; the API stays).
            workers = [service for service in services if service is not api]
            for service in workers:
                service.stop()
            async with private_topics(BOOTSTRAP, prefix="benchr") as replay_topics:
                produced = await replay_messages(
                    topics.campaign_fetched, replay_topics.campaign_fetched, copies
                )
                say(
                    f"  replay: the backfill's messages {copies} times over ({produced:,} messages, "
                    f"{stored * copies:,} rows), {rounds} rounds"
                )
                replays = []
                for round_ in range(1, rounds + 1):
                    replay_env = {**env, "KAFKA_TOPIC_PREFIX": replay_topics.prefix}
                    replays.append(await replay(replay_env, logs, stored * copies, round_))
                    say(
                        f"  replay {round_}: a fresh loader alone: {replays[-1].rows_s:,.0f} rows/s "
                        f"({replays[-1].commits} tx, {replays[-1].seconds:.2f} s first..last commit); "
                        f"COPY ceiling {replays[-1].copy_rows_s:,.0f} rows/s"
                    )
            await asyncio.gather(*(asyncio.to_thread(service.start) for service in workers))
            again = await sync_again(api.url, topics, first)
            say(f"  again: completed in {again.seconds:.2f}s: {again.status['counts']}")
        finally:
            for service in services:
                service.stop()
        return Backfill(first, again, stored, rates, replays, cpu_s)


# ------------------------------------------------------------------------------------ 2. reads over a year


@dataclass(frozen=True)
class Seeded:
    first: dt.date
    last: dt.date
    rows: int
    campaigns: list[tuple[str, dt.date, dt.date]]  # campaign_id, first day, last day


def channel_rows(
    channel: Channel, as_of: dt.datetime, size: int, first: dt.date, last: dt.date
) -> tuple[list[tuple[Any, ...]], list[tuple[str, str, str]], list[tuple[str, dt.date, dt.date]]]:
    """A channel's daily rows (DAILY_COLUMNS), its campaigns' names and their first and last days."""
    rows: list[tuple[Any, ...]] = []
    names: list[tuple[str, str, str]] = []
    spans: list[tuple[str, dt.date, dt.date]] = []
    for campaign in mock_campaign_days(channel, as_of, size, first, last):
        if not campaign.days:
            continue
        names.append((campaign.campaign_id, campaign.name, SEED_SYNC_ID))
        spans.append((campaign.campaign_id, campaign.days[0].date, campaign.days[-1].date))
        rows.extend(
            (
                campaign.campaign_id,
                day.date,
                channel.value,
                day.impressions,
                day.clicks,
                day.engagement,
                Decimal(repr(day.cost)),
                day.conversions,
                day.revenue,
                as_of,
                SEED_SYNC_ID,
            )
            for day in campaign.days
        )
    return rows, names, spans


NAMES_TABLE = "CREATE TEMPORARY TABLE bench_names (campaign_id text PRIMARY KEY, name text, sync_id text)"
# campaigns derived from the daily rows with the loader's own expressions
DERIVE_CAMPAIGNS = (
    f"INSERT INTO {CAMPAIGNS} ({', '.join(CAMPAIGN_DATA_COLUMNS)}) "
    f"SELECT {', '.join(CAMPAIGN_TOTALS[c] for c in CAMPAIGN_DATA_COLUMNS)} "
    f"FROM {DAILY} d JOIN bench_names n USING (campaign_id) GROUP BY n.campaign_id, n.name, n.sync_id"
)


SUMMARY_STATE = (
    f"SELECT {DAILY_CHANGE_MARKER} = (SELECT change_marker FROM {CAMPAIGN_DAILY_METRICS.name} LIMIT 1)"
)
SUMMARY_REFRESHED = f"SELECT max(refreshed_at) FROM {CAMPAIGN_DAILY_METRICS.name}"


async def settle_summary(connection: asyncpg.Connection) -> None:
    """Refresh the summary view until its stored change marker matches the daily table's on two checks a
    second apart (PostgreSQL flushes a backend's table statistics at most once a second): else the API's
    refresher would refresh it again, over the whole year, while wrk runs."""
    agreed: list[bool] = []

    async def settled() -> bool:
        if await connection.fetchval(SUMMARY_STATE):
            agreed.append(True)
        else:
            agreed.clear()
            await connection.execute(CAMPAIGN_DAILY_METRICS.refresh_sql)
        return len(agreed) >= 2

    await eventually(settled, timeout=60, interval=1.1, what="the summary view matches the daily rows")


async def settle_storage(connection: asyncpg.Connection) -> None:
    """The seeded database as a year of history stands: vacuumed (every page all-visible, frozen) and
    analysed, its writes checkpointed. Rows COPYed seconds earlier are not: autovacuum then visits each
    partition (and campaigns, with its indexes) while wrk runs, each page's first write since the
    checkpoint is logged whole (data checksums), and the checkpoint that the COPY's WAL triggers writes it
    all back, all on the 2 cores the reads are measured on."""
    await connection.execute("VACUUM (FREEZE, ANALYZE)")
    await connection.execute("CHECKPOINT")


async def seed_year(url: str, size: int, days: int) -> Seeded:
    as_of = dt.datetime.now(dt.UTC)
    last = as_of.date()
    first = last - dt.timedelta(days=days - 1)
    connection = await asyncpg.connect(plain_dsn(url))
    try:
        for month in DAILY_PARTITIONS.months(first, last):
            await connection.execute(DAILY_PARTITIONS.create_sql(month))
        await connection.execute(NAMES_TABLE)
        spans: list[tuple[str, dt.date, dt.date]] = []
        copying: asyncio.Task[None] | None = None

        async def copy(rows: Sequence[tuple[Any, ...]], names: Sequence[tuple[str, str, str]]) -> None:
            await connection.copy_records_to_table(DAILY, records=rows, columns=DAILY_COLUMNS)
            await connection.copy_records_to_table("bench_names", records=names)

        began = time.perf_counter()
        for channel in ALL_CHANNELS:  # generate the next channel while the previous one is COPYed
            rows, names, channel_spans = await asyncio.to_thread(
                channel_rows, channel, as_of, size, first, last
            )
            spans.extend(channel_spans)
            if copying is not None:
                await copying
            copying = asyncio.create_task(copy(rows, names))
        assert copying is not None
        await copying
        copied_s = time.perf_counter() - began
        await connection.execute(DERIVE_CAMPAIGNS)
        await settle_summary(connection)
        settling = time.perf_counter()
        await settle_storage(connection)
        say(f"  vacuumed (freeze, analyze) and checkpointed in {time.perf_counter() - settling:.1f}s")
        stored = int(await connection.fetchval(f"SELECT count(*) FROM {DAILY}"))
        derived = int(await connection.fetchval(f"SELECT count(*) FROM {CAMPAIGNS}"))
        say(
            f"seeded {stored:,} daily rows of {derived:,} campaigns, {first}..{last} "
            f"(generated + COPYed in {copied_s:.1f}s, {time.perf_counter() - began:.1f}s in all)"
        )
        assert derived == len(spans)
        return Seeded(first, last, stored, spans)
    finally:
        await connection.close()


def window(rng: random.Random, seeded: Seeded, length: int, inside: tuple[dt.date, dt.date] | None) -> str:
    """``date_from=..&date_to=..`` of a ``length``-day window of the seeded year (around ``inside``)."""
    latest = seeded.last - dt.timedelta(days=length - 1)
    low, high = seeded.first, latest
    if inside is not None:  # a window that holds the campaign's days (they are at most 60)
        low = max(low, inside[1] - dt.timedelta(days=length - 1))
        high = max(low, min(high, inside[0]))
    start = low + dt.timedelta(days=rng.randint(0, (high - low).days))
    return f"date_from={start}&date_to={start + dt.timedelta(days=length - 1)}"


def url_lists(seeded: Seeded, count: int = 10_000, length: int = 90) -> dict[str, list[str]]:
    rng = random.Random(SEED)
    series = [
        f"/api/metrics/timeseries?channel={rng.choice(ALL_CHANNELS).value}&granularity=day&"
        + window(rng, seeded, length, None)
        for _ in range(count)
    ]
    history = []
    for _ in range(count):
        campaign_id, first, last = rng.choice(seeded.campaigns)
        history.append(f"/api/campaigns/{campaign_id}/history?" + window(rng, seeded, length, (first, last)))
    return {"series": series, "history": history}


@dataclass(frozen=True)
class Result:
    name: str
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int


LATENCY = re.compile(r"^\s*(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def run_wrk(wrk: str, name: str, base: str, urls: Path, args: argparse.Namespace) -> Result:
    script = urls.with_suffix(".lua")
    script.write_text(WRK_SCRIPT)
    command = [wrk, "-t2", f"-c{args.connections}", f"-d{args.duration}s", "--latency", "-s", str(script)]
    output = subprocess.run(
        [*command, base, "--", str(urls)], capture_output=True, text=True, check=True
    ).stdout
    found = re.search(r"(\d+) requests in", output)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    assert found and rps, output
    latencies = {pct: float(value) * UNIT_MS[unit] for pct, value, unit in LATENCY.findall(output)}
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return Result(
        name,
        int(found.group(1)),
        float(rps.group(1)),
        latencies["50"],
        latencies["99"],
        int(non_2xx.group(1)) if non_2xx else 0,
        sum(int(n) for n in errors.groups()) if errors else 0,
    )


async def check_urls(api: ServiceProcess, lists: dict[str, list[str]]) -> dict[str, float]:
    """A sample of each list answers 200 with data (and warms both workers' pools): the mean number of
    points or days per response."""
    sizes: dict[str, float] = {}
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as client:
        for name, urls in lists.items():
            counted = []
            for path in urls[:100]:
                response = await client.get(path)
                assert response.status_code == 200, (path, response.status_code, response.text[:300])
                body = response.json()
                counted.append(len(body["series"][0]["points"]) if name == "series" else len(body["days"]))
            assert min(counted) > 0, f"{name}: an empty response"
            sizes[name] = sum(counted) / len(counted)
    return sizes


async def refreshed_at(url: str) -> dt.datetime:
    connection = await asyncpg.connect(plain_dsn(url))
    try:
        when: dt.datetime = await connection.fetchval(SUMMARY_REFRESHED)
        return when
    finally:
        await connection.close()


@dataclass(frozen=True)
class Reads:
    seeded: Seeded
    sizes: dict[str, float]
    results: dict[str, Result]


async def reads(args: argparse.Namespace) -> Reads:
    wrk = ensure_wrk()
    async with private_database(SERVER_URL, prefix="bench_history_reads") as url:
        seeded = await seed_year(url, args.campaigns, args.history_days)
        lists = url_lists(seeded)
        folder = Path(tempfile.mkdtemp(prefix="bench-history-wrk-"))
        env = {
            "DATABASE_URL": url,
            "KAFKA_BOOTSTRAP_SERVERS": BOOTSTRAP,
            "KAFKA_TOPIC_PREFIX": f"bench-history-reads-{os.getpid()}.",
            "HTTP_WORKERS": "2",
            "RESPONSE_CACHE_TTL_S": "0",
            "DB_POOL_SIZE": "2",
            "DB_MAX_OVERFLOW": "0",
            "LOG_LEVEL": "WARNING",
            "LOG_FORMAT": "text",
        }
        refreshed = await refreshed_at(url)
        api = ServiceProcess("query-api-reads", "demetra_query_api", env, folder)
        try:
            await asyncio.to_thread(api.start, timeout=90)
            sizes = await check_urls(api, lists)
            results = {}
            for name, urls in lists.items():
                path = folder / f"{name}.txt"
                path.write_text("\n".join(urls) + "\n")
                results[name] = await asyncio.to_thread(run_wrk, wrk, name, api.url, path, args)
        finally:
            api.stop()
        if await refreshed_at(url) != refreshed:
            say("  NOTE: the API refreshed the summary view while it ran (the figures may include it)")
        return Reads(seeded, sizes, results)


# ------------------------------------------------------------------------------------------------- report


def table(rows: Sequence[tuple[str, str, str]]) -> None:
    say(f"  {'figure':<46} {'value':>16}  target / check")
    for name, value, target in rows:
        say(f"  {name:<46} {value:>16}  {target}")


def backfill_report(filled: Backfill) -> tuple[list[tuple[str, str, str]], list[str]]:
    """The backfill's rows of the table and its figures of the last line."""
    rates, again = filled.rates, filled.again.status["counts"]
    changed = again["inserted"] + again["updated"] + again["restated"]
    rows = [
        ("backfill: request -> completed", f"{filled.first.seconds:.2f} s", "<= 30 s"),
        ("backfill: daily rows (loaded = fetched = stored)", f"{filled.rows:,}", "~720,000"),
        ("backfill: messages", f"{filled.first.status['counts']['fetched']:,}", ""),
        ("ingestors: fetch span (first start..last end)", f"{rates.fetch_s:.2f} s", ""),
        ("ingestors: messages/s", f"{rates.ingestor_msgs_s:,.0f}", ""),
        ("ingestors: daily rows/s", f"{rates.ingestor_rows_s:,.0f}", ""),
        (
            f"loader in the backfill: rows/s ({rates.load_transactions} tx)",
            f"{rates.loader_rows_s:,.0f}",
            f"over {rates.load_s:.2f} s",
        ),
        *(
            (f"CPU over the backfill: {kind}", f"{seconds:.1f} s", f"of {filled.first.seconds:.1f} s wall")
            for kind, seconds in filled.cpu_s.items()
        ),
        (
            f"loader alone (replay, best of {len(filled.replays)}): daily rows/s",
            f"{filled.replay.rows_s:,.0f}",
            f"{filled.replay.rows:,} rows, {filled.replay.commits} tx, first..last commit "
            f"{filled.replay.seconds:.2f} s, {filled.replay.cpu_s:.1f} s CPU",
        ),
        (
            f"COPY ceiling (best of {len(filled.replays)}): daily rows/s",
            f"{filled.copy_rows_s:,.0f}",
            "same rows, empty table",
        ),
        ("loader alone / COPY ceiling", f"{filled.loader_vs_ceiling:.2f}", ">= 0.5"),
        ("loader in the backfill / COPY ceiling", f"{filled.contended_vs_ceiling:.2f}", "contended"),
        ("backfill again: request -> completed", f"{filled.again.seconds:.2f} s", ""),
        (
            "backfill again: inserted+updated, restated",
            f"{again['inserted'] + again['updated']}, {again['restated']}",
            "0, 0" + ("" if changed == 0 else "  CHANGED SOMETHING"),
        ),
    ]
    figures = [
        f"backfill_s={filled.first.seconds:.2f}",
        f"backfill_rows={filled.rows}",
        f"backfill_loader_vs_ceiling={filled.loader_vs_ceiling:.2f}",
        f"backfill_contended_vs_ceiling={filled.contended_vs_ceiling:.2f}",
        f"ingestor_msgs_s={rates.ingestor_msgs_s:.0f}",
        f"ingestor_rows_s={rates.ingestor_rows_s:.0f}",
        f"loader_rows_s={filled.replay.rows_s:.0f}",
        f"contended_loader_rows_s={rates.loader_rows_s:.0f}",
        f"copy_rows_s={filled.copy_rows_s:.0f}",
        f"backfill_again_s={filled.again.seconds:.2f}",
        f"backfill_again_changed={changed}",
        f"loader_cpu_s={filled.cpu_s['loader']:.1f}",
        f"ingestors_cpu_s={filled.cpu_s['ingestor']:.1f}",
    ]
    return rows, figures


def reads_report(read: Reads, connections: int) -> tuple[list[tuple[str, str, str]], list[str]]:
    """The reads' rows of the table and their figures of the last line."""
    rows = [("reads: daily rows seeded", f"{read.seeded.rows:,}", f"{read.seeded.first}..{read.seeded.last}")]
    for result in read.results.values():
        rows += [
            (
                f"{result.name}: p50 / p99 (c={connections})",
                f"{result.p50_ms:.2f} / {result.p99_ms:.2f} ms",
                "p99 <= 20 ms",
            ),
            (
                f"{result.name}: req/s ({read.sizes[result.name]:.0f} points/response)",
                f"{result.rps:,.0f}",
                f"{result.requests:,} requests, {result.non_2xx} non-2xx, "
                f"{result.socket_errors} socket errors",
            ),
        ]
    figures = [f"{name}_p99_ms={result.p99_ms:.2f}" for name, result in read.results.items()]
    figures += [f"{name}_rps={result.rps:.0f}" for name, result in read.results.items()]
    return rows, figures


# The figures the issue asks for lead the last line, in this order; the others follow.
LEADING = ("backfill_s", "backfill_rows", "backfill_loader_vs_ceiling", "series_p99_ms", "history_p99_ms")


def last_line(figures: list[str]) -> str:
    def rank(figure: str) -> int:
        name = figure.split("=", 1)[0]
        return LEADING.index(name) if name in LEADING else len(LEADING)

    return " ".join(sorted(figures, key=rank))  # sorted is stable: the others keep their order


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--campaigns", type=int, default=2_000, help="campaigns per channel")
    parser.add_argument("--backfill-days", type=int, default=90)
    parser.add_argument("--history-days", type=int, default=365)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument(
        "--replay-copies",
        type=int,
        default=3,
        help="the loader alone replays the backfill this many times over",
    )
    parser.add_argument(
        "--replay-rounds",
        type=int,
        default=3,
        help="the loader alone and its COPY ceiling: best of this many",
    )
    parser.add_argument(
        "--only",
        choices=("backfill", "reads"),
        help="run one part only (while iterating; its figures only)",
    )
    args = parser.parse_args()
    began = time.perf_counter()
    say(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")

    rows: list[tuple[str, str, str]] = []
    figures: list[str] = []
    problems: list[str] = []
    if args.only != "reads":
        filled = await backfill(args.campaigns, args.backfill_days, args.replay_copies, args.replay_rounds)
        part_rows, part_figures = backfill_report(filled)
        rows += part_rows
        figures += part_figures
        again = filled.again.status["counts"]
        if again["inserted"] + again["updated"] + again["restated"]:
            problems.append("the re-run changed rows")
    if args.only != "backfill":
        read = await reads(args)
        part_rows, part_figures = reads_report(read, args.connections)
        rows += part_rows
        figures += part_figures
        problems += [f"{r.name}: errors" for r in read.results.values() if r.non_2xx or r.socket_errors]
    say(f"\nhistory benchmark ({time.perf_counter() - began:.0f}s in all):")
    table(rows)
    say(last_line(figures))
    if problems:
        raise SystemExit(f"errors: {'; '.join(problems)}")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
