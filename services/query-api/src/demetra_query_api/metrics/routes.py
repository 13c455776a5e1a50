"""GET /api/metrics/summary (totals and KPIs per channel, and per day, with data freshness) and
GET /api/metrics/timeseries (metrics per channel and period)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from demetra_common.contracts import utcnow
from demetra_query_api.deps import AppContext
from demetra_query_api.http import Freshness, cached_read, checked_range, parse_query, query_parameters
from demetra_query_api.metrics import service
from demetra_query_api.metrics.schemas import MetricsSummary, SummaryQuery, Timeseries, TimeseriesQuery
from demetra_query_api.ranges import DEFAULT_REPORT_DAYS, MAX_REPORT_DAYS, report_range
from demetra_query_api.schemas import INVALID_QUERY

router = APIRouter(prefix="/api/metrics", tags=["metrics"])


@router.get(
    "/summary",
    response_model=MetricsSummary,
    openapi_extra=query_parameters(SummaryQuery),
    responses=INVALID_QUERY,
    summary="KPIs per channel",
    description=(
        "Impressions, clicks, engagement, cost and conversions per channel over an inclusive range of "
        "reporting days of the daily history, with CTR (clicks/impressions), CPC (cost/clicks), CPM "
        "(1000 x cost/impressions), conversion rate (conversions/clicks) and ROI ((revenue - cost)/cost), "
        "each from the sums, never averaged. `campaigns` counts campaign days. `as_of` per channel is the "
        "newest fetched_at of its data. Served from a per (channel, date) aggregate that the API refreshes "
        "when daily rows change, so it lags them by a few seconds; `computed_at` says when it was last "
        "refreshed."
    ),
)
async def metrics_summary(request: Request) -> Response:
    async def content(context: AppContext) -> dict[str, Any]:
        query = parse_query(SummaryQuery, request)
        return await context.read(service.metrics_summary, vars(query), per_day=query.per_day)

    return await cached_read(request, content, Freshness.LOADED)


@router.get(
    "/timeseries",
    response_model=Timeseries,
    openapi_extra=query_parameters(TimeseriesQuery),
    responses=INVALID_QUERY,
    summary="Metrics per channel and period",
    description=(
        "One series per channel (all four unless `channel` is given; `total=true` adds the channels "
        "together), one point per day, ISO week (Monday to Sunday) or calendar month of the range, zeros "
        "where there is no data. Rates come from each period's sums, never from averaged rates: CTR = "
        "clicks/impressions, CPC = cost/clicks, CPM = 1000 x cost/impressions, CPA = cost/conversions, "
        "conversion_rate = conversions/clicks, ROAS = revenue/cost; null when the denominator is 0. "
        "The first and last periods count only the days within the range (`date_from`, `date_to` of the "
        f"point). Default range: the last {DEFAULT_REPORT_DAYS} days (UTC); at most {MAX_REPORT_DAYS} days. "
        "Served from the "
        "per (channel, day) aggregate of the summary (lags the daily rows by a few seconds)."
    ),
)
async def metrics_timeseries(request: Request) -> Response:
    async def content(context: AppContext) -> dict[str, Any]:
        query = parse_query(TimeseriesQuery, request)
        span = checked_range("query", report_range, query.date_from, query.date_to, today=utcnow().date())
        return await context.read(
            service.timeseries,
            channels=query.channel,
            metrics=query.metrics,
            granularity=query.granularity,
            span=span,
            total=query.total,
        )

    return await cached_read(request, content, Freshness.LOADED)
