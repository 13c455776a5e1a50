"""Operational HTTP: the endpoints of services whose real work is consuming Kafka (/health, /ready, /metrics),
``service_app``, the FastAPI app every service builds, and ``serve``, how every service runs it."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import re
import signal
import socket
import threading
from collections.abc import Awaitable, Callable, Mapping
from types import FrameType
from typing import Any, Literal

import uvicorn
from asgi_correlation_id import CorrelationIdMiddleware
from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse
from fastapi.telemetry import TelemetryConfig
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from pydantic import BaseModel, Field

from demetra_common.settings import CommonSettings
from demetra_common.telemetry import tracing_enabled

logger = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[bool]]

# The ops endpoints: probed and scraped all the time, so left out of HTTP metrics and traces.
OPS_PATHS = ("/health", "/ready", "/metrics")
REQUEST_ID_HEADER = "X-Request-ID"
# An incoming request id is kept when it looks like one (a proxy's, a client's UUID); anything else, e.g. a
# header stuffed with text or control characters meant for the logs, is replaced by a fresh one.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:=+/-]{0,127}")


def http_telemetry() -> TelemetryConfig:
    """``FastAPI(telemetry=...)`` of every service: FastAPI's native OpenTelemetry gives one server span per
    request (a sync-creating request's carries the sync_id, and its publishes continue its trace), only when
    tracing is on, and none for the ops endpoints; no operation sub-spans, no OpenTelemetry metrics or logs
    (Prometheus and the JSON logs have them)."""
    return {
        "tracing": tracing_enabled(),
        "metrics": False,
        "logs": False,
        "operation_spans": False,
        "exclude": lambda scope: scope.get("path") in OPS_PATHS,
    }


def is_sane_request_id(value: str) -> bool:
    return _SANE_REQUEST_ID.fullmatch(value) is not None


def add_request_ids(app: FastAPI) -> None:
    """Every request gets an id: a sane incoming ``X-Request-ID``, else a new UUID (hex). It is answered in
    the response's ``X-Request-ID`` and is in every log line written while serving the request. Added last,
    it is the outermost middleware, so error responses carry it too."""
    app.add_middleware(CorrelationIdMiddleware, header_name=REQUEST_ID_HEADER, validator=is_sane_request_id)


def service_app(**options: Any) -> FastAPI:
    """A FastAPI app (``options`` as FastAPI's) whose /docs (Swagger UI) and /redoc (ReDoc) load their scripts
    and styles from the app itself, under /static-offline-docs (the copies the fastapi-offline wheel ships),
    instead of from a CDN: the API's own pages render air-gapped and behind strict proxies. Its HTTP
    telemetry is ``http_telemetry()``."""
    return FastAPIOffline(telemetry=http_telemetry(), **options)


CheckState = Literal["ok", "unavailable"]


class Readiness(BaseModel):
    """What /ready answers: 200 when every check is ok, else 503."""

    status: CheckState
    checks: dict[str, CheckState] = Field(description="Each dependency's check.", examples=[{"kafka": "ok"}])


READINESS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": Readiness, "description": "Every dependency answers."},
    503: {"model": Readiness, "description": "A dependency does not answer; `checks` names it."},
}


def ops_router(checks: Mapping[str, ReadinessCheck], *, check_timeout_s: float = 2.0) -> APIRouter:
    """``/health`` answers while the process lives; ``/ready`` runs every check (each with a timeout)."""
    router = APIRouter(tags=["ops"])

    @router.get("/health", summary="Liveness")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/ready",
        summary="Readiness: every dependency answers",
        response_model=None,
        responses=READINESS_RESPONSES,
    )
    async def ready() -> JSONResponse:
        results: dict[str, str] = {}
        for name, check in checks.items():
            try:
                ok = await asyncio.wait_for(check(), timeout=check_timeout_s)
            except Exception as exc:  # a failing dependency is a 503, never a 500
                logger.warning("readiness check %s failed: %s", name, exc)
                ok = False
            results[name] = "ok" if ok else "unavailable"
        healthy = all(value == "ok" for value in results.values())
        return JSONResponse(
            {"status": "ok" if healthy else "unavailable", "checks": results},
            status_code=200 if healthy else 503,
        )

    @router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return router


def serve(
    app: Any, settings: CommonSettings, *, graceful_shutdown_s: int, workers: int = 1, **options: Any
) -> None:
    """Run ``app`` (an ASGI app, or an import string with ``factory=True``) on HTTP_HOST:HTTP_PORT.

    uvicorn's own logging config is off: the JSON logging that ``configure_logging`` set up stays in force.

    With ``workers`` > 1, each worker process listens on a socket of its own (``SO_REUSEPORT``), and the
    kernel spreads incoming connections over them. uvicorn's own workers share one socket, and the first
    one awake accepts every connection waiting (asyncio accepts up to the backlog per wake-up): a client
    opening 16 keep-alive connections at once got 14 of them served by one process and 2 by the other
    (bench/history), so half the cores idled while the other's requests queued.
    """
    options = {
        "host": settings.http_host,
        "port": settings.http_port,
        "log_config": None,
        "timeout_graceful_shutdown": graceful_shutdown_s,
        **options,
    }
    if workers > 1:
        _serve_workers(uvicorn.Config(app, workers=workers, **options), workers)
    else:
        uvicorn.run(app, **options)


def _port_socket(host: str, port: int, *, shared: bool) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if shared:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _worker(config: uvicorn.Config, sock: socket.socket) -> None:
    """One worker process: uvicorn on its own listening socket of the port."""
    uvicorn.Server(config).run(sockets=[sock])


def _serve_workers(config: uvicorn.Config, workers: int) -> None:
    """``workers`` processes (spawned, as uvicorn's), each on its own SO_REUSEPORT socket, all listening
    before any worker starts (a connection that comes early waits in its socket's queue instead of going to
    whichever worker listens first). A worker that ends on its own is started again on its socket (as
    uvicorn's own supervisor restarts its workers), so its share of connections waits in the socket's queue
    meanwhile instead of being refused. SIGTERM or SIGINT stops them all gracefully."""
    # Without SO_REUSEPORT the bind fails if anything holds the port, another server's reuse-port sockets
    # included: a second server on the same port fails here instead of sharing its connections.
    _port_socket(config.host, config.port, shared=False).close()
    sockets = [_port_socket(config.host, config.port, shared=True) for _ in range(workers)]
    for sock in sockets:
        sock.listen(config.backlog)
    context = multiprocessing.get_context("spawn")

    def started(number: int) -> multiprocessing.process.BaseProcess:
        process = context.Process(target=_worker, args=(config, sockets[number]), name=f"worker-{number}")
        process.start()
        return process

    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    processes = [started(number) for number in range(workers)]
    while not stopping.wait(0.5):
        for number, process in enumerate(processes):
            if not process.is_alive() and not stopping.is_set():
                logger.error(
                    "worker %d ended on its own (exit code %s): starting it again", number, process.exitcode
                )
                processes[number] = started(number)
    for process in processes:
        if process.is_alive():
            process.terminate()  # SIGTERM: uvicorn's graceful shutdown
    for process in processes:
        process.join()
    for sock in sockets:
        sock.close()
