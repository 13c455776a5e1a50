"""Loader benchmark: how close the loader comes to what Kafka and PostgreSQL can do at all, in one run.

    uv run python bench/loader/run.py [--messages 200000] [--baseline-sample 2000] [--rounds 3]
                                      [--peer-config BATCH,TASKS[,rewrite][,unnest] ...] [--no-peer]
                                      [--loader-replicas 1,2]
    uv run python bench/loader/run.py --index-costs [--messages N] [--rounds R] [--only WORD ...]

With the messages already in a private, prefixed set of topics (realistic mock campaigns of four channels)
and a private migrated database on the server of DATABASE_URL, it measures:

(a) the loader, run as production runs it (``python -m demetra_loader``): messages per second from its first
    batch commit to its last (observed in consumer_offsets, which commits with the rows);
(b) two ceilings: a raw asyncpg COPY of the same rows, in one transaction, into a table shaped and indexed
    like ``campaigns``; and a bare aiokafka consume of the topic with orjson decoding of every value;
(c) a seed-style baseline: each message validated, checked for existence and inserted through the ORM, one
    transaction per message (on a sample, extrapolated);
(d) the peer (``peer.py``): Kafka Connect standalone with the Debezium JDBC sink, the same campaigns as
    JSON-with-schema records on a topic of their own, upserted into ``campaigns`` of a private migrated
    database; rows per second from the first row present to the last, for each ``--peer-config``; the
    table it leaves must hold exactly what the loader's holds. Skipped, saying why, without Java or Maven
    Central.

Each figure is the best of ``--rounds`` runs (3): the machine may be shared, and interference only ever
makes a run slower. The loader runs with its defaults; LOADER_* variables in the environment reach it. Each
round runs it as each of ``--loader-replicas`` (1,2): that many processes in one consumer group, sharing the
partitions (how production scales it out; the peer's counterpart is ``tasks.max``).
It ends with one line: loader_msgs_s ceiling_msgs_s loader_vs_ceiling loader_vs_baseline rss_mb (one
loader process against the ceilings; its peak resident memory), then loader_replicas peer_msgs_s
loader_vs_peer peer_rss_mb: the loader's fastest replica count against the peer's fastest config (when it
ran). Everything it creates is deleted at the end.

``--index-costs`` measures instead what each index of ``campaigns`` adds to a COPY of the same rows, alone and
in context, and the alternatives of ``index_costs.CANDIDATES`` (``index_costs.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import asyncpg
import index_costs
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from peer import (
    PeerConfig,
    PeerFailed,
    PeerRun,
    PeerUnavailable,
    connect_records,
    peer_topic,
    run_peer,
    runtime,
)
from peer import table_fingerprint as fingerprint
from process_stats import cpu_seconds, peak_rss_mb
from sqlalchemy import select

from demetra_common.contracts import CampaignDay, CampaignDaysFetched, CampaignFetched, Channel
from demetra_common.db import plain_dsn
from demetra_common.settings import CommonSettings
from demetra_common.tables import CAMPAIGN_DATA_COLUMNS, DAILY_COLUMNS, CampaignRow
from demetra_common.topics import CAMPAIGN_FETCHED, PARTITIONS
from demetra_loader.core.records import campaign_days, campaign_values
from demetra_loader.repository import CampaignValues, DailyValues
from demetra_mock import mock_campaigns
from demetra_testkit import ServiceProcess, make_engine, make_sessionmaker, private_database, private_topics

# The peer's configs by default: the sink's defaults, and its best measured tuning (batch.size 5000 with the
# consumer's max.poll.records, one task per core, the JDBC driver's multi-row rewrite). The other knobs
# measured on 2026-12-01 (5000x1 rewrite, the sink's own UNNEST insert) were slower; pass them with
# --peer-config to measure again.
PEER_CONFIGS = ("500,1", "5000,2,rewrite")

AS_OF = dt.datetime(2026, 11, 25, 14, tzinfo=dt.UTC)
SYNC_ID = "sched-20261125T1400Z"


def say(message: str) -> None:
    print(message, flush=True)


def messages(count: int) -> list[CampaignFetched]:
    per_channel = -(-count // len(Channel))
    out = [
        CampaignFetched(sync_id=SYNC_ID, channel=channel, fetched_at=AS_OF, campaign=campaign)
        for channel in Channel
        for campaign in mock_campaigns(channel, AS_OF, per_channel)
    ]
    return out[:count]


async def produce(bootstrap: str, topic: str, values: list[tuple[bytes, bytes]]) -> float:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=20, max_batch_size=1 << 20
    )
    await producer.start()
    began = time.perf_counter()
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in values]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return len(values) / (time.perf_counter() - began)


async def bare_consume(bootstrap: str, topic: str, count: int) -> float:
    """Ceiling 1: aiokafka reading the topic from the start, orjson-decoding every value."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    await consumer.start()
    seen = 0
    began: float | None = None
    try:
        while seen < count:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            if began is None and batch:
                began = time.perf_counter()
            for records in batch.values():
                for record in records:
                    orjson.loads(record.value)
                seen += len(records)
    finally:
        await consumer.stop()
    assert began is not None
    return count / (time.perf_counter() - began)


