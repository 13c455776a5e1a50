"""Operational HTTP: the endpoints of services whose real work is consuming Kafka (/health, /ready, /metrics),
``service_app``, the FastAPI app every service builds, and ``serve``, how every service runs it."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
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


def serve(app: Any, settings: CommonSettings, *, graceful_shutdown_s: int, **options: Any) -> None:
    """Run ``app`` (an ASGI app, or an import string with ``factory=True``) on HTTP_HOST:HTTP_PORT.

    uvicorn's own logging config is off: the JSON logging that ``configure_logging`` set up stays in force.
    """
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        timeout_graceful_shutdown=graceful_shutdown_s,
        **options,
    )
