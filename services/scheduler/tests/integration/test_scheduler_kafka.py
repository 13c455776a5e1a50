"""The scheduler against the real broker: ticks become SyncRequested, control is durable."""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import pytest

from demetra_common.contracts import Channel, SyncRequested, Trigger, deterministic_event_id
from demetra_common.topics import Topics
from demetra_scheduler.app import create_app
from demetra_scheduler.cron import slot_sync_id
from demetra_scheduler.settings import SchedulerSettings
from demetra_testkit import eventually, read_topic

pytestmark = pytest.mark.timeout(120)

API_KEY = "scheduler-test-key"
AUTH = {"X-API-Key": API_KEY}


NO_NEARBY_SLOT_CRON = "0 0 29 2 *"  # 29 February, midnight: leap years only


@asynccontextmanager
async def scheduler(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A scheduler app running in this process; leaving the block is a (graceful) process exit."""
    # Unless a test is about the cron, use one with no slot near now: with the hourly default, a test run
    # in the first minutes of an hour would also see that hour's slot requested (missed-slot catch-up).
    overrides.setdefault("sync_cron", NO_NEARBY_SLOT_CRON)
    app = create_app(SchedulerSettings(_env_file=None, api_key=API_KEY, **overrides))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://scheduler") as client:
            yield client


def one_shot_cron(after_s: int = 3) -> tuple[str, dt.datetime]:
    """A 6-field cron that fires once, ``after_s`` seconds from now (and then a day later)."""
    at = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=after_s)).replace(microsecond=0)
    return f"{at.second} {at.minute} {at.hour} * * *", at


def requests(records: list[Any]) -> list[SyncRequested]:
    return [SyncRequested.model_validate_json(r.value) for r in records]


async def test_a_tick_puts_exactly_one_sync_requested_on_the_topic(
    kafka_bootstrap: str, topics: Topics, service_env: dict[str, str]
) -> None:
    cron, at = one_shot_cron()
    async with scheduler(sync_cron=cron):
        records = await read_topic(kafka_bootstrap, topics.sync_requested, count=1, idle_after=2.0)

    [record] = records
    [request] = requests(records)
    assert request.sync_id == slot_sync_id(at, seconds=True) == record.key.decode()
    assert request.event_id == deterministic_event_id("sync.requested", request.sync_id)
    assert (request.trigger, request.slot, request.channels) == (Trigger.SCHEDULE, at, list(Channel))


async def test_every_tick_of_a_per_second_cron_is_requested_once(
    kafka_bootstrap: str, topics: Topics, service_env: dict[str, str]
) -> None:
    async with scheduler(sync_cron="* * * * * *"):
        records = await read_topic(kafka_bootstrap, topics.sync_requested, count=3)
    slots = sorted(r.slot for r in requests(records) if r.slot)
    assert Counter(r.sync_id for r in requests(records)).most_common(1)[0][1] == 1
    assert all(b - a == dt.timedelta(seconds=1) for a, b in itertools.pairwise(slots))


async def test_two_instances_on_the_same_slot_yield_one_sync_id(
    kafka_bootstrap: str, topics: Topics, service_env: dict[str, str]
) -> None:
    cron, at = one_shot_cron()
    async with scheduler(sync_cron=cron), scheduler(sync_cron=cron):
        records = await read_topic(kafka_bootstrap, topics.sync_requested, count=1, idle_after=2.0)

    assert 1 <= len(records) <= 2  # both may publish; consumers see one sync, one event
    assert {r.key for r in records} == {slot_sync_id(at, seconds=True).encode()}
    assert len({r.value for r in records}) == 1


async def test_start_stop_and_status_need_the_key_for_writes_and_pause_survives_a_restart(
    kafka_bootstrap: str, topics: Topics, service_env: dict[str, str]
) -> None:
    async with scheduler() as client:
        status = (await client.get("/api/scheduler/status")).json()
        assert status["status"] == "running" and status["cron"] == NO_NEARBY_SLOT_CRON
        assert status["next_run_time"] and len(status["jobs"]) == 1

        for headers in ({}, {"X-API-Key": "wrong"}):
            for path in ("stop", "start", "sync-now"):
                assert (await client.post(f"/api/scheduler/{path}", headers=headers)).status_code == 401
        assert (await client.get("/api/scheduler/status")).json()["status"] == "running"

        stopped = await client.post("/api/scheduler/stop", headers=AUTH)
        assert stopped.status_code == 200
        assert stopped.json()["status"] == "paused" and stopped.json()["next_run_time"] is None

    async with scheduler() as client:  # a restart
        status = (await client.get("/api/scheduler/status")).json()
        assert status["status"] == "paused" and status["next_run_time"] is None
        started = await client.post("/api/scheduler/start", headers=AUTH)
        assert started.json()["status"] == "running" and started.json()["next_run_time"]

    async with scheduler() as client:
        assert (await client.get("/api/scheduler/status")).json()["status"] == "running"


async def test_a_paused_scheduler_requests_nothing_even_after_a_restart(
    kafka_bootstrap: str, topics: Topics, service_env: dict[str, str]
) -> None:
    async with scheduler(sync_cron="* * * * * *") as client:
        await read_topic(kafka_bootstrap, topics.sync_requested, count=1)
        await client.post("/api/scheduler/stop", headers=AUTH)
        before = await read_topic(kafka_bootstrap, topics.sync_requested, count=1, idle_after=1.5)

    async with scheduler(sync_cron="* * * * * *") as client:
        assert (await client.get("/api/scheduler/status")).json()["status"] == "paused"
        after = await read_topic(kafka_bootstrap, topics.sync_requested, count=len(before), idle_after=2.5)
    assert len(after) == len(before)


async def test_sync_now_answers_202_and_publishes_a_manual_request(
    kafka_bootstrap: str, topics: Topics, service_env: dict[str, str]
) -> None:
    async with scheduler() as client:
        await client.post("/api/scheduler/stop", headers=AUTH)  # manual syncs work while paused
        response = await client.post("/api/scheduler/sync-now", headers=AUTH, json={"channels": ["tiktok"]})
        everything = await client.post("/api/scheduler/sync-now", headers=AUTH)
        status = (await client.get("/api/scheduler/status")).json()
        invalid = await client.post("/api/scheduler/sync-now", headers=AUTH, json={"channels": ["myspace"]})

    assert response.status_code == everything.status_code == 202
    assert invalid.status_code == 422
    body = response.json()
    assert body["trigger"] == "manual" and body["channels"] == ["tiktok"]
    published = {
        r.sync_id: r for r in requests(await read_topic(kafka_bootstrap, topics.sync_requested, count=2))
    }
    tiktok, all_four = published[body["sync_id"]], published[everything.json()["sync_id"]]
    assert (tiktok.trigger, tiktok.channels) == (Trigger.MANUAL, [Channel.TIKTOK])
    assert all_four.channels == list(Channel)
    assert [t["sync_id"] for t in status["last_triggers"]] == [all_four.sync_id, tiktok.sync_id]


async def test_a_stop_sent_to_one_replica_pauses_the_other(
    kafka_bootstrap: str, topics: Topics, service_env: dict[str, str]
) -> None:
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(scheduler())
        second = await stack.enter_async_context(scheduler())
        await first.post("/api/scheduler/stop", headers=AUTH)

        async def second_paused() -> bool:
            return (await second.get("/api/scheduler/status")).json()["status"] == "paused"

        await eventually(second_paused, timeout=15, what="the other replica paused")


async def test_health_and_readiness(
    kafka_bootstrap: str, topics: Topics, service_env: dict[str, str]
) -> None:
    async with scheduler() as client:
        assert (await client.get("/health")).status_code == 200
        ready = await client.get("/ready")
        assert ready.status_code == 200 and ready.json()["checks"] == {"kafka": "ok"}
