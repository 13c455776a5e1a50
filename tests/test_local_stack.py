"""The local stack (deploy/local/stack.py) is idempotent: a second `up` starts nothing new."""

import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from demetra_common.db import plain_dsn

REPO = Path(__file__).resolve().parents[1]
STACK = [sys.executable, str(REPO / "deploy" / "local" / "stack.py")]
STATE = Path(os.environ.get("DEMETRA_STATE_DIR", REPO / ".state")).resolve()

pytestmark = pytest.mark.skipif(
    "KAFKA_BOOTSTRAP_SERVERS" in os.environ or "DATABASE_URL" in os.environ,
    reason="the infrastructure is external; the local stack is not in use",
)


def _pids() -> tuple[str, str]:
    kafka = (STATE / "run" / "kafka.pid").read_text().strip()
    postgres = (STATE / "postgres" / "data" / "postmaster.pid").read_text().splitlines()[0]
    return kafka, postgres


def _brokers_of_this_stack() -> list[int]:
    """Processes running a broker on this stack's own config (other brokers on the machine are not ours)."""
    config = str(STATE / "kafka" / "server.properties").encode()
    brokers = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:  # the process ended while we looked
            continue
        if b"kafka.Kafka" in argv and config in argv:
            brokers.append(int(cmdline.parent.name))
    return brokers


def test_up_twice_leaves_one_broker_and_one_database(kafka_bootstrap: str, postgres_server_url: str) -> None:
    before = _pids()
    result = subprocess.run([*STACK, "up", "--infra"], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert "kafka: already running" in result.stdout
    assert "postgres: already running" in result.stdout
    assert _pids() == before
    assert _brokers_of_this_stack() == [int(before[0])], "the stack's pid file names its only broker"


def test_status_reports_both_running() -> None:
    result = subprocess.run([*STACK, "status"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    assert "running" in lines["kafka"]
    assert "running" in lines["postgres"]


async def test_postgres_runs_with_the_settings_of_the_stack(postgres_server_url: str) -> None:
    """The data directory's demetra.conf (PG_SETTINGS of stack.py, written at every start and included last
    by postgresql.conf) is what the server runs with."""
    written = (STATE / "postgres" / "data" / "demetra.conf").read_text().splitlines()
    settings = dict(line.split(" = ", 1) for line in written if line.strip())
    assert "shared_buffers" in settings
    connection = await asyncpg.connect(plain_dsn(postgres_server_url))
    try:
        for name, value in settings.items():
            running = await connection.fetchval("SELECT current_setting($1)", name)
            assert running == value.strip("'"), (name, running, value)
    finally:
        await connection.close()
