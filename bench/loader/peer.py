"""The loader's peer: what a team without Demetra would run to load ``campaign.fetched`` into PostgreSQL.

Apache Kafka Connect (standalone worker) with the Debezium JDBC sink connector, reading JSON-with-schema
records (JsonConverter, ``schemas.enable=true``: the sink needs schema'd records, and Avro would need a
schema registry) and upserting them by ``campaign_id`` into ``campaigns`` of a private migrated database.

The jars come from Maven Central, fetched once with ``mvn`` into the cache the local stack uses
(DEMETRA_CACHE_DIR, default ~/.cache/demetra), at pinned versions: Connect's runtime and JsonConverter
through ``connect/pom.xml``, the sink as its official, self-contained Connect plugin archive (resolving the
connector jar's own dependencies with Maven does not work: its POM names a repository outside Maven
Central). ``runtime()`` raises ``PeerUnavailable`` with the reason when Java or Maven Central is missing.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import tarfile
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from process_stats import cpu_seconds, peak_rss_mb
from sqlalchemy import Double

from demetra_common.db import plain_dsn
from demetra_common.tables import CAMPAIGN_DATA_COLUMNS, CampaignRow
from demetra_testkit import free_port

HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("DEMETRA_CACHE_DIR", Path.home() / ".cache" / "demetra")).resolve()
CONNECT_VERSION = "4.1.1"
DEBEZIUM_JDBC_VERSION = "3.6.0.Final"
DEBEZIUM_JDBC_PLUGIN = f"io.debezium:debezium-connector-jdbc:{DEBEZIUM_JDBC_VERSION}:tar.gz:plugin"
MIN_JAVA = 17
# kafka-run-class.sh's defaults for Connect (connect-standalone.sh sets the heap): what a team gets.
JVM_OPTIONS = (
    "-Xms256M",
    "-Xmx2G",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
)
TABLE = "campaigns"


class PeerUnavailable(RuntimeError):
    """Why the peer phase cannot run on this machine; the rest of the benchmark runs without it."""


class PeerFailed(RuntimeError):
    """Connect started but did not load the rows; carries the tail of its log."""


# ---------------------------------------------------------------------------------------------- runtime


@dataclass(frozen=True)
class Runtime:
    java: str
    libs: Path  # Connect's classpath
    plugins: Path  # plugin.path, holding the unpacked Debezium JDBC sink


def runtime() -> Runtime:
    """Java, Connect's jars and the sink plugin, fetched into the cache on first use."""
    java = shutil.which("java")
    if java is None:
        raise PeerUnavailable(
            f"no java on PATH: Kafka Connect needs Java {MIN_JAVA}+ "
            "(apt-get install -y openjdk-17-jre-headless)"
        )
    version = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    found = re.search(r'version "(\d+)', version)
    if found is None or int(found.group(1)) < MIN_JAVA:
        raise PeerUnavailable(
            f"Kafka Connect {CONNECT_VERSION} needs Java {MIN_JAVA}+, found: {version[:80]!r}"
        )
    return Runtime(java, _connect_libs(), _sink_plugins())


def _connect_libs() -> Path:
    libs = CACHE / f"kafka-connect-{CONNECT_VERSION}" / "libs"
    if (libs.parent / ".complete").exists():
        return libs
    shutil.rmtree(libs, ignore_errors=True)
    libs.mkdir(parents=True)
    _mvn(
        f"Kafka Connect {CONNECT_VERSION} jars",
        "-f",
        str(HERE / "connect" / "pom.xml"),
        f"-Dkafka.version={CONNECT_VERSION}",
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={libs}",
    )
    (libs.parent / ".complete").write_text(CONNECT_VERSION)
    return libs


def _sink_plugins() -> Path:
    home = CACHE / f"debezium-connector-jdbc-{DEBEZIUM_JDBC_VERSION}"
    plugins = home / "plugins"
    if (home / ".complete").exists():
        return plugins
    shutil.rmtree(home, ignore_errors=True)
    download = home / "download"
    download.mkdir(parents=True)
    _mvn(
        f"the Debezium JDBC sink plugin {DEBEZIUM_JDBC_VERSION}",
        "dependency:copy",
        f"-Dartifact={DEBEZIUM_JDBC_PLUGIN}",
        f"-DoutputDirectory={download}",
    )
    for archive in download.glob("*.tar.gz"):
        with tarfile.open(archive) as tar:
            tar.extractall(plugins, filter="data")
    shutil.rmtree(download)
    (home / ".complete").write_text(DEBEZIUM_JDBC_VERSION)
    return plugins


