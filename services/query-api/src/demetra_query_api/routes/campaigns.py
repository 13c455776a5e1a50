"""GET /api/campaigns (filtered, sorted, keyset-paginated) and GET /api/campaigns/{campaign_id}."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request, Response, status

from demetra_query_api import service
from demetra_query_api.cursors import CampaignCursor
from demetra_query_api.deps import services_of
from demetra_query_api.http import cached_json, decode_cursor, page_content, parse_query, query_parameters
from demetra_query_api.repository import CampaignFilters
from demetra_query_api.schemas import INVALID_QUERY, CampaignOut, CampaignPage, CampaignQuery, Problem

router = APIRouter(prefix="/api/campaigns", tags=["campaigns"])


CampaignId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$",
        description="The platform's campaign id.",
        examples=["fb_00000123"],
    ),
]


@router.get(
    "",
    response_model=CampaignPage,
    openapi_extra=query_parameters(CampaignQuery),
    responses=INVALID_QUERY,
    summary="List campaigns",
    description=(
        "Campaigns filtered by channel, reporting date, ROI, cost and campaign id prefix, sorted by one "
        "whitelisted field (ties broken by row id) and paginated by keyset: pass `next_cursor` (or follow "
        "`next`) for the next page. Pages stay consistent while campaigns are inserted: rows that existed "
        "when paging started are each served exactly once. (A row whose sort field changes while you page, "
        "e.g. its ROI after a sync, can move across the page boundary.)"
    ),
)
async def list_campaigns(request: Request) -> Response:
    # The hottest route takes no FastAPI dependencies: resolving them cost more CPU than the query itself.
    services = services_of(request)

    async def content() -> dict[str, Any]:
        query = parse_query(CampaignQuery, request)
        cursor = decode_cursor(
            lambda text: CampaignCursor.decode(text, query.sort, query.order), query.cursor
        )
        filters = CampaignFilters(
            channels=tuple(dict.fromkeys(c.value for c in query.channel)),
            date_from=query.date_from,
            date_to=query.date_to,
            min_roi=query.min_roi,
            max_roi=query.max_roi,
            min_cost=query.min_cost,
            max_cost=query.max_cost,
            campaign_id_prefix=query.campaign_id_prefix,
        )
        async with services.database.connection() as connection:
            page = await service.campaign_page(
                connection, filters, sort=query.sort, order=query.order, cursor=cursor, limit=query.limit
            )
        return page_content(request, page.items, query.limit, page.next_cursor)

    return await cached_json(request, services.cache, content)


@router.get(
    "/{campaign_id}",
    response_model=CampaignOut,
    summary="One campaign",
    responses={status.HTTP_404_NOT_FOUND: {"model": Problem, "description": "No such campaign."}},
)
async def get_campaign(request: Request, campaign_id: CampaignId) -> Response:
    services = services_of(request)

    async def content() -> dict[str, Any]:
        async with services.database.connection() as connection:
            found = await service.campaign(connection, campaign_id)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"campaign {campaign_id} not found")
        return found

    return await cached_json(request, services.cache, content)
