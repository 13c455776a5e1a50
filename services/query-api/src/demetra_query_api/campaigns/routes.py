"""GET /api/campaigns (filtered, sorted, keyset-paginated), GET /api/campaigns/{campaign_id} and its daily
history, GET /api/campaigns/{campaign_id}/history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request, Response, status
from fastapi.responses import StreamingResponse

from demetra_common.contracts import ID_PATTERN, utcnow
from demetra_query_api.campaigns import export, service
from demetra_query_api.campaigns.schemas import (
    CampaignHistory,
    CampaignOut,
    CampaignPage,
    CampaignQuery,
    HistoryQuery,
    ListFormat,
)
from demetra_query_api.cursors import CampaignCursor
from demetra_query_api.deps import AppContext, context_of
from demetra_query_api.http import (
    Freshness,
    cached_read,
    checked_range,
    decode_cursor,
    page_content,
    parse_query,
    query_parameters,
)
from demetra_query_api.ranges import DEFAULT_REPORT_DAYS, MAX_REPORT_DAYS, report_range
from demetra_query_api.schemas import INVALID_QUERY, Problem

router = APIRouter(prefix="/api/campaigns", tags=["campaigns"])


CampaignId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=128,
        pattern=ID_PATTERN,
        description="The platform's campaign id.",
        examples=["fb_00000123"],
    ),
]


@router.get(
    "",
    response_model=CampaignPage,
    openapi_extra=query_parameters(CampaignQuery),
    responses={
        200: {
            "description": "A page of campaigns (JSON), or the whole list as CSV (`format=csv` or "
            "`Accept: text/csv`): a header line of the item fields, one line per campaign.",
            "content": {export.MEDIA_TYPE.split(";")[0]: {"schema": {"type": "string"}}},
        },
        **INVALID_QUERY,
    },
    summary="List campaigns",
    description=(
        "Campaigns filtered by channels (repeat `channel`), reporting date, ROI, cost, campaign id "
        "prefix and name (case-insensitive substring), sorted by any metric, rate, date, version, id or "
        "name (ties broken by row id) and paginated by keyset: pass `next_cursor` (or follow `next`) for "
        "the next page. A page may hold fewer than `limit` items (even none) and still have a "
        "`next_cursor`: each request reads a bounded number of rows, so follow `next_cursor` until it is "
        "null. Pages stay exact while campaigns are inserted or updated: every row whose sort "
        "field does not change while you page is served exactly once. (A row whose sort field changes, "
        "e.g. its ROI after a sync, can move across the page boundary: served twice or not at all.)"
    ),
)
async def list_campaigns(request: Request) -> Response:
    if _may_want_csv(request):
        query = parse_query(CampaignQuery, request)
        if _wants_csv(request, query):
            return await _csv_export(request, query)

    async def content(context: AppContext) -> dict[str, Any]:
        query = parse_query(CampaignQuery, request)
        cursor = _cursor(query)
        # The parameters by name: vars() is the model's own field dict (dict(query) copies it, at ~5 us).
        page = await context.read(
            service.campaign_page,
            vars(query),
            sort=query.sort,
            order=query.order,
            cursor=cursor,
            limit=query.limit,
        )
        return page_content(request, page.items, query.limit, page.next_cursor)

    return await cached_read(request, content, Freshness.LOADED)


def _cursor(query: CampaignQuery) -> CampaignCursor | None:
    return decode_cursor(lambda text: CampaignCursor.decode(text, query.sort, query.order), query.cursor)


def _may_want_csv(request: Request) -> bool:
    """Cheap test before the JSON fast path (which parses nothing on a cache hit)."""
    return b"format=" in request.scope["query_string"] or "text/csv" in request.headers.get("accept", "")


def _wants_csv(request: Request, query: CampaignQuery) -> bool:
    if query.format is not None:
        return query.format is ListFormat.CSV
    accept = request.headers.get("accept", "")
    return "text/csv" in accept and "application/json" not in accept


async def _csv_export(request: Request, query: CampaignQuery) -> Response:
    context = context_of(request)
    batches = service.campaign_walk(
        context.database.connection,
        vars(query),
        sort=query.sort,
        order=query.order,
        cursor=_cursor(query),
        batch=export.BATCH,
    )
    first: list[dict[str, Any]] = await anext(
        batches, []
    )  # before the response starts: an error here is still an HTTP error
    return StreamingResponse(
        export.csv_stream(batches, first),
        media_type=export.MEDIA_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="campaigns-{utcnow():%Y%m%dT%H%M%SZ}.csv"',
            "Cache-Control": Freshness.LOADED.value,
        },
    )


NOT_FOUND: dict[int | str, dict[str, Any]] = {
    status.HTTP_404_NOT_FOUND: {"model": Problem, "description": "No such campaign."}
}


@router.get("/{campaign_id}", response_model=CampaignOut, summary="One campaign", responses=NOT_FOUND)
async def get_campaign(request: Request, campaign_id: CampaignId) -> Response:
    async def content(context: AppContext) -> dict[str, Any]:
        found = await context.read(service.campaign, campaign_id)
        if found is None:
            raise _not_found(campaign_id)
        return found

    return await cached_read(request, content, Freshness.LOADED)


def _not_found(campaign_id: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=f"campaign {campaign_id} not found")


@router.get(
    "/{campaign_id}/history",
    response_model=CampaignHistory,
    openapi_extra=query_parameters(HistoryQuery),
    responses={**NOT_FOUND, **INVALID_QUERY},
    summary="One campaign's daily history",
    description=(
        "The campaign's daily rows within the range, oldest first: every metric, the rates of the day "
        "(CTR, CPC, CPM, CPA, conversion rate, ROAS; null when the denominator is 0), and the version "
        f"(fetched_at) and sync that last changed each day. Default range: the last {DEFAULT_REPORT_DAYS} "
        f"days (UTC); at most {MAX_REPORT_DAYS} days. 404 for a campaign never loaded."
    ),
)
async def campaign_history(request: Request, campaign_id: CampaignId) -> Response:
    async def content(context: AppContext) -> dict[str, Any]:
        query = parse_query(HistoryQuery, request)
        span = checked_range("query", report_range, query.date_from, query.date_to, today=utcnow().date())
        found = await context.read(service.campaign_history, campaign_id, span)
        if found is None:
            raise _not_found(campaign_id)
        return found

    return await cached_read(request, content, Freshness.LOADED)
