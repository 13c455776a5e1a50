"""Seed-compatibility endpoints, and the service run as production runs it (python -m, several workers)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import signal
import socket
import sys
from asyncio.subprocess import PIPE, STDOUT
from typing import Any

import httpx
import psutil
import pytest

from demetra_common.contracts import ALL_CHANNELS, Channel
from demetra_mock import mock_campaigns
from demetra_testkit import eventually

AS_OF = "2026-11-25T14:37:00Z"
SLOT = dt.datetime(2026, 11, 25, 14, tzinfo=dt.UTC)


async def test_mock_data_is_what_the_channels_mock_source_reports(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/api/test/mock-data?channel=tiktok&as_of={AS_OF}")
    assert response.status_code == 200
    body = response.json()
    expected = [c.model_dump(mode="json") for c in mock_campaigns(Channel.TIKTOK, SLOT, 500)]
    assert body["channel"] == "tiktok" and body["count"] == 500
    assert dt.datetime.fromisoformat(body["as_of"]) == SLOT
    assert body["campaigns"] == expected


async def test_mock_data_defaults_to_facebook_now(client: httpx.AsyncClient) -> None:
    body = (await client.get("/api/test/mock-data")).json()
    assert body["channel"] == "facebook" and {c["channel"] for c in body["campaigns"]} == {"facebook"}


async def test_mock_all_has_every_channel(client: httpx.AsyncClient) -> None:
    body = (await client.get(f"/api/test/mock-all?as_of={AS_OF}")).json()
    assert body["by_channel"] == {channel.value: 500 for channel in ALL_CHANNELS}
    assert body["count"] == len(body["campaigns"]) == 2000


@pytest.mark.parametrize(
    ("query", "field"),
    [("channel=bing", "channel"), ("as_of=1999-12-31T23:00:00Z", "as_of"), ("as_of=soon", "as_of")],
)
async def test_bad_mock_parameters_are_a_422(client: httpx.AsyncClient, query: str, field: str) -> None:
    response = await client.get(f"/api/test/mock-data?{query}")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", field]


def _sockets_on(port: int, process: psutil.Process, status: str) -> int:
    """How many of ``process``'s TCP sockets on local ``port`` are in ``status``."""
    return sum(
        1
        for connection in process.net_connections("tcp")
        if connection.status == status and connection.laddr.port == port
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_python_m_serves_with_several_workers_restarts_a_dead_one_and_stops_on_sigterm(
    service_env: dict[str, str], seed: Any
) -> None:
    await seed.campaigns([seed.row("fb_1")])
    port = _free_port()
    env = {**os.environ, **service_env, "HTTP_PORT": str(port), "HTTP_WORKERS": "2", "LOG_LEVEL": "WARNING"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "demetra_query_api", env=env, stdout=PIPE, stderr=STDOUT
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=2) as http:

            async def serving() -> Any:
                assert process.returncode is None, "the API exited"
                try:
                    return (await http.get("/api/campaigns")).json()
                except httpx.TransportError:
                    return None

            body = await eventually(serving, timeout=60, what="the API to serve campaigns")
            assert [item["campaign_id"] for item in body["items"]] == ["fb_1"]
            # 16 connections opened at once are spread evenly over both workers (the supervisor hands them
            # out in turn); with one shared socket, the first worker awake accepted nearly all of them, and
            # with a SO_REUSEPORT socket each, the kernel's hash spread them at random (12/4 seen).
            service = psutil.Process(process.pid)

            def workers() -> list[psutil.Process]:
                return [child for child in service.children() if "spawn_main" in " ".join(child.cmdline())]

            assert len(workers()) == 2
            async with contextlib.AsyncExitStack() as stack:
                clients = [
                    await stack.enter_async_context(httpx.AsyncClient(base_url=http.base_url, timeout=5))
                    for _ in range(16)
                ]
                await asyncio.gather(*(client.get("/health") for client in clients))
                held = sorted(_sockets_on(port, worker, psutil.CONN_ESTABLISHED) for worker in workers())
            assert held == [8, 9], held  # and `http`'s
            # A worker killed is started again; meanwhile the other serves every connection.
            killed = workers()[0]
            killed.kill()
            await asyncio.to_thread(killed.wait, 30)

            async def replaced() -> bool:
                now = workers()
                return len(now) == 2 and killed.pid not in {worker.pid for worker in now}

            await eventually(replaced, timeout=60, what="the killed worker started again")
            body = await eventually(serving, timeout=60, what="the API to serve campaigns again")
            assert [item["campaign_id"] for item in body["items"]] == ["fb_1"]
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, output.decode()
