"""Fixtures every test in the tree shares: a real Kafka and a real PostgreSQL, isolated per test.

Where they come from, in order:
1. ``KAFKA_BOOTSTRAP_SERVERS`` / ``DATABASE_URL`` when set;
2. testcontainers, when a Docker engine answers;
3. the local stack (``deploy/local/stack.py up --infra``), started if it is not running.

A browser: ``chromium_browser`` is one headless Chromium (Debian's, through Selenium) for the whole session.

Isolation: each test that asks for ``topics`` gets its own prefixed set of topics, and each test that asks
for ``database_url`` gets its own database cloned from a migrated template, so tests never see each
other's messages or rows. Both are made one test ahead and removed after the test on a thread of their own
(``demetra_testkit.AheadOfTime``): the servers do that work while tests run, not between them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from selenium.webdriver import Chrome
from sqlalchemy.engine import make_url

from demetra_common.db import asyncpg_url
from demetra_common.topics import Topics
from demetra_testkit import AheadOfTime, create_database, create_topics, delete_topics, drop_database
from demetra_testkit.browser import headless_chromium

REPO = Path(__file__).resolve().parent
# One template per test session: concurrent sessions on a shared server (and branches with different
# migrations) must not drop or reuse each other's template.
TEMPLATE_DB = f"demetra_test_template_{uuid.uuid4().hex[:8]}"


def _docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def _infrastructure() -> Iterator[tuple[str, str]]:
    """(kafka bootstrap, PostgreSQL server URL) for the whole session."""
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    database = os.environ.get("DATABASE_URL")
    if kafka and database:
        yield kafka, database
        return
    if os.environ.get("DEMETRA_TEST_INFRA", "auto") != "local" and _docker_answers():
        from testcontainers.community.kafka import KafkaContainer
        from testcontainers.community.postgres import PostgresContainer

        # testcontainers' KafkaContainer drives Confluent's image (its start script is Confluent-specific).
        kafka_image, postgres_image = "confluentinc/cp-kafka:7.9.0", "postgres:17.6"
        with KafkaContainer(kafka_image).with_kraft() as k, PostgresContainer(postgres_image) as pg:
            yield kafka or k.get_bootstrap_server(), database or pg.get_connection_url()
        return
    result = subprocess.run(
        [sys.executable, str(REPO / "deploy" / "local" / "stack.py"), "up", "--infra"],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.exit(f"could not start the local stack:\n{result.stdout}\n{result.stderr}", returncode=3)
    yield (
        kafka or "127.0.0.1:9092",
        database or "postgresql+asyncpg://demetra:demetra@127.0.0.1:5432/demetra",
    )


@pytest.fixture(scope="session")
def kafka_bootstrap(_infrastructure: tuple[str, str]) -> str:
    return _infrastructure[0]


@pytest.fixture(scope="session")
def postgres_server_url(_infrastructure: tuple[str, str]) -> str:
    """URL of the server's main database; tests should use ``database_url`` instead."""
    return asyncpg_url(_infrastructure[1])


@pytest.fixture(scope="session")
async def migrated_template(postgres_server_url: str) -> AsyncIterator[str]:
    """A database at the newest migration, cloned for each test; dropped at the end of the session."""
    await drop_database(postgres_server_url, TEMPLATE_DB)
    await create_database(postgres_server_url, TEMPLATE_DB, migrate=True)
    yield TEMPLATE_DB
    await drop_database(postgres_server_url, TEMPLATE_DB)


def _database_name() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def _databases(postgres_server_url: str, migrated_template: str) -> Iterator[AheadOfTime[str]]:
    """Clones of the template, each made while the test before it runs and dropped while the next runs."""

    async def clone() -> str:
        return await create_database(postgres_server_url, _database_name(), template=migrated_template)

    async def drop(url: str) -> None:
        await drop_database(postgres_server_url, str(make_url(url).database))

    databases = AheadOfTime(clone, drop, name="test-databases")
    yield databases
    databases.close()


@pytest.fixture
async def database_url(_databases: AheadOfTime[str]) -> AsyncIterator[str]:
    """A fresh database with the whole schema, dropped after the test (asyncpg SQLAlchemy URL)."""
    url = await _databases.take()
    try:
        yield url
    finally:
        _databases.give_back(url)


@pytest.fixture
async def empty_database_url(postgres_server_url: str) -> AsyncIterator[str]:
    """A fresh database with no schema at all (for migration tests)."""
    name = _database_name()
    try:
        yield await create_database(postgres_server_url, name)
    finally:
        await drop_database(postgres_server_url, name)


@pytest.fixture(scope="session")
def _topic_sets(kafka_bootstrap: str) -> Iterator[AheadOfTime[Topics]]:
    """Private topic sets, each created while the test before it runs and deleted while the next runs."""

    async def create() -> Topics:
        return await create_topics(kafka_bootstrap)

    async def delete(topics: Topics) -> None:
        await delete_topics(kafka_bootstrap, topics)

    topic_sets = AheadOfTime(create, delete, name="test-topics")
    yield topic_sets
    topic_sets.close()


@pytest.fixture
async def topics(_topic_sets: AheadOfTime[Topics]) -> AsyncIterator[Topics]:
    """A private set of every Demetra topic (same partition counts), deleted after the test."""
    isolated = await _topic_sets.take()
    try:
        yield isolated
    finally:
        _topic_sets.give_back(isolated)


@pytest.fixture
def service_env(
    kafka_bootstrap: str, database_url: str, topics: Topics, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Environment that points a service (in-process settings or a subprocess) at this test's infra."""
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "DATABASE_URL": database_url,
        "KAFKA_TOPIC_PREFIX": topics.prefix,
        "ENVIRONMENT": "test",
        "LOG_FORMAT": "text",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture(scope="session")
def chromium_browser() -> Iterator[Chrome]:
    """Headless Chromium shared by every browser test of the session (a start costs seconds); each test opens
    its own pages. ``demetra_testkit.browser.TerminalScreen`` reads pages that draw a terminal."""
    with headless_chromium() as driver:
        yield driver