async def raw_copy(database_url: str, rows: list[CampaignValues]) -> float:
    """Ceiling 2: one COPY of every row, in one transaction, into a table indexed like campaigns."""
    connection = await asyncpg.connect(plain_dsn(database_url))
    try:
        await connection.execute("DROP TABLE IF EXISTS campaigns_copy")
        await connection.execute("CREATE TABLE campaigns_copy (LIKE campaigns INCLUDING ALL)")
        began = time.perf_counter()
        async with connection.transaction():
            await connection.copy_records_to_table(
                "campaigns_copy", records=rows, columns=CAMPAIGN_DATA_COLUMNS
            )
        return len(rows) / (time.perf_counter() - began)
    finally:
        await connection.close()


@dataclass
class LoaderRun:
    msgs_s: float  # first to last commit
    overall_msgs_s: float  # from process start
    cpu_us_per_msg: float  # the loader process's own CPU time, first to last commit
    rss_mb: float
    load_events: int


def loader_env(bootstrap: str, prefix: str, group: str, database_url: str) -> dict[str, str]:
    """The environment of the bench's loader processes: its defaults but for where to read and write."""
    return {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "KAFKA_TOPIC_PREFIX": prefix,
        "LOADER_GROUP_ID": group,
        "DATABASE_URL": database_url,
        "LOG_LEVEL": "WARNING",
        "LOG_FORMAT": "text",
        "ENVIRONMENT": "test",
    }


async def run_loader(
    env: dict[str, str], database_url: str, count: int, log_dir: Path, replicas: int = 1
) -> LoaderRun:
    """(a): the real loader, ``replicas`` processes of one consumer group (the partitions shared among them,
    as production scales it out), timed by their commits (consumer_offsets moves with the rows)."""
    connection = await asyncpg.connect(plain_dsn(database_url))
    services = [ServiceProcess(f"loader-{n}", "demetra_loader", env, log_dir) for n in range(replicas)]
    progress = "SELECT coalesce(sum(next_offset), 0)::bigint FROM consumer_offsets"

    def cpu() -> float:
        return sum(cpu_seconds(service.process.pid) for service in services if service.process is not None)

    try:
        started = time.perf_counter()
        starting = [asyncio.create_task(asyncio.to_thread(s.start, timeout=120)) for s in services]
        first_at = last_at = first_cpu = 0.0
        first_count = 0
        while True:
            done = await connection.fetchval(progress)
            now = time.perf_counter()
            if done and not first_at:
                first_at, first_count, first_cpu = now, done, cpu()
            if done >= count:
                last_at = now
                break
            for task in starting:
                if task.done() and (error := task.exception()):
                    raise error
            await asyncio.sleep(0.01)
        await asyncio.gather(*starting)
        used = cpu() - first_cpu
        rss = max(peak_rss_mb(service.process.pid) for service in services if service.process is not None)
        load_events = await connection.fetchval("SELECT count(*) FROM events WHERE type = 'load'")
        counted = await connection.fetchval(
            "SELECT sum((payload->>'inserted')::int + (payload->>'unchanged')::int) FROM events"
        )
        assert counted == count, f"the loader counted {counted} of {count}"
    finally:
        await asyncio.gather(*(asyncio.to_thread(service.stop) for service in services))
        await connection.close()
    loaded = count - first_count
    return LoaderRun(
        loaded / (last_at - first_at), count / (last_at - started), used / loaded * 1e6, rss, load_events
    )


