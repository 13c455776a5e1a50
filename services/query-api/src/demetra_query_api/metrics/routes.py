"""GET /api/metrics/summary: totals and KPIs per channel (and per day), with data freshness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from demetra_query_api.deps import AppContext
from demetra_query_api.http import cached_read, parse_query, query_parameters
from demetra_query_api.metrics import service
from demetra_query_api.metrics.schemas import MetricsSummary, SummaryQuery
from demetra_query_api.schemas import INVALID_QUERY

router = APIRouter(prefix="/api/metrics", tags=["metrics"])


@router.get(
    "/summary",
    response_model=MetricsSummary,
    openapi_extra=query_parameters(SummaryQuery),
    responses=INVALID_QUERY,
    summary="KPIs per channel",
    description=(
        "Impressions, clicks, engagement and cost per channel over an inclusive range of reporting dates, "
        "with CTR (clicks/impressions), CPC (cost/clicks), CPM (1000 x cost/impressions), conversion rate "
        "(click-weighted: sum(conversion_rate x clicks)/clicks) and ROI (cost-weighted: sum(roi x cost)/cost,"
        " i.e. total return over total spend). `as_of` per channel is the newest fetched_at of its data. "
        "Served from a per (channel, date) aggregate that the API refreshes when campaigns change, so it "
        "lags the campaigns table by a few seconds; `computed_at` says when it was last refreshed."
    ),
)
async def metrics_summary(request: Request) -> Response:
    async def content(context: AppContext) -> dict[str, Any]:
        query = parse_query(SummaryQuery, request)
        return await context.read(service.metrics_summary, vars(query), per_day=query.per_day)

    return await cached_read(request, content)
