"""The HTTP metrics count each request under the template of the route that served it (one series per
route, not per id), by method and status class; unmatched paths under ``none``; the ops endpoints not at all.
Measured with the whole middleware stack of the API in place (compression, request ids, CORS)."""

from __future__ import annotations

import uuid

import httpx
from fastapi import APIRouter, FastAPI, HTTPException
from prometheus_client import REGISTRY

from demetra_common.ops import add_request_ids, ops_router
from demetra_query_api.http import install_compression
from demetra_query_api.observability import instrument

REQUESTS = "demetra_query_api_http_requests_total"
DURATION = "demetra_query_api_http_request_duration_seconds_count"


def _app(prefix: str) -> FastAPI:
    app = FastAPI()
    router = APIRouter(prefix=prefix)

    @router.get("/items/{item_id}")
    async def item(item_id: str) -> dict[str, str]:
        if item_id == "missing":
            raise HTTPException(404, "no such item")
        return {"item_id": item_id}

    app.include_router(router)
    app.include_router(ops_router({}))
    install_compression(app)
    instrument(app)
    add_request_ids(app)
    return app


def _count(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_requests_are_counted_per_route_template_method_and_status_class() -> None:
    prefix = f"/t{uuid.uuid4().hex[:8]}"  # series of this test only (the registry is the process's)
    template = f"{prefix}/items/{{item_id}}"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app(prefix)), base_url="http://api") as c:
        assert (await c.get(f"{prefix}/items/a")).status_code == 200
        assert (await c.get(f"{prefix}/items/b")).status_code == 200
        assert (await c.get(f"{prefix}/items/missing")).status_code == 404
        unmatched = await c.get(f"{prefix}/nowhere")
        assert unmatched.status_code == 404
        assert (await c.get("/health")).status_code == 200

    assert _count(REQUESTS, handler=template, method="GET", status="2xx") == 2
    assert _count(REQUESTS, handler=template, method="GET", status="4xx") == 1
    assert _count(DURATION, handler=template, method="GET") == 3
    assert _count(REQUESTS, handler="none", method="GET", status="4xx") >= 1
    assert _count(REQUESTS, handler="/health", method="GET", status="2xx") == 0
