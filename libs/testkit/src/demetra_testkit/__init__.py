"""Helpers for tests and benchmarks: wait with a deadline, read a topic, run a service as a subprocess,
and private databases and topic sets on a shared server and cluster.

A development-only workspace member (never in a service image): every package's tests and benchmarks use
the same tools instead of sleeps.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from demetra_common.admin import ensure_topics
from demetra_common.db import asyncpg_url, plain_dsn
from demetra_common.settings import CommonSettings
from demetra_common.topics import Topics
from demetra_migrations.migrate import upgrade

T = TypeVar("T")
R = TypeVar("R")


async def eventually(
    check: Callable[[], Awaitable[T]],
    *,
    timeout: float = 30.0,
    interval: float = 0.1,
    what: str = "condition",
) -> T:
    """Poll ``check`` until it returns something truthy (which is returned) or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = await check()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not met within {timeout:.0f}s (last value: {last!r})")
        await asyncio.sleep(interval)


async def read_topic(
    bootstrap: str,
    topic: str,
    *,
    count: int,
    timeout: float = 30.0,
    idle_after: float | None = None,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Read ``topic`` from the beginning until ``count`` records arrived (AssertionError at ``timeout``).

    With ``idle_after``, keep reading after ``count`` until no record arrives for that many seconds, so a
    test can assert that nothing *more* than expected was published.
    """
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    deadline = time.monotonic() + timeout
    try:
        while len(records) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{topic}: {len(records)} of {count} records within {timeout:.0f}s")
            batch = await consumer.getmany(timeout_ms=int(min(remaining, 1.0) * 1000))
            for partition_records in batch.values():
                records.extend(partition_records)
        if idle_after:
            while batch := await consumer.getmany(timeout_ms=int(idle_after * 1000)):
                for partition_records in batch.values():
                    records.extend(partition_records)
    finally:
        await consumer.stop()
    return records


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class ServiceProcess:
    """One Demetra service run the way production runs it (``python -m demetra_<svc>``), as a subprocess.

    Logs go to ``log_dir/<name>.log``; ``start()`` waits for /health with a deadline and fails with the log's
    tail when the process dies or never answers.
    """

    name: str
    module: str
    env: dict[str, str]
    log_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    def start(self, *, timeout: float = 60.0) -> ServiceProcess:
        return self.launch().wait_healthy(timeout=timeout)

    def launch(self) -> ServiceProcess:
        """Start the process and return at once; ``wait_healthy`` waits for it to answer."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env, "HTTP_PORT": str(self.port), "HTTP_HOST": "127.0.0.1"}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        return self

    def wait_healthy(self, *, timeout: float = 60.0) -> ServiceProcess:
        """Until /health answers; AssertionError with the log's tail if the process dies or ``timeout``
        passes first."""
        if self.process is None:
            raise AssertionError(f"{self.name} was never launched")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            if self.healthy():
                return self
            time.sleep(0.1)
        raise AssertionError(f"{self.name} did not answer /health within {timeout:.0f}s:\n{self.log_tail()}")

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def stop(self, *, timeout: float = 30.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; returns the exit code."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to clean up."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


def database_url_named(url: str, name: str) -> str:
    """``url`` pointing at database ``name`` of the same server (driver and query kept)."""
    base, _, rest = url.rpartition("/")
    query = rest.partition("?")[2]
    return f"{base}/{name}" + (f"?{query}" if query else "")


async def _on_server(server_url: str, statement: str) -> None:
    """Run a statement on the server's maintenance database (CREATE / DROP DATABASE cannot run elsewhere)."""
    connection = await asyncpg.connect(database_url_named(plain_dsn(server_url), "postgres"), timeout=10)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def create_database(
    server_url: str, name: str, *, template: str | None = None, migrate: bool = False
) -> str:
    """Create database ``name`` (a copy of ``template`` if given, migrated to head if asked); its URL."""
    clause = f' TEMPLATE "{template}"' if template else ""
    await _on_server(server_url, f'CREATE DATABASE "{name}"{clause}')
    url = database_url_named(asyncpg_url(server_url), name)
    if migrate:
        await asyncio.to_thread(upgrade, url)
    return url


async def drop_database(server_url: str, name: str) -> None:
    await _on_server(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@asynccontextmanager
async def private_database(server_url: str, *, prefix: str = "t", migrate: bool = True) -> AsyncIterator[str]:
    """A database of its own on a shared server for the duration of the block, then dropped."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    url = await create_database(server_url, name, migrate=migrate)
    try:
        yield url
    finally:
        await drop_database(server_url, name)


async def create_topics(bootstrap: str, *, prefix: str = "t") -> Topics:
    """A new prefixed copy of every Demetra topic (same partitions and configs); ``delete_topics`` ends it."""
    topics = Topics(f"{prefix}{uuid.uuid4().hex[:10]}.")
    await ensure_topics(bootstrap, topics)
    return topics


async def delete_topics(bootstrap: str, topics: Topics) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics(list(topics.layout()))
    finally:
        await admin.close()


@asynccontextmanager
async def private_topics(bootstrap: str, *, prefix: str = "t") -> AsyncIterator[Topics]:
    """A prefixed copy of every Demetra topic (same partitions and configs), deleted after the block."""
    topics = await create_topics(bootstrap, prefix=prefix)
    try:
        yield topics
    finally:
        await delete_topics(bootstrap, topics)


class AheadOfTime(Generic[T]):
    """Per-test resources (a database, a topic set) made one test ahead and disposed of after it, both on a
    thread and event loop of their own: creating and dropping them waits on the server, which can do that
    while the current test runs instead of between tests.

    ``take()`` hands out the resource made ahead (waiting for it if it is not ready yet) and starts making
    the next; ``give_back()`` disposes of one in the background; ``close()`` waits for every disposal and
    disposes of what was made and never taken. An error making one is raised by the ``take()`` that gets it.
    """

    def __init__(
        self,
        make: Callable[[], Coroutine[Any, Any, T]],
        dispose: Callable[[T], Coroutine[Any, Any, None]],
        *,
        name: str = "ahead-of-time",
    ) -> None:
        self._make = make
        self._dispose = dispose
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._thread.start()
        self._next = self._submit(self._make())
        self._disposals: list[concurrent.futures.Future[None]] = []

    def _submit(self, work: Coroutine[Any, Any, R]) -> concurrent.futures.Future[R]:
        return asyncio.run_coroutine_threadsafe(work, self._loop)

    async def take(self) -> T:
        taken, self._next = self._next, self._submit(self._make())
        return await asyncio.wrap_future(taken)

    def give_back(self, resource: T) -> None:
        self._disposals = [d for d in self._disposals if not d.done() or d.exception() is not None]
        self._disposals.append(self._submit(self._dispose(resource)))

    def close(self) -> None:
        """Dispose of everything (errors of the disposals raised here, after all of them ran)."""
        try:
            with suppress(Exception):  # a resource that could not be made needs no disposal
                self.give_back(self._next.result())
            concurrent.futures.wait(self._disposals)
            for disposal in self._disposals:
                disposal.result()
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()


@dataclass(frozen=True)
class Service:
    """What ``ServiceGroup.start_all`` starts: a module (``demetra_<svc>``), its name, its own variables."""

    module: str
    name: str | None = None
    env: dict[str, str] = field(default_factory=dict)


class ServiceGroup:
    """The service processes of one test (or module), each its own process, started on demand by name and
    all stopped at the end (``close``), newest first; ``stop(name)`` ends one early (a restart reuses its
    name). ``start_all`` starts several side by side: a service's start is mostly its imports and its first
    connections, so they overlap instead of adding up."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.services: dict[str, ServiceProcess] = {}
        self._started: list[ServiceProcess] = []

    def start(self, module: str, name: str | None = None, **env: str) -> ServiceProcess:
        (service,) = self.start_all(Service(module, name, env))
        return service

    def start_all(self, *services: Service, timeout: float = 60.0) -> list[ServiceProcess]:
        """Launch every one of ``services``, then wait until each answers /health (one deadline for all)."""
        launched = []
        for spec in services:
            name = spec.name or f"{spec.module.removeprefix('demetra_')}-{len(self._started) + 1}"
            service = ServiceProcess(name, spec.module, env={**self.env, **spec.env}, log_dir=self.log_dir)
            self._started.append(service)
            launched.append(service.launch())
        deadline = time.monotonic() + timeout
        for service in launched:
            self.services[service.name] = service.wait_healthy(timeout=max(deadline - time.monotonic(), 1.0))
        return launched

    def stop(self, name: str) -> None:
        self.services.pop(name).stop()

    def close(self) -> None:
        for service in reversed(self._started):
            service.stop()  # a no-op for one already stopped


def pipeline_env(
    bootstrap: str, database_url: str, topics: Topics, *, api_key: str, **settings: str
) -> dict[str, str]:
    """The environment every service of one private pipeline shares (its cluster, database, topic set and
    API key), uncached and quiet as a benchmark wants it; ``settings`` add or override variables."""
    return {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "DATABASE_URL": database_url,
        "KAFKA_TOPIC_PREFIX": topics.prefix,
        "API_KEY": api_key,
        "SYNC_RATE_LIMIT": "1000/minute",
        "RESPONSE_CACHE_TTL_S": "0",
        "LOG_LEVEL": "WARNING",
        **settings,
    }


def make_engine(settings: CommonSettings, **options: object) -> AsyncEngine:
    """A SQLAlchemy engine for ORM work over ``tables.py``, as the original backend worked. No service runs
    on it (they use ``demetra_common.db.make_pool``): the ORM round-trip tests and the loader benchmark's
    baseline do."""
    return create_async_engine(
        asyncpg_url(settings.database_url),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_s,
        pool_pre_ping=True,
        pool_recycle=1800,
        **options,
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