async def orm_baseline(database_url: str, values: list[bytes]) -> float:
    """(c): what the original backend did per campaign: validate, look it up, add it, commit."""
    engine = make_engine(CommonSettings(_env_file=None, database_url=database_url))
    sessions = make_sessionmaker(engine)
    try:
        began = time.perf_counter()
        for value in values:
            message = CampaignFetched.model_validate_json(value)
            campaign = message.campaign
            async with sessions() as session:
                found = await session.scalar(
                    select(CampaignRow).where(CampaignRow.campaign_id == campaign.campaign_id)
                )
                if found is None:
                    session.add(
                        CampaignRow(
                            **campaign.model_dump(exclude={"channel"}),
                            channel=campaign.channel.value,
                            fetched_at=message.fetched_at,
                            sync_id=message.sync_id,
                        )
                    )
                    await session.commit()
        return len(values) / (time.perf_counter() - began)
    finally:
        await engine.dispose()


async def main(
    count: int, sample: int, rounds: int, peer_configs: list[PeerConfig], replica_counts: list[int]
) -> None:
    settings = CommonSettings()
    bootstrap = settings.kafka_bootstrap_servers
    server_url = settings.database_url
    log_dir = Path(tempfile.mkdtemp(prefix="bench-loader-"))
    say(f"loader benchmark: {count} campaign.fetched messages, {rounds} rounds, {os.cpu_count()} cores")
    peer_runtime = None
    if peer_configs:
        try:
            peer_runtime = await asyncio.to_thread(runtime)
        except PeerUnavailable as exc:
            say(f"  peer phase (Kafka Connect + Debezium JDBC sink) skipped: {exc}")
    async with (
        private_topics(bootstrap, prefix="bench") as topics,
        private_database(server_url, prefix="bench_ceiling") as ceiling_db,
        private_database(server_url, prefix="bench_baseline") as baseline_db,
        contextlib.AsyncExitStack() as stack,
    ):
        fetched = messages(count)
        values = [(m.campaign.campaign_id.encode(), m.model_dump_json().encode()) for m in fetched]
        rows = [campaign_values(message) for message in fetched]  # exactly what the loader writes
        produced = await produce(bootstrap, topics.campaign_fetched, values)
        size = sum(len(value) for _, value in values) / count
        say(f"  produced into {topics.campaign_fetched}: {produced:,.0f} msgs/s, {size:.0f} bytes each")
        if peer_runtime is not None:
            topic = f"{topics.campaign_fetched}.connect"
            await stack.enter_async_context(peer_topic(bootstrap, topic, PARTITIONS[CAMPAIGN_FETCHED]))
            records = connect_records(rows)
            produced = await produce(bootstrap, topic, records)
            size = sum(len(key) + len(value) for key, value in records) / count
            say(f"  produced into {topic}: {produced:,.0f} msgs/s, {size:.0f} bytes each (key and value)")
            del records
        if peer_runtime is not None:
            say(
                "  peer configs BATCHxTASKS: the sink's batch.size (and the consumer's max.poll.records) x "
                "tasks.max;\n    rewrite: reWriteBatchedInserts=true on the JDBC URL; unnest: "
                "dialect.postgres.unnest.insert.enabled=true;\n    peer rows/s: from the first row present "
                "to the last"
            )
        say(
            "  round   kafka consume+decode   COPY ceiling    loader 1st->last commit (from start)"
            "   loader CPU  load events"
        )

        kafka_rates: list[float] = []
        copy_rates: list[float] = []
        loader_runs: dict[int, list[LoaderRun]] = {replicas: [] for replicas in replica_counts}
        peer_runs: dict[PeerConfig, list[PeerRun]] = {config: [] for config in peer_configs}
        loaded: tuple[object, ...] | None = None  # the fingerprint of the loader's table
        peer_failures: list[str] = []
        for round_ in range(1, rounds + 1):
            kafka_rates.append(await bare_consume(bootstrap, topics.campaign_fetched, count))
            copy_rates.append(await raw_copy(ceiling_db, rows))
            for replicas, runs_of in loader_runs.items():
                async with private_database(server_url, prefix=f"bench_loader_{round_}") as loader_db:
                    # each round's group reads the topic from the start
                    env = loader_env(bootstrap, topics.prefix, f"loader-{round_}-x{replicas}", loader_db)
                    run = await run_loader(env, loader_db, count, log_dir, replicas)
                    if peer_runtime is not None:
                        this_round = await fingerprint(loader_db)
                        assert loaded in (None, this_round), (
                            f"the loader's table differs between rounds: {this_round}"
                        )
                        loaded = this_round
                runs_of.append(run)
                ceilings = (
                    f"{kafka_rates[-1]:>13,.0f} msgs/s   {copy_rates[-1]:>7,.0f} rows/s"
                    if replicas == replica_counts[0]
                    else f"{'loader x' + str(replicas):>34}"
                )
                say(
                    f"  {round_:>5}   {ceilings}   {run.msgs_s:>7,.0f} msgs/s "
                    f"({run.overall_msgs_s:>6,.0f} msgs/s)"
                    f"         {run.cpu_us_per_msg:>5.1f} us/msg  {run.load_events:>6}"
                )
            if peer_runtime is None:
                continue
            for config, runs in peer_runs.items():
                async with private_database(server_url, prefix=f"bench_peer_{round_}") as peer_db:
                    try:
                        peer = await run_peer(
                            peer_runtime,
                            config,
                            bootstrap=bootstrap,
                            topic=topic,
                            database_url=peer_db,
                            count=count,
                            work_dir=log_dir / "peer",
                        )
                    except PeerFailed as exc:
                        # no figure from it; the benchmark fails at the end, the other runs go on
                        peer_failures.append(f"round {round_}, peer {config.short}: {exc}")
                        say(f"  {round_:>5}   peer {config.short:<16} FAILED: {exc}")
                        continue
                    written = await fingerprint(peer_db)
                if written != loaded:
                    wrong = f"its table {written} is not the loader's {loaded}"
                    peer_failures.append(f"round {round_}, peer {config.short}: {wrong}")
                    say(f"  {round_:>5}   peer {config.short:<16} WRONG TABLE: {wrong}")
                    continue
                runs.append(peer)
                say(
                    f"  {round_:>5}   peer {config.short:<16} {peer.msgs_s:>7,.0f} rows/s "
                    f"({peer.from_task_msgs_s:>6,.0f} from task start, {peer.second_half_msgs_s:>6,.0f} "
                    f"2nd half)  JVM CPU {peer.cpu_us_per_msg:>5.1f} us/row  RSS {peer.rss_mb:>5,.0f} MB"
                    f"  start {peer.startup_s:.1f}s"
                )

        baseline = await orm_baseline(baseline_db, [value for _, value in values[:sample]])
        say(
            f"  baseline, ORM one message at a time ({sample} sampled): {baseline:,.0f} msgs/s "
            f"({count:,} would take {count / baseline / 60:.1f} min)"
        )
        kafka_ceiling, copy_ceiling = max(kafka_rates), max(copy_rates)
        # The loader's figures against the ceilings are of one process (one connection, like the COPY).
        one = replica_counts[0]
        loader = max(loader_runs[one], key=lambda run: run.msgs_s)
        ceiling = min(kafka_ceiling, copy_ceiling)
        rss = max(run.rss_mb for run in loader_runs[one])
        best_loaders = {n: max(runs, key=lambda run: run.msgs_s) for n, runs in loader_runs.items()}
        for replicas, best_loader in best_loaders.items():
            say(
                f"  best of {rounds}: loader x{replicas} {best_loader.msgs_s:,.0f} msgs/s (first to last "
                f"commit), CPU {best_loader.cpu_us_per_msg:.1f} us per message (all replicas), peak RSS "
                f"{max(run.rss_mb for run in loader_runs[replicas]):.0f} MB per replica"
            )
        say(
            f"  best of {rounds}: ceilings: bare aiokafka consume + orjson decode {kafka_ceiling:,.0f} msgs/s"
        )
        say(f"                         raw asyncpg COPY into indexed campaigns  {copy_ceiling:,.0f} rows/s")
        say(f"  loader peak RSS {rss:.0f} MB; loader CPU {loader.cpu_us_per_msg:.1f} us per message")
        say(
            f"  loader / lower ceiling = {loader.msgs_s / ceiling:.2f}; "
            f"loader / baseline = {loader.msgs_s / baseline:.1f}x"
        )
        line = (
            f"loader_msgs_s={loader.msgs_s:.0f} ceiling_msgs_s={ceiling:.0f} "
            f"loader_vs_ceiling={loader.msgs_s / ceiling:.2f} "
            f"loader_vs_baseline={loader.msgs_s / baseline:.1f} rss_mb={rss:.0f}"
        )
        if peer_runtime is not None and any(peer_runs.values()):
            ran = {config: runs for config, runs in peer_runs.items() if runs}
            best = {config: max(runs, key=lambda run: run.msgs_s) for config, runs in ran.items()}
            for config, peer in best.items():
                say(
                    f"  best of {rounds}: peer {config.label}: {peer.msgs_s:,.0f} rows/s, "
                    f"JVM CPU {peer.cpu_us_per_msg:.1f} us per row, peak RSS "
                    f"{max(run.rss_mb for run in peer_runs[config]):,.0f} MB"
                )
            fastest = max(best, key=lambda config: best[config].msgs_s)
            peer, peer_rss = best[fastest], max(run.rss_mb for run in peer_runs[fastest])
            # against the peer: each side's fastest way to run (the peer's tasks.max, the loader's replicas)
            replicas = max(best_loaders, key=lambda n: best_loaders[n].msgs_s)
            ours = best_loaders[replicas]
            ours_rss = max(run.rss_mb for run in loader_runs[replicas]) * replicas
            say(
                f"  loader / peer = {ours.msgs_s / peer.msgs_s:.2f} (the loader's fastest: {replicas} "
                f"replica(s), {loader.msgs_s / peer.msgs_s:.2f} with {one}; the peer's: {fastest.label}); "
                f"CPU {ours.cpu_us_per_msg:.1f} vs {peer.cpu_us_per_msg:.1f} us per message, "
                f"RSS {ours_rss:.0f} vs {peer_rss:,.0f} MB; "
                "both tables equal (count, sums, md5 of every row)"
            )
            line += (
                f" loader_replicas={replicas} peer_msgs_s={peer.msgs_s:.0f}"
                f" loader_vs_peer={ours.msgs_s / peer.msgs_s:.2f} peer_rss_mb={peer_rss:.0f}"
            )
        print(line)
        if peer_failures:
            raise SystemExit("peer runs failed (left out of the figures):\n  " + "\n  ".join(peer_failures))


