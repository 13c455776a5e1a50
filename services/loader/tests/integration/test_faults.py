"""The loader run as production runs it (``python -m demetra_loader``), interrupted in the middle of large
loads: SIGTERM, SIGKILL, and its PostgreSQL stopped and started again. Every message must end up counted
exactly once and every campaign must hold its newest version."""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib.util
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from demetra_common.contracts import CampaignFetched, Channel
from demetra_common.db import plain_dsn
from demetra_common.topics import Topics
from demetra_migrations.migrate import upgrade
from demetra_testkit import ServiceProcess, eventually, free_port

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[4]
T0 = dt.datetime(2026, 11, 25, 14, tzinfo=dt.UTC)


@dataclass
class Workload:
    """Messages for several syncs and channels, with re-fetched campaigns and readable poison, plus what
    loading them must produce."""

    messages: list[tuple[bytes, bytes]]
    per_sync: Counter[tuple[str, str]]  # messages per (sync_id, channel): each is counted exactly once
    rejected: Counter[tuple[str, str]]
    newest: dict[str, tuple[dt.datetime, int]]  # campaign_id -> (fetched_at, impressions) of its newest


def workload(make_fetched: Any, campaigns_per_channel: int) -> Workload:
    messages: list[tuple[bytes, bytes]] = []
    per_sync: Counter[tuple[str, str]] = Counter()
    rejected: Counter[tuple[str, str]] = Counter()
    newest: dict[str, tuple[dt.datetime, int]] = {}

    def add(message: CampaignFetched, value: bytes | None = None) -> None:
        messages.append((message.campaign.campaign_id.encode(), value or message.model_dump_json().encode()))
        per_sync[(message.sync_id, message.channel.value)] += 1

    for hour, sync_id in enumerate(("sync-1", "sync-2", "sync-3")):
        fetched_at = T0 + dt.timedelta(hours=hour)
        for channel in Channel:
            # sync-2 re-fetches the first half with grown metrics; sync-3 repeats sync-2 exactly (same
            # fetched_at: unchanged) and adds new campaigns.
            ids = range(campaigns_per_channel // 2) if sync_id == "sync-2" else range(campaigns_per_channel)
            for i in ids:
                campaign_id = f"{channel.value}_{i:06d}"
                impressions = 1000 + 10 * min(hour, 1) + i
                at = T0 + dt.timedelta(hours=1) if sync_id == "sync-3" and i < len(ids) // 2 else fetched_at
                message = make_fetched(
                    campaign_id, sync_id=sync_id, channel=channel, fetched_at=at, impressions=impressions
                )
                add(message)
                if campaign_id not in newest or at > newest[campaign_id][0]:
                    newest[campaign_id] = (at, impressions)
            poison = make_fetched(f"{channel.value}_poison", sync_id=sync_id, channel=channel)
            add(poison, poison.model_dump_json().replace('"clicks":10', '"clicks":100000').encode())
            rejected[(sync_id, channel.value)] += 1
    return Workload(messages, per_sync, rejected, newest)


async def progress(db: asyncpg.Connection) -> int:
    """Messages applied so far (the loader's own offsets, committed with the rows)."""
    return int(await db.fetchval("SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets"))


async def assert_nothing_half_committed(load_counts: Any, db: asyncpg.Connection) -> None:
    """Every applied offset is counted in exactly one load event (all poison here names its sync)."""
    async with db.transaction(isolation="repeatable_read"):
        counted = sum(sum(c.values()) for c in (await load_counts(db)).values())
        assert counted == await progress(db)


async def assert_loaded_exactly_once(load_counts: Any, db: asyncpg.Connection, work: Workload) -> None:
    counts = await load_counts(db)
    assert {key: sum(c.values()) for key, c in counts.items()} == dict(work.per_sync)
    assert {key: c["rejected"] for key, c in counts.items() if c["rejected"]} == dict(work.rejected)
    assert sum(c["inserted"] for c in counts.values()) == len(work.newest)
    rows = await db.fetch("SELECT campaign_id, fetched_at, impressions FROM campaigns")
    assert {r["campaign_id"]: (r["fetched_at"], r["impressions"]) for r in rows} == work.newest


async def wait_for_progress(db: asyncpg.Connection, at_least: int, timeout: float = 60.0) -> int:
    async def reached() -> int:
        done = await progress(db)
        return done if done >= at_least else 0

    return await eventually(reached, timeout=timeout, interval=0.01, what=f"{at_least} messages applied")


def loader(env: dict[str, str], log_dir: Path, **overrides: str) -> ServiceProcess:
    settings = {"LOADER_BATCH_SIZE": "500", "LOADER_RETRY_MAX_S": "1", "LOG_LEVEL": "INFO", **overrides}
    return ServiceProcess("loader", "demetra_loader", {**env, **settings}, log_dir)


async def test_loader_stopped_then_killed_mid_load_counts_every_campaign_exactly_once(
    service_env: dict[str, str],
    topics: Topics,
    publish: Any,
    make_fetched: Any,
    db: asyncpg.Connection,
    tmp_path: Path,
    load_counts: Any,
) -> None:
    work = workload(make_fetched, campaigns_per_channel=5_000)  # 50k+ messages
    total = len(work.messages)
    await publish(topics.campaign_fetched, work.messages)

    first = loader(service_env, tmp_path).start()
    try:
        await wait_for_progress(db, total // 5)
        # SIGTERM; uvicorn exits through the signal again once shutdown is complete.
        assert await asyncio.to_thread(first.stop, timeout=30) in (0, -15), first.log_tail()
    finally:
        first.kill()
    assert "Application shutdown complete" in first.log_path.read_text()
    stopped_at = await progress(db)
    await assert_nothing_half_committed(load_counts, db)

    second = loader(service_env, tmp_path).start()
    try:
        await wait_for_progress(db, stopped_at + total // 5)
        second.kill()  # SIGKILL: no chance to finish anything
    finally:
        second.kill()
    killed_at = await progress(db)
    assert killed_at < total, "the load finished before the kill; make the workload larger"
    await assert_nothing_half_committed(load_counts, db)

    third = loader(service_env, tmp_path).start()
    try:
        await wait_for_progress(db, total)
    finally:
        third.stop()
    await assert_loaded_exactly_once(load_counts, db, work)


# ---------------------------------------------------------------------------------------------- PostgreSQL


def _stack() -> Any:
    """deploy/local/stack.py, for its PostgreSQL binaries and run-as-unprivileged-user helpers."""
    spec = importlib.util.spec_from_file_location(
        "demetra_local_stack", REPO / "deploy" / "local" / "stack.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class PrivatePostgres:
    """A PostgreSQL server of this test's own, which it may stop and start."""

    bindir: Path
    data: Path
    port: int
    run_as: dict[str, Any]

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://demetra@127.0.0.1:{self.port}/demetra"

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(
            [str(self.bindir / "pg_ctl"), "-D", str(self.data), "-w", *args],
            check=True,
            capture_output=True,
            **self.run_as,
        )

    def start(self) -> None:
        log = self.data.parent / "postgres.log"
        options = f"-h 127.0.0.1 -p {self.port} -c unix_socket_directories='' -c fsync=off"
        self._pg_ctl("-l", str(log), "-o", options, "start")

    def stop(self) -> None:
        """Immediate shutdown: connections are cut and in-flight transactions lost, as in a crash."""
        self._pg_ctl("-m", "immediate", "stop")


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    stack = _stack()
    bindir = stack.postgres_bin()
    run_as = stack._as_pg_user()
    home = Path(tempfile.mkdtemp(prefix="demetra-loader-pg-"))
    home.chmod(0o755)
    if run_as:  # root: PostgreSQL runs as an unprivileged user that must reach its files and binaries
        os.chown(home, pwd.getpwnam(run_as["user"]).pw_uid, -1)
        for path in (bindir, bindir.parent / "lib"):
            if path.exists():
                stack._make_traversable(path)
    server = PrivatePostgres(bindir, home / "data", free_port(), run_as)
    subprocess.run(
        [str(bindir / "initdb"), "-D", str(server.data), "-U", "demetra", "-A", "trust", "--no-sync"],
        check=True,
        capture_output=True,
        **run_as,
    )
    server.start()
    subprocess.run(
        [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(server.port), "-U", "demetra", "demetra"],
        check=True,
        capture_output=True,
    )
    upgrade(server.url)
    try:
        yield server
    finally:
        subprocess.run(
            [str(bindir / "pg_ctl"), "-D", str(server.data), "-m", "immediate", "stop"],
            capture_output=True,
            **run_as,
        )
        shutil.rmtree(home, ignore_errors=True)


async def test_postgresql_stopped_during_a_load_loses_nothing_and_the_loader_resumes_by_itself(
    kafka_bootstrap: str,
    topics: Topics,
    publish: Any,
    make_fetched: Any,
    private_postgres: PrivatePostgres,
    tmp_path: Path,
    load_counts: Any,
) -> None:
    work = workload(make_fetched, campaigns_per_channel=2_500)
    half = len(work.messages) // 2
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "KAFKA_TOPIC_PREFIX": topics.prefix,
        "DATABASE_URL": private_postgres.url,
        "ENVIRONMENT": "test",
        "LOG_FORMAT": "text",
    }
    await publish(topics.campaign_fetched, work.messages[:half])
    service = loader(env, tmp_path).start()

    async def connect() -> asyncpg.Connection:
        return await asyncpg.connect(plain_dsn(private_postgres.url))

    try:
        db = await connect()
        await wait_for_progress(db, half // 4)
        await db.close()
        private_postgres.stop()  # in the middle of the load

        await eventually(lambda: _ready(service, expect=503), what="/ready reports the database away")
        await publish(topics.campaign_fetched, work.messages[half:])  # more keeps arriving meanwhile
        await asyncio.to_thread(private_postgres.start)

        db = await connect()
        try:
            await wait_for_progress(db, len(work.messages))
            await eventually(lambda: _ready(service, expect=200), what="/ready recovers")
            assert service.process is not None and service.process.poll() is None, "the loader must not exit"
            await assert_loaded_exactly_once(load_counts, db, work)
        finally:
            await db.close()
    finally:
        service.stop()
    assert "retrying" in service.log_path.read_text()


async def _ready(service: ServiceProcess, *, expect: int) -> bool:
    import httpx

    async with httpx.AsyncClient(timeout=5) as client:
        try:
            return (await client.get(f"{service.url}/ready")).status_code == expect
        except httpx.TransportError:
            return False
