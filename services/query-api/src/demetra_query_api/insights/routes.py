"""GET /api/insights (filtered, by money at stake or time, keyset-paginated) and GET /api/insights/{id}."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request, Response, status

from demetra_query_api.cursors import InsightCursor
from demetra_query_api.deps import AppContext
from demetra_query_api.http import (
    Freshness,
    cached_read,
    decode_cursor,
    page_content,
    parse_query,
    query_parameters,
)
from demetra_query_api.insights import service
from demetra_query_api.insights.schemas import InsightOut, InsightPage, InsightQuery
from demetra_query_api.schemas import INVALID_QUERY, Problem

router = APIRouter(prefix="/api/insights", tags=["insights"])


@router.get(
    "",
    response_model=InsightPage,
    openapi_extra=query_parameters(InsightQuery),
    responses=INVALID_QUERY,
    summary="Insights",
    description=(
        "Anomalies the insights service found after each sync: kind, severity, campaign (or the channel's "
        "total), the days, observed vs expected with the baseline window, the money at stake and a "
        "one-sentence explanation. Filter by channel, campaign, kind, severity, status and days (insights "
        "whose days overlap date_from..date_to); sorted by money at stake (default) or by opening time, "
        "newest first, paginated by keyset: pass `next_cursor` (or follow `next`) for the next page. (An "
        "open insight's money at stake can change while you page, moving it across a page boundary.)"
    ),
)
async def list_insights(request: Request) -> Response:
    async def content(context: AppContext) -> dict[str, Any]:
        query = parse_query(InsightQuery, request)
        cursor = decode_cursor(lambda text: InsightCursor.decode(text, query.sort), query.cursor)
        page = await context.read(
            service.insight_page, vars(query), sort=query.sort, cursor=cursor, limit=query.limit
        )
        return page_content(request, page.items, query.limit, page.next_cursor)

    return await cached_read(request, content, Freshness.LOADED)


InsightId = Annotated[uuid.UUID, Path(description="The insight's id.")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    status.HTTP_404_NOT_FOUND: {"model": Problem, "description": "No such insight."}
}


@router.get("/{insight_id}", response_model=InsightOut, summary="One insight", responses=NOT_FOUND)
async def get_insight(request: Request, insight_id: InsightId) -> Response:
    async def content(context: AppContext) -> dict[str, Any]:
        found = await context.read(service.insight, insight_id)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"insight {insight_id} not found")
        return found

    return await cached_read(request, content, Freshness.LOADED)
