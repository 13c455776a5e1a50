"""GET /api/restatements: what newer fetches changed in past days, newest first, keyset-paginated."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from demetra_query_api.cursors import RestatementCursor
from demetra_query_api.deps import AppContext
from demetra_query_api.http import (
    Freshness,
    cached_read,
    decode_cursor,
    page_content,
    parse_query,
    query_parameters,
)
from demetra_query_api.restatements import service
from demetra_query_api.restatements.schemas import RestatementPage, RestatementQuery
from demetra_query_api.schemas import INVALID_QUERY

router = APIRouter(prefix="/api/restatements", tags=["restatements"])


@router.get(
    "",
    response_model=RestatementPage,
    openapi_extra=query_parameters(RestatementQuery),
    responses=INVALID_QUERY,
    summary="Restated metrics",
    description=(
        "Every metric of a past day that a newer fetch changed (late conversions, platform corrections): "
        "campaign, day, metric, old and new value, and the sync and versions involved; the same facts the "
        "loader published on metric.restated. Filter by channel, campaign, restated day and metric; newest "
        "first (by id), paginated by keyset: pass `next_cursor` (or follow `next`) for the next page. "
        "Restatements recorded while you page never shift the pages you have not read yet."
    ),
)
async def list_restatements(request: Request) -> Response:
    async def content(context: AppContext) -> dict[str, Any]:
        query = parse_query(RestatementQuery, request)
        cursor = decode_cursor(RestatementCursor.decode, query.cursor)
        page = await context.read(service.restatement_page, vars(query), cursor=cursor, limit=query.limit)
        return page_content(request, page.items, query.limit, page.next_cursor)

    return await cached_read(request, content, Freshness.LOADED)
