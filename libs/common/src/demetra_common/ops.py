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

    With ``workers`` > 1, this process listens and hands each connection it accepts to the workers in turn
    (round robin, as Node's cluster module does), so N keep-alive connections are spread as evenly as they
    can be. uvicorn's own workers share one socket, and the first one awake accepts every connection
    waiting (asyncio accepts up to the backlog per wake-up): a client opening 16 keep-alive connections at
    once got 14 of them served by one process and 2 by the other. One ``SO_REUSEPORT`` socket a worker (the
    kernel picks one by a hash of the client's address and port) spread them at random: 8/8 in one run of
    five, 10/6 or worse in two, and the busier worker's queue set the tail (bench/history: a 12/4 run's p99
    2.2 times an 8/8 one's).
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


class _HandedConnections(uvicorn.Server):
    """A worker's uvicorn, serving the connections its supervisor hands it over ``channel`` (each one's
    file descriptor, ``SCM_RIGHTS``) instead of listening itself."""

    def __init__(self, config: uvicorn.Config, channel: socket.socket) -> None:
        super().__init__(config)
        self._channel = channel
        self._connecting: set[asyncio.Task[Any]] = set()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=[])  # the app's lifespan, no listener
        config, loop = self.config, asyncio.get_running_loop()

        def protocol() -> asyncio.Protocol:  # as uvicorn's startup builds each connection's protocol
            made: asyncio.Protocol = config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=self.server_state, app_state=self.lifespan.state
            )
            return made

        def handed() -> None:
            try:
                _, fds, _, _ = socket.recv_fds(self._channel, 1, 64)
            except BlockingIOError:
                return
            if not fds:  # the supervisor is gone
                loop.remove_reader(self._channel.fileno())
                return
            for fd in fds:
                task = loop.create_task(loop.connect_accepted_socket(protocol, socket.socket(fileno=fd)))
                self._connecting.add(task)
                task.add_done_callback(self._connecting.discard)

        self._channel.setblocking(False)
        loop.add_reader(self._channel.fileno(), handed)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        asyncio.get_running_loop().remove_reader(self._channel.fileno())
        await super().shutdown(sockets)


def _worker(config: uvicorn.Config, channel: socket.socket) -> None:
    """One worker process: uvicorn on the connections handed to it over ``channel``."""
    _HandedConnections(config, channel).run()


def _hand_out(listener: socket.socket, channels: list[socket.socket], stopping: threading.Event) -> None:
    """Accept connections on ``listener`` and send each to the next worker's channel in turn (one whose
    channel fails or stays full for a second, a worker being started again or stuck, is skipped: the next
    one serves it)."""
    turn = 0
    while not stopping.is_set():
        try:
            connection, _ = listener.accept()
        except TimeoutError:
            continue
        except OSError as exc:  # a client gone before its accept, no descriptor left, the listener closed
            if not stopping.is_set():
                logger.warning("accepting a connection failed: %s", exc)
                stopping.wait(0.05)
            continue
        with connection:
            for _ in range(len(channels)):
                channel, turn = channels[turn], (turn + 1) % len(channels)
                try:
                    socket.send_fds(channel, [b"c"], [connection.fileno()])
                    break
                except OSError:
                    continue
            else:
                logger.warning("no worker took a connection: closed")


def _serve_workers(config: uvicorn.Config, workers: int) -> None:
    """``workers`` processes (spawned, as uvicorn's), each served the connections that this process accepts
    (``_hand_out``), which listens before any worker starts (a connection that comes early waits in the
    queue). A worker that ends on its own is started again (as uvicorn's own supervisor restarts its
    workers); meanwhile its turns go to the others. SIGTERM or SIGINT stops them all gracefully."""
    listener = socket.socket(socket.AF_INET6 if ":" in config.host else socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((config.host, config.port))
    listener.listen(config.backlog)
    listener.settimeout(0.5)  # to see ``stopping``
    context = multiprocessing.get_context("spawn")
    channels: list[socket.socket] = []

    def started(number: int) -> multiprocessing.process.BaseProcess:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        ours.settimeout(1.0)
        process = context.Process(target=_worker, args=(config, theirs), name=f"worker-{number}")
        process.start()
        theirs.close()  # the worker has its own: a dead worker's channel then fails to send
        if number < len(channels):
            old, channels[number] = channels[number], ours
            old.close()
        else:
            channels.append(ours)
        return process

    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    processes = [started(number) for number in range(workers)]
    handing = threading.Thread(target=_hand_out, args=(listener, channels, stopping), name="hand-out")
    handing.start()
    while not stopping.wait(0.5):
        for number, process in enumerate(processes):
            if not process.is_alive() and not stopping.is_set():
                logger.error(
                    "worker %d ended on its own (exit code %s): starting it again", number, process.exitcode
                )
                processes[number] = started(number)
    handing.join()
    listener.close()
    for process in processes:
        if process.is_alive():
            process.terminate()  # SIGTERM: uvicorn's graceful shutdown
    for process in processes:
        process.join()
    for channel in channels:
        channel.close()