def _mvn(what: str, *arguments: str) -> None:
    if shutil.which("mvn") is None:
        raise PeerUnavailable(
            f"Maven (mvn) is needed to fetch {what} from Maven Central: apt-get install -y maven"
        )
    print(f"  fetching {what} from Maven Central into {CACHE} (first run only)", flush=True)
    result = subprocess.run(
        ["mvn", "-q", "-B", "-Dstyle.color=never", *arguments], capture_output=True, text=True, cwd=HERE
    )
    if result.returncode != 0:
        output = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr).strip().splitlines()
        errors = [line for line in output if line.startswith("[ERROR]") and line[7:].strip()] or output[-1:]
        reason = errors[0][:400] if errors else f"exit code {result.returncode}"
        raise PeerUnavailable(f"mvn could not fetch {what} (is Maven Central reachable?): {reason}")


# ---------------------------------------------------------------------------------------------- records

# The value schema of JsonConverter's envelope, column by column (CAMPAIGN_DATA_COLUMNS order): Connect's
# logical types for date (days since epoch), cost (numeric(14,2) as Decimal: base64 of the unscaled
# big-endian integer, JsonConverter's default) and fetched_at (milliseconds since epoch).
_DATE = {"type": "int32", "name": "org.apache.kafka.connect.data.Date", "version": 1}
_DECIMAL = {
    "type": "bytes",
    "name": "org.apache.kafka.connect.data.Decimal",
    "version": 1,
    "parameters": {"scale": "2", "connect.decimal.precision": "14"},
}
_TIMESTAMP = {"type": "int64", "name": "org.apache.kafka.connect.data.Timestamp", "version": 1}
_FIELD_TYPES: dict[str, dict[str, Any]] = {
    "campaign_id": {"type": "string"},
    "channel": {"type": "string"},
    "name": {"type": "string"},
    "date": _DATE,
    "impressions": {"type": "int64"},
    "clicks": {"type": "int64"},
    "engagement": {"type": "int64"},
    "cost": _DECIMAL,
    "conversion_rate": {"type": "double"},
    "roi": {"type": "double"},
    "fetched_at": _TIMESTAMP,
    "sync_id": {"type": "string"},
}
_EPOCH_DAY = dt.date(1970, 1, 1)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _struct(name: str, columns: Sequence[str]) -> bytes:
    fields = [{"field": column, "optional": False, **_FIELD_TYPES[column]} for column in columns]
    return orjson.dumps({"type": "struct", "name": name, "optional": False, "fields": fields})


def connect_records(rows: Sequence[Sequence[Any]]) -> list[tuple[bytes, bytes]]:
    """Key and value of each row (in CAMPAIGN_DATA_COLUMNS order) as JsonConverter envelopes with schema."""
    assert set(_FIELD_TYPES) == set(CAMPAIGN_DATA_COLUMNS), "the Connect schema must cover every column"
    key_schema = _struct("demetra.campaign_fetched.Key", ["campaign_id"])
    value_schema = _struct("demetra.campaign_fetched.Value", CAMPAIGN_DATA_COLUMNS)
    out = []
    for row in rows:
        payload = dict(zip(CAMPAIGN_DATA_COLUMNS, row, strict=True))
        payload["date"] = (payload["date"] - _EPOCH_DAY).days
        payload["cost"] = _base64_unscaled(payload["cost"])
        payload["fetched_at"] = (payload["fetched_at"] - _EPOCH) // dt.timedelta(milliseconds=1)
        key = b'{"schema":%s,"payload":%s}' % (
            key_schema,
            orjson.dumps({"campaign_id": payload["campaign_id"]}),
        )
        value = b'{"schema":%s,"payload":%s}' % (value_schema, orjson.dumps(payload))
        out.append((key, value))
    return out