# ------------------------------------------------------------------------------ --daily: schema-2 rows


def daily_messages(campaigns: int, days: int) -> list[CampaignDaysFetched]:
    """A backfill's messages: ``campaigns`` per channel, each with ``days`` days ending on AS_OF's day,
    with mock campaigns' names and plausible, seeded metrics."""
    rng = random.Random(11)
    first = AS_OF.date() - dt.timedelta(days=days - 1)
    out = []
    for channel in Channel:
        for campaign in mock_campaigns(channel, AS_OF, campaigns):
            series = []
            for n in range(days):
                impressions = rng.randint(2_000, 60_000)
                clicks = rng.randint(10, impressions // 40)
                conversions = round(clicks * rng.uniform(0.01, 0.08), 2)
                series.append(
                    CampaignDay(
                        date=first + dt.timedelta(days=n),
                        impressions=impressions,
                        clicks=clicks,
                        engagement=rng.randint(0, clicks * 3),
                        cost=round(clicks * rng.uniform(0.3, 2.5), 2),
                        conversions=conversions,
                        revenue=round(conversions * rng.uniform(20, 90), 2),
                    )
                )
            out.append(
                CampaignDaysFetched(
                    sync_id=SYNC_ID,
                    channel=channel,
                    fetched_at=AS_OF,
                    campaign_id=campaign.campaign_id,
                    name=campaign.name,
                    days=series,
                )
            )
    return out


async def raw_daily_copy(database_url: str, rows: list[DailyValues]) -> float:
    """The ceiling on daily rows: one COPY of every row (asyncpg's ``copy_records_to_table``, the cost as the
    Decimal of its shortest repr, as the table gives it back), in one transaction, into campaign_daily itself
    (partitioned by month, with its primary key and index) of a fresh migrated database."""
    records = [(*row[:6], Decimal(repr(row[6])), *row[7:]) for row in rows]
    connection = await asyncpg.connect(plain_dsn(database_url))
    try:
        began = time.perf_counter()
        async with connection.transaction():
            await connection.copy_records_to_table("campaign_daily", records=records, columns=DAILY_COLUMNS)
        return len(records) / (time.perf_counter() - began)
    finally:
        await connection.close()


async def daily_main(campaigns: int, days: int, rounds: int) -> None:
    """The loader on schema-2 messages (a backfill: every row new) against a raw COPY of the same rows."""
    settings = CommonSettings()
    bootstrap, server_url = settings.kafka_bootstrap_servers, settings.database_url
    log_dir = Path(tempfile.mkdtemp(prefix="bench-loader-daily-"))
    fetched = daily_messages(campaigns, days)
    count = len(fetched)
    rows = [row for message in fetched for row in campaign_days(message).rows]  # what it writes
    say(
        f"loader benchmark, daily rows: {count} CampaignDaysFetched x {days} days = {len(rows):,} rows, "
        f"{rounds} rounds, {os.cpu_count()} cores"
    )
    async with private_topics(bootstrap, prefix="benchd") as topics:
        values = [(m.campaign_id.encode(), m.model_dump_json().encode()) for m in fetched]
        produced = await produce(bootstrap, topics.campaign_fetched, values)
        size = sum(len(value) for _, value in values) / count
        say(f"  produced: {produced:,.0f} msgs/s, {size:,.0f} bytes each")
        say("  round   COPY ceiling      loader 1st->last commit (from start)   loader CPU")
        copy_rates: list[float] = []
        loader_rates: list[float] = []
        for round_ in range(1, rounds + 1):
            async with private_database(server_url, prefix=f"bench_daily_copy_{round_}") as copy_db:
                copy_rates.append(await raw_daily_copy(copy_db, rows))
            async with private_database(server_url, prefix=f"bench_daily_{round_}") as loader_db:
                env = loader_env(bootstrap, topics.prefix, f"loader-daily-{round_}", loader_db)
                run = await run_loader(env, loader_db, count, log_dir)
                connection = await asyncpg.connect(plain_dsn(loader_db))
                try:
                    stored = await connection.fetchval("SELECT count(*) FROM campaign_daily")
                finally:
                    await connection.close()
                assert stored == len(rows), f"campaign_daily holds {stored} of {len(rows)} rows"
            loader_rates.append(run.msgs_s * days)
            say(
                f"  {round_:>5}   {copy_rates[-1]:>8,.0f} rows/s   {loader_rates[-1]:>8,.0f} rows/s"
                f" ({run.overall_msgs_s * days:>8,.0f} rows/s)"
                f"        {run.cpu_us_per_msg / days:>5.2f} us/row"
            )
    loader, ceiling = max(loader_rates), max(copy_rates)
    print(
        f"loader_daily_rows_s={loader:.0f} copy_daily_rows_s={ceiling:.0f} "
        f"loader_vs_copy={loader / ceiling:.2f} rows={len(rows)}"
    )


async def index_costs_main(count: int, rounds: int, only: list[str]) -> None:
    """--index-costs: what each index of campaigns adds to a COPY of the bench's rows (index_costs.py)."""
    settings = CommonSettings()
    rows = [campaign_values(message) for message in messages(count)]
    say(f"index costs: COPY of {count:,} campaign rows into a copy of campaigns, best of {rounds} rounds")
    async with private_database(settings.database_url, prefix="bench_index_costs") as database:
        costs = await index_costs.measure(database, rows, rounds, only)
    say(f"  {'variant':<40} {'rows/s':>9} {'wall us/row':>11} {'CPU us/row':>10} {'index MiB':>9}  of table")
    for cost in costs:
        say(
            f"  {cost.label:<40} {cost.rows_s:>9,.0f} {cost.us_per_row:>11.2f} {cost.cpu_us_per_row:>10.2f}"
            f" {cost.index_mb:>9.1f}  {cost.index_mb / cost.table_mb:.2f}x {cost.table_mb:.1f} MiB"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--baseline-sample", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=3, help="each figure is the best of this many runs")
    parser.add_argument(
        "--peer-config",
        action="append",
        type=PeerConfig.parse,
        help="sink batch.size (and max.poll.records), tasks.max, flags rewrite (reWriteBatchedInserts) and "
        f"unnest (dialect.postgres.unnest.insert.enabled); repeatable; default {' '.join(PEER_CONFIGS)}",
    )
    parser.add_argument("--no-peer", action="store_true", help="skip the Kafka Connect peer")
    parser.add_argument(
        "--loader-replicas",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1, 2],
        help="loader processes of one consumer group, each count run every round (default 1,2); the first "
        "is the one compared with the ceilings",
    )
    parser.add_argument(
        "--daily",
        action="store_true",
        help="instead: the loader on schema-2 messages (CAMPAIGNS per channel x DAYS days) vs a raw COPY",
    )
    parser.add_argument("--campaigns", type=int, default=2_000, help="with --daily: campaigns per channel")
    parser.add_argument("--days", type=int, default=90, help="with --daily: days per message")
    parser.add_argument(
        "--index-costs",
        action="store_true",
        help="instead: the cost per row of each index of campaigns and of the alternatives (index_costs.py)",
    )
    parser.add_argument(
        "--only", action="append", default=[], help="with --index-costs: variants whose label contains this"
    )
    arguments = parser.parse_args()
    if arguments.index_costs:
        sys.exit(asyncio.run(index_costs_main(arguments.messages, arguments.rounds, arguments.only)))
    if arguments.daily:
        sys.exit(asyncio.run(daily_main(arguments.campaigns, arguments.days, arguments.rounds)))
    configs = (
        [] if arguments.no_peer else arguments.peer_config or [PeerConfig.parse(c) for c in PEER_CONFIGS]
    )
    sys.exit(
        asyncio.run(
            main(
                arguments.messages,
                arguments.baseline_sample,
                arguments.rounds,
                configs,
                arguments.loader_replicas,
            )
        )
    )
