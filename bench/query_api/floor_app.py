"""The floor for the query API benchmark: the same page of campaigns with nothing but the unavoidable work.

A bare ASGI app on the same uvicorn (httptools, uvloop), started with the API's own settings (HTTP_HOST,
HTTP_PORT, HTTP_WORKERS, DATABASE_URL, DB_POOL_SIZE), that runs the same statement as ``GET /api/campaigns``
(``demetra_query_api.campaigns.repository``) through an asyncpg pool and turns the rows into the same JSON
objects with orjson. No framework, no parameter parsing, no cursor, no middleware. What the real API reaches
is read against this: a figure near the floor leaves nothing to gain in Python.

    FLOOR_AFTER=2026-11-25,966568 python bench/query_api/floor_app.py   (where the first page ended)
    GET /health -> {"status":"ok"}       GET /page -> the benchmark's second page (50 campaigns)
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import asyncpg
import orjson
import uvicorn

from demetra_common.db import plain_dsn
from demetra_common.tables import CAMPAIGN_DATA_COLUMNS
from demetra_query_api.campaigns.repository import campaign_page_statement, campaign_page_values
from demetra_query_api.cursors import SortField, SortOrder
from demetra_query_api.settings import QueryApiSettings

PAGE = 50
FILTERS = {"channel": ["facebook"], "date_from": dt.date(2026, 3, 1)}  # as GET /api/campaigns parses them
STATEMENT = campaign_page_statement(FILTERS, SortField.DATE, SortOrder.DESC, after=True)
HEADERS = [(b"content-type", b"application/json")]
_state: dict[str, Any] = {}


async def _start() -> None:
    settings = QueryApiSettings()
    size = settings.db_pool_size + settings.db_max_overflow
    _state["pool"] = await asyncpg.create_pool(plain_dsn(settings.database_url), min_size=size, max_size=size)
    after_date, after_id = os.environ["FLOOR_AFTER"].split(",")
    after = (dt.date.fromisoformat(after_date), int(after_id))
    # One row more than a page, as the API fetches to know whether another page follows.
    _state["args"] = STATEMENT.args(campaign_page_values(FILTERS, after, PAGE + 1))


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
    if scope["path"] == "/health":
        body = b'{"status":"ok"}'
    else:
        async with _state["pool"].acquire() as connection:
            records = await connection.fetch(STATEMENT.sql, *_state["args"])
        items = [dict(zip(CAMPAIGN_DATA_COLUMNS, record, strict=False)) for record in records[:PAGE]]
        body = orjson.dumps({"items": items})
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    settings = QueryApiSettings()
    uvicorn.run(
        "floor_app:app",
        app_dir=os.path.dirname(os.path.abspath(__file__)),
        host=settings.http_host,
        port=settings.http_port,
        workers=settings.http_workers,
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