def _base64_unscaled(cost: Decimal) -> str:
    cents = cost.scaleb(2)
    assert cents == cents.to_integral_value(), f"cost {cost} has more than 2 decimals"
    number = int(cents)
    return base64.b64encode(number.to_bytes(number.bit_length() // 8 + 1, "big", signed=True)).decode()


@asynccontextmanager
async def peer_topic(bootstrap: str, name: str, partitions: int) -> AsyncIterator[str]:
    """The peer's own topic (the loader's carries the contract's JSON, the sink needs envelopes)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
        try:
            yield name
        finally:
            await admin.delete_topics([name])
    finally:
        await admin.close()


# ---------------------------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class PeerConfig:
    batch_size: int = 500  # the sink's default; the worker's consumer max.poll.records is set to match
    tasks: int = 1
    rewrite_batched_inserts: bool = False  # PostgreSQL JDBC driver: multi-row INSERTs of a JDBC batch
    unnest: bool = False  # the sink's dialect.postgres.unnest.insert.enabled: one INSERT ... UNNEST per batch

    @property
    def label(self) -> str:
        return (
            f"batch.size={self.batch_size} tasks.max={self.tasks} "
            f"reWriteBatchedInserts={str(self.rewrite_batched_inserts).lower()} "
            f"unnest={str(self.unnest).lower()}"
        )

    @property
    def short(self) -> str:
        """``5000x2 rewrite``: batch size x tasks and the flags, as ``parse`` reads them."""
        flags = ["rewrite"] * self.rewrite_batched_inserts + ["unnest"] * self.unnest
        return " ".join([f"{self.batch_size}x{self.tasks}", *flags])

    @classmethod
    def parse(cls, text: str) -> PeerConfig:
        """``BATCH,TASKS[,rewrite][,unnest]``, e.g. ``5000,2,rewrite``."""
        batch, tasks, *flags = text.split(",")
        unknown = set(flags) - {"rewrite", "unnest"}
        if unknown:
            raise ValueError(f"unknown peer flags {sorted(unknown)} in {text!r}: rewrite, unnest")
        return cls(int(batch), int(tasks), "rewrite" in flags, "unnest" in flags)


@dataclass
class PeerRun:
    msgs_s: float  # first row present to last row present
    second_half_msgs_s: float  # from half the rows present to the last: with the JIT warm
    from_task_msgs_s: float  # task RUNNING (REST status) to last row present
    startup_s: float  # JVM start to task RUNNING
    cpu_us_per_msg: float  # the JVM's own CPU (all threads), first to last row
    rss_mb: float


def _write_properties(path: Path, values: dict[str, object]) -> None:
    path.write_text("".join(f"{key}={value}\n" for key, value in values.items()))


def _log4j2(path: Path, log: Path) -> None:
    path.write_text(
        "status = warn\n"
        "appender.file.type = File\n"
        "appender.file.name = FILE\n"
        f"appender.file.fileName = {log}\n"
        "appender.file.layout.type = PatternLayout\n"
        "appender.file.layout.pattern = [%d] %p %m (%c)%n\n"
        "rootLogger.level = INFO\n"
        "rootLogger.appenderRef.file.ref = FILE\n"
    )


def _tasks_running(port: int, connector: str, tasks: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/connectors/{connector}/status", timeout=1) as r:
            status = json.load(r)
    except OSError:
        return False
    states = [task["state"] for task in status.get("tasks", [])]
    if "FAILED" in states:
        raise PeerFailed(f"a sink task failed: {status}")
    return len(states) == tasks and all(state == "RUNNING" for state in states)


async def run_peer(
    rt: Runtime,
    config: PeerConfig,
    *,
    bootstrap: str,
    topic: str,
    database_url: str,
    count: int,
    work_dir: Path,
    timeout_s: float | None = None,
) -> PeerRun:
    """Start a standalone worker with the sink on ``topic`` (a fresh consumer group, from the start) and
    time it until ``count`` rows are in ``campaigns`` of ``database_url``."""
    connector = f"peer-{uuid.uuid4().hex[:8]}"
    home = work_dir / connector
    home.mkdir(parents=True)
    port = free_port()
    dsn = plain_dsn(database_url)
    parts = urllib.parse.urlsplit(dsn)
    jdbc_url = f"jdbc:postgresql://{parts.hostname}:{parts.port or 5432}{parts.path}"
    if config.rewrite_batched_inserts:
        jdbc_url += "?reWriteBatchedInserts=true"
    _write_properties(
        home / "worker.properties",
        {
            "bootstrap.servers": bootstrap,
            "key.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "key.converter.schemas.enable": "true",
            "value.converter.schemas.enable": "true",
            "offset.storage.file.filename": home / "offsets",
            "plugin.path": rt.plugins,
            "plugin.discovery": "service_load",  # start-up ~3 s instead of ~6 s of classpath scanning
            "listeners": f"http://127.0.0.1:{port}",
            "consumer.max.poll.records": config.batch_size,
            # the loader's consumer fetches up to 8 MiB per partition too (Kafka's default is 1 MiB, about
            # 700 of these records: a put() would get fewer than batch.size, and the sink flushes each put)
            "consumer.max.partition.fetch.bytes": 8 * 1024 * 1024,
            "consumer.auto.offset.reset": "earliest",
        },
    )
    _write_properties(
        home / "sink.properties",
        {
            "name": connector,
            "connector.class": "io.debezium.connector.jdbc.JdbcSinkConnector",
            "tasks.max": config.tasks,
            "topics": topic,
            "connection.url": jdbc_url,
            "connection.username": parts.username,
            "connection.password": parts.password,
            "insert.mode": "upsert",
            "primary.key.mode": "record_key",
            "primary.key.fields": "campaign_id",
            "schema.evolution": "none",
            "collection.name.format": TABLE,
            "batch.size": config.batch_size,
            "dialect.postgres.unnest.insert.enabled": str(config.unnest).lower(),
        },
    )
    _log4j2(home / "log4j2.properties", home / "connect.log")
    connection = await asyncpg.connect(dsn)
    process = _launch(rt, home)

    def failed(why: str) -> PeerFailed:
        log = (home / "connect.log").read_text(errors="replace") if (home / "connect.log").exists() else ""
        errors = [line for line in log.splitlines() if " ERROR " in line][-5:]
        return PeerFailed(f"{why}; logs in {home}\n" + "\n".join(errors or log.splitlines()[-20:]))

    try:
        started = time.perf_counter()
        timeout_s = timeout_s or 120 + count / 2000  # start-up, then at least 2,000 rows/s
        deadline = started + timeout_s
        task_at = first_at = last_at = task_cpu = first_cpu = last_cpu = rss = 0.0
        first_count = half_count = 0
        half_at = 0.0
        while not last_at:
            if process.poll() is not None:
                raise failed(f"Connect exited with {process.returncode}")
            if time.perf_counter() > deadline:
                raise failed(f"{count} rows not loaded within {timeout_s:.0f}s")
            if not task_at:
                if await asyncio.to_thread(_tasks_running, port, connector, config.tasks):
                    task_at, task_cpu = time.perf_counter(), cpu_seconds(process.pid)
                else:
                    await asyncio.sleep(0.05)
                continue
            # max(id) is one index probe (identity values are handed out in insert order); count(*) only
            # once it says all rows may be there.
            top = await connection.fetchval(f"SELECT max(id) FROM {TABLE}")
            now = time.perf_counter()
            if top and not first_at:
                first_at, first_cpu = now, cpu_seconds(process.pid)
                first_count = await connection.fetchval(f"SELECT count(*) FROM {TABLE}")
            if top and not half_at and top >= count // 2:
                half_at, half_count = now, await connection.fetchval(f"SELECT count(*) FROM {TABLE}")
            if top and top >= count and await connection.fetchval(f"SELECT count(*) FROM {TABLE}") >= count:
                last_at, last_cpu, rss = (
                    time.perf_counter(),
                    cpu_seconds(process.pid),
                    peak_rss_mb(process.pid),
                )
            await asyncio.sleep(0.01)
    finally:
        await connection.close()
        await asyncio.to_thread(_stop, process)
    loaded = count - first_count
    if not loaded:  # everything came in the first batch seen (tiny runs): time it from the task start
        loaded, first_at, first_cpu = count, task_at, task_cpu
    return PeerRun(
        loaded / (last_at - first_at),
        (count - half_count) / (last_at - half_at) if half_count < count else float("nan"),
        count / (last_at - task_at),
        task_at - started,
        (last_cpu - first_cpu) / loaded * 1e6,
        rss,
    )


def _launch(rt: Runtime, home: Path) -> subprocess.Popen[bytes]:
    """The worker as connect-standalone.sh starts it, with the worker and the connector config files."""
    with (home / "stdout.log").open("wb") as stdout:
        return subprocess.Popen(
            [
                rt.java,
                *JVM_OPTIONS,
                f"-Dlog4j2.configurationFile={home / 'log4j2.properties'}",
                "-cp",
                f"{rt.libs}/*",
                "org.apache.kafka.connect.cli.ConnectStandalone",
                str(home / "worker.properties"),
                str(home / "sink.properties"),
            ],
            stdout=stdout,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def _stop(process: subprocess.Popen[bytes], grace_s: float = 30.0) -> None:
    if process.poll() is not None:
        return
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


# ---------------------------------------------------------------------------------------------- checking


async def table_fingerprint(database_url: str) -> tuple[object, ...]:
    """Row count, the sums of the integer and money columns, and an md5 over every row's data columns in
    campaign_id order: equal for two tables exactly when they hold the same campaigns (practically).

    Floating-point columns go in as ``column + 0``, which turns -0 into 0: JsonConverter reads JSON numbers
    as BigDecimal, which has no negative zero, so a campaign's ``roi`` of -0.0 reaches the peer's table as
    0 (equal as a number, not as text).
    """
    columns = ", ".join(
        f"({column} + 0)" if isinstance(CampaignRow.__table__.c[column].type, Double) else column
        for column in CAMPAIGN_DATA_COLUMNS
    )
    connection = await asyncpg.connect(plain_dsn(database_url))
    try:
        row = await connection.fetchrow(
            f"SELECT count(*), sum(impressions), sum(clicks), sum(engagement), sum(cost), "
            f"md5(string_agg(concat_ws('|', {columns}), E'\\n' ORDER BY campaign_id)) FROM {TABLE}"
        )
    finally:
        await connection.close()
    return tuple(row)
