"""The floor for the query API benchmark: the same pages of campaigns with nothing but the unavoidable work.

A bare ASGI app on the same uvicorn (httptools, uvloop) and workers (``ops.serve``), started with the API's
own settings (HTTP_HOST, HTTP_PORT, HTTP_WORKERS, DATABASE_URL, DB_POOL_SIZE), serving the very URLs of the
benchmark's mixed workload (``FLOOR_URLS``: a JSON list of ``/api/campaigns?...`` paths). At startup each
URL is parsed once, with the API's own query model and cursors, into the arguments of the list's core function
(``demetra_query_api.campaigns.service.campaign_page``, which the route calls: the statement, the rows as
the API's items, the next cursor); a request then only looks its URL up, runs that function through an
asyncpg pool (with the API's session settings, ``db.server_settings``) and renders its items with orjson.
No framework, no parsing, no middleware, no HTTP caching.
What the real API reaches is read against this: a figure near the floor leaves nothing to gain in Python.

    FLOOR_URLS=urls.json python bench/query_api/floor_app.py
    GET /health -> {"status":"ok"}       GET <a URL of the list> -> {"items": [...]} (the API's items)
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from fastapi import Request

from demetra_common.db import plain_dsn
from demetra_common.ops import serve
from demetra_query_api.campaigns.schemas import CampaignQuery
from demetra_query_api.campaigns.service import campaign_page
from demetra_query_api.cursors import CampaignCursor
from demetra_query_api.db import server_settings
from demetra_query_api.http import parse_query
from demetra_query_api.settings import QueryApiSettings

HEADERS = [(b"content-type", b"application/json")]
_state: dict[str, Any] = {}


def _arguments(path: str) -> dict[str, Any]:
    """``campaign_page``'s arguments after the connection for the list URL ``path``."""
    query_string = path.partition("?")[2].encode()
    query = parse_query(CampaignQuery, Request({"type": "http", "query_string": query_string, "headers": []}))
    cursor = CampaignCursor.decode(query.cursor, query.sort, query.order) if query.cursor else None
    return {
        "filters": vars(query), "sort": query.sort, "order": query.order, "cursor": cursor,
        "limit": query.limit,
    }  # fmt: skip


async def _start() -> None:
    settings = QueryApiSettings()
    size = settings.db_pool_size + settings.db_max_overflow
    _state["pool"] = await asyncpg.create_pool(
        plain_dsn(settings.database_url),
        min_size=size,
        max_size=size,
        server_settings=server_settings(settings),
    )
    paths = json.loads(Path(os.environ["FLOOR_URLS"]).read_text())  # noqa: ASYNC240 (once, at startup)
    _state["pages"] = {path.encode(): _arguments(path) for path in paths}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await _start()
                await send({"type": "lifespan.startup.complete"})
            else:
                await _state["pool"].close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    status, body = 200, b'{"status":"ok"}'
    if scope["path"] != "/health":
        found = _state["pages"].get(scope["path"].encode() + b"?" + scope["query_string"])
        if found is None:
            status, body = 404, b'{"detail":"not a URL of the workload"}'
        else:
            async with _state["pool"].acquire() as connection:
                page = await campaign_page(connection, **found)
            body = orjson.dumps({"items": page.items})
    await send({"type": "http.response.start", "status": status, "headers": HEADERS})
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    settings = QueryApiSettings()
    # Served as the API is (ops.serve: its workers, handed the connections in turn), importable by them.
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    serve("floor_app:app", settings, graceful_shutdown_s=5, workers=settings.http_workers, access_log=False)


if __name__ == "__main__":
    main()
