"""The scheduler and an ingestor as the stack runs them (``python -m``), talking only through Kafka."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from aiokafka import ConsumerRecord

from demetra_common.contracts import ALL_CHANNELS, Channel, SyncEvent, SyncEventType, SyncRequested
from demetra_common.topics import Topics
from demetra_testkit import eventually, read_topic
from tests.mock_expectations import expected_channel

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

API_KEY = "ingest-flow-key"
SIZE = 25  # campaigns running per channel at any moment
LOOKBACK_DAYS = 1  # yesterday and today so far: one chunk of days, so one fetch.progress per channel


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def service(module: str, env: dict[str, str], log: Path) -> Iterator[str]:
    """Run ``python -m module`` on a free port; yields its base URL; SIGTERM at the end must exit cleanly."""
    port = free_port()
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", module],
            env={**os.environ, **env, "HTTP_PORT": str(port), "API_KEY": API_KEY},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield f"http://127.0.0.1:{port}"
        process.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught: -SIGTERM is a clean exit.
        assert process.wait(timeout=30) in (0, -signal.SIGTERM), f"{module} failed; see {log}"
        assert "Application shutdown complete" in log.read_text().rsplit("Started server process", 1)[-1]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


async def ready(client: httpx.AsyncClient, base: str) -> None:
    async def answers() -> bool:
        try:
            return (await client.get(f"{base}/ready")).status_code == 200
        except httpx.TransportError:
            return False

    await eventually(answers, timeout=60, interval=0.25, what=f"{base}/ready")


def events_of(records: Sequence[ConsumerRecord[bytes, bytes]], sync_id: str) -> list[SyncEvent]:
    events = (SyncEvent.model_validate_json(r.value or b"") for r in records)
    return [e for e in events if e.sync_id == sync_id]


async def test_scheduled_and_manual_syncs_flow_from_scheduler_through_the_ingestor(
    kafka_bootstrap: str, topics: Topics, service_env: dict[str, str], tmp_path: Path
) -> None:
    at = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=12)).replace(microsecond=0)
    scheduler_env = {**service_env, "SYNC_CRON": f"{at.second} {at.minute} {at.hour} * * *"}
    ingestor_env = {
        **service_env,
        "CHANNEL": "all",
        "MOCK_CAMPAIGNS_PER_CHANNEL": str(SIZE),
        "SYNC_LOOKBACK_DAYS": str(LOOKBACK_DAYS),
    }
    scheduled_id = at.strftime("sched-%Y%m%dT%H%M%SZ")

    with (
        service("demetra_ingestor", ingestor_env, tmp_path / "ingestor.log") as ingestor,
        service("demetra_scheduler", scheduler_env, tmp_path / "scheduler.log") as scheduler,
    ):
        async with httpx.AsyncClient(timeout=10) as client:
            await ready(client, ingestor)
            await ready(client, scheduler)

            accepted = await client.post(
                f"{scheduler}/api/scheduler/sync-now", headers={"X-API-Key": API_KEY}
            )
            assert accepted.status_code == 202
            manual_id = accepted.json()["sync_id"]

            # 12 events per sync (started, progress and completed for each channel), the manual one and the
            # scheduled one; the requests tell each sync's as-of (the manual one's request time, the slot).
            records = await read_topic(kafka_bootstrap, topics.sync_events, count=24, timeout=90)
            requests = await read_topic(kafka_bootstrap, topics.sync_requested, count=2, timeout=30)
            metrics = (await client.get(f"{ingestor}/metrics")).text

    as_of = {
        r.sync_id: r.as_of() for r in (SyncRequested.model_validate_json(x.value or b"") for x in requests)
    }
    published = 0
    for sync_id in (manual_id, scheduled_id):
        events = events_of(records, sync_id)
        expected = {
            channel: expected_channel(channel, as_of[sync_id], SIZE, LOOKBACK_DAYS)
            for channel in ALL_CHANNELS
        }
        started = {
            e.channel: (e.date_from, e.date_to) for e in events if e.type is SyncEventType.FETCH_STARTED
        }
        assert started == {channel: (e.date_from, e.date_to) for channel, e in expected.items()}, sync_id
        progress = {e.channel: (e.through, e.rows) for e in events if e.type is SyncEventType.FETCH_PROGRESS}
        assert progress == {channel: (e.date_to, e.rows) for channel, e in expected.items()}, sync_id
        completed = {e.channel: (e.count, e.rows) for e in events if e.type is SyncEventType.FETCH_COMPLETED}
        assert completed == {channel: (e.messages, e.rows) for channel, e in expected.items()}, sync_id
        published += expected[Channel.FACEBOOK].messages
    assert (
        'demetra_ingestor_messages_published_total{channel="facebook",topic="campaign.fetched"} '
        f"{float(published)}" in metrics
    ), metrics


async def test_a_stopped_scheduler_process_is_still_stopped_after_a_restart(
    kafka_bootstrap: str, topics: Topics, service_env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "scheduler.log"
    async with httpx.AsyncClient(timeout=10) as client:
        with service("demetra_scheduler", service_env, log) as scheduler:
            await ready(client, scheduler)
            stopped = await client.post(f"{scheduler}/api/scheduler/stop", headers={"X-API-Key": API_KEY})
            assert stopped.json()["status"] == "paused"

        with service("demetra_scheduler", service_env, log) as scheduler:
            await ready(client, scheduler)
            status = (await client.get(f"{scheduler}/api/scheduler/status")).json()
    assert status["status"] == "paused" and status["next_run_time"] is None
