"""The composition root: settings are required, and /ready says unavailable until the lifespan started."""

from __future__ import annotations

import httpx

from demetra_loader.app import build_loader, create_app
from demetra_loader.settings import LoaderSettings


def settings() -> LoaderSettings:
    # Nothing listens here: building the loader must not connect to anything.
    return LoaderSettings(
        _env_file=None,
        kafka_bootstrap_servers="127.0.0.1:9",
        database_url="postgresql+asyncpg://nobody:nothing@127.0.0.1:9/none",
    )


async def test_every_part_is_checked_and_none_is_ready_before_start_up() -> None:
    checks = build_loader(settings()).readiness_checks()
    assert list(checks) == ["database", "kafka", "pipeline"]
    assert [await check() for check in checks.values()] == [False, False, False]


async def test_ready_answers_503_while_the_lifespan_has_not_run() -> None:
    transport = httpx.ASGITransport(app=create_app(settings()))
    async with httpx.AsyncClient(transport=transport, base_url="http://loader") as client:
        assert (await client.get("/health")).json() == {"status": "ok"}
        ready = await client.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"] == {
        "database": "unavailable",
        "kafka": "unavailable",
        "pipeline": "unavailable",
    }
