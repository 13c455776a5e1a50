"""The floor for the query API benchmark: the same page of campaigns with nothing but the unavoidable work.

A bare ASGI app on the same uvicorn (httptools, uvloop), the same number of workers and connections, and the
same statement as ``GET /api/campaigns`` (``demetra_query_api.repository``), fetched through an asyncpg pool,
turned into the same JSON objects with orjson. No framework, no parameter parsing, no cursor, no middleware.
What the real API reaches is read against this: a figure near the floor leaves nothing to gain in Python.

    FLOOR_DATABASE_URL=postgresql://... FLOOR_POOL_SIZE=2 uvicorn floor_app:app --workers 2
    GET /health -> {"status":"ok"}       GET /page -> the benchmark's second page (50 campaigns)
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import asyncpg
import orjson

from demetra_query_api.cursors import SortField, SortOrder
from demetra_query_api.repository import (
    CAMPAIGN_FIELDS,
    CampaignFilters,
    campaign_page_statement,
    campaign_page_values,
)

FILTERS = CampaignFilters(channels=("facebook",), date_from=dt.date(2026, 3, 1))
STATEMENT = campaign_page_statement(FILTERS, SortField.DATE, SortOrder.DESC, after=True)
HEADERS = [(b"content-type", b"application/json")]
_state: dict[str, Any] = {}


def page_after(after_date: dt.date, after_id: int, limit: int = 50) -> list[Any]:
    """The statement's arguments for the page after (date, id), one extra row to know if more follow."""
    return STATEMENT.args(campaign_page_values(FILTERS, (after_date, after_id), limit + 1))


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                size = int(os.environ.get("FLOOR_POOL_SIZE", "2"))
                pool = await asyncpg.create_pool(
                    os.environ["FLOOR_DATABASE_URL"], min_size=size, max_size=size
                )
                _state["pool"] = pool
                after = os.environ["FLOOR_AFTER"].split(",")  # "2026-11-25,966568": where page 1 ended
                _state["args"] = page_after(dt.date.fromisoformat(after[0]), int(after[1]))
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
        items = [dict(zip(CAMPAIGN_FIELDS, record, strict=False)) for record in records[:50]]
        body = orjson.dumps({"items": items})
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": body})
