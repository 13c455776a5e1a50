"""The ingestor's HTTP side before its lifespan ran: built, wired, not connected."""

from __future__ import annotations

import httpx

from demetra_ingestor.app import create_app
from demetra_ingestor.settings import IngestorSettings


async def test_alive_but_not_ready_until_the_lifespan_connects_kafka() -> None:
    app = create_app(IngestorSettings(_env_file=None, channel="tiktok"))  # lifespan not run
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ingestor") as client:
        health, ready = await client.get("/health"), await client.get("/ready")
    assert health.status_code == 200
    assert (ready.status_code, ready.json()["checks"]) == (503, {"kafka": "unavailable"})
