"""The control API's edges with a fake core: auth, status codes, error mapping. No Kafka."""

from __future__ import annotations

import httpx
from aiokafka.errors import KafkaTimeoutError

from demetra_scheduler.app import create_app
from demetra_scheduler.settings import SchedulerSettings

KEY = {"X-API-Key": "unit-key"}


class UnreachableKafka:
    async def pause(self) -> None:
        raise KafkaTimeoutError()

    async def sync_now(self, channels: object = None) -> None:
        raise TimeoutError("metadata not available")


def client_for(service: object | None) -> httpx.AsyncClient:
    app = create_app(SchedulerSettings(_env_file=None, api_key="unit-key"))  # lifespan not run
    if service is not None:
        app.state.scheduler = service
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://scheduler")


async def test_a_write_kafka_did_not_acknowledge_answers_503() -> None:
    async with client_for(UnreachableKafka()) as client:
        stop = await client.post("/api/scheduler/stop", headers=KEY)
        sync = await client.post("/api/scheduler/sync-now", headers=KEY)
    assert stop.status_code == sync.status_code == 503
    assert "nothing changed" in stop.json()["detail"]


async def test_the_key_is_checked_before_anything_else() -> None:
    async with client_for(UnreachableKafka()) as client:
        assert (await client.post("/api/scheduler/stop")).status_code == 401


async def test_a_scheduler_still_starting_answers_503() -> None:
    async with client_for(None) as client:
        assert (await client.get("/api/scheduler/status")).status_code == 503


async def test_not_ready_until_the_lifespan_connects_kafka() -> None:
    async with client_for(None) as client:
        ready = await client.get("/ready")
    assert (ready.status_code, ready.json()["checks"]) == (503, {"kafka": "unavailable"})
