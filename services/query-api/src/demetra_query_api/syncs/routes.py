"""Sync history and status (GET /api/syncs, GET /api/syncs/{sync_id}), ad-hoc syncs (POST /api/syncs) and
retries of a sync's failed channels (POST /api/syncs/{sync_id}/retry)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, HTTPException, Path, Request, Response, status

from demetra_common.contracts import ID_PATTERN, SyncRequested, utcnow
from demetra_common.sync_status import SyncStatus
from demetra_query_api.cursors import SyncCursor
from demetra_query_api.deps import AppContext, ContextDep
from demetra_query_api.http import (
    Freshness,
    cached_read,
    checked_range,
    decode_cursor,
    json_response,
    page_content,
    parse_query,
    query_parameters,
)
from demetra_query_api.ranges import backfill_range
from demetra_query_api.schemas import INVALID_QUERY, Problem
from demetra_query_api.syncs import service
from demetra_query_api.syncs.schemas import SyncAccepted, SyncCreate, SyncPage, SyncQuery

router = APIRouter(tags=["syncs"])
# Write endpoints: the app includes this router behind the API key check.
writes = APIRouter(tags=["syncs"])

SyncIdPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        pattern=ID_PATTERN,
        description="The sync's id.",
        examples=["sched-20261125T1400Z"],
    ),
]

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    status.HTTP_404_NOT_FOUND: {"model": Problem, "description": "No event of this sync recorded."}
}
WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    status.HTTP_400_BAD_REQUEST: {"model": Problem, "description": "The body could not be decoded."},
    status.HTTP_401_UNAUTHORIZED: {"model": Problem, "description": "Missing or wrong X-API-Key."},
    status.HTTP_429_TOO_MANY_REQUESTS: {
        "model": Problem,
        "description": "Too many syncs requested; retry after the Retry-After header's seconds.",
    },
    status.HTTP_503_SERVICE_UNAVAILABLE: {"model": Problem, "description": "Kafka did not acknowledge."},
}
SyncBody = Annotated[
    SyncCreate | None,
    Body(description="Channels to sync (all when omitted), and the days of a backfill (both or neither)."),
]


def _timeout(context: AppContext) -> dt.timedelta:
    return dt.timedelta(seconds=context.settings.sync_timeout)


@router.get(
    "/api/syncs",
    response_model=SyncPage,
    openapi_extra=query_parameters(SyncQuery),
    responses=INVALID_QUERY,
    summary="Sync history",
    description=(
        "Syncs newest first (by their first recorded event), each with the status derived from its events "
        "(read from the sync projection the loader keeps with them). Filter by derived `status` or by "
        "`trigger`. Follow `next` until it is null."
    ),
)
async def list_syncs(request: Request) -> Response:
    async def content(context: AppContext) -> dict[str, Any]:
        query = parse_query(SyncQuery, request)
        cursor = decode_cursor(SyncCursor.decode, query.cursor)
        page = await context.read(
            service.sync_history,
            status=query.status,
            trigger=query.trigger,
            cursor=cursor,
            limit=query.limit,
            now=utcnow(),
            timeout=_timeout(context),
        )
        return page_content(request, page.items, query.limit, page.next_cursor)

    return await cached_read(request, content, Freshness.LIVE)


@router.get(
    "/api/syncs/{sync_id}", response_model=SyncStatus, summary="One sync's status", responses=NOT_FOUND
)
async def get_sync(request: Request, sync_id: SyncIdPath) -> Response:
    async def content(context: AppContext) -> SyncStatus | orjson.Fragment:
        found = await context.read(service.sync_status, sync_id, now=utcnow(), timeout=_timeout(context))
        if found is None:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND,
                detail=f"sync {sync_id} not found (a sync just requested appears once the loader records it)",
            )
        return found

    return await cached_read(request, content, Freshness.LIVE)


async def create_sync(request: Request, context: AppContext, body: SyncCreate | None) -> Response:
    """Shared by POST /api/syncs and POST /api/test/sync-now (API key already checked)."""
    backfill = checked_range(
        "body",
        backfill_range,
        body.date_from if body else None,
        body.date_to if body else None,
        today=utcnow().date(),
        max_days=context.settings.backfill_max_days,
    )
    await _rate_limited(request, context)
    requested = await service.request_sync(
        context.publisher.publish, body.channels if body else None, backfill=backfill
    )
    return _accepted(request, requested)


async def _rate_limited(request: Request, context: AppContext) -> None:
    """One more sync request of this client (429 past SYNC_RATE_LIMIT)."""
    await context.rate_limiter.hit(request.client.host if request.client else "unknown")


def _accepted(request: Request, requested: SyncRequested) -> Response:
    """202 with the published request and a Location header to the sync's status."""
    location = f"{request.scope.get('root_path', '')}/api/syncs/{requested.sync_id}"
    accepted = SyncAccepted(
        sync_id=requested.sync_id,
        channels=requested.channels,
        requested_at=requested.requested_at,
        date_from=requested.date_from,
        date_to=requested.date_to,
        status_url=location,
    )
    return json_response(
        accepted.model_dump(mode="json"), status.HTTP_202_ACCEPTED, headers={"Location": location}
    )


@writes.post(
    "/api/syncs",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SyncAccepted,
    summary="Request a sync now",
    description=(
        "Publishes a SyncRequested (trigger=api) on the sync.requested topic, keyed by a new sync_id, and "
        "answers 202 with the sync_id and a Location header to its status. With `date_from` and `date_to` "
        "it is a backfill of those days (both or neither; date_to not before date_from nor after today, "
        "UTC; at most BACKFILL_MAX_DAYS days; 422 naming the field otherwise), through the same path as "
        "any sync. Needs the X-API-Key header; limited per client address (SYNC_RATE_LIMIT)."
    ),
    responses=WRITE_RESPONSES,
)
async def post_sync(request: Request, context: ContextDep, body: SyncBody = None) -> Response:
    return await create_sync(request, context, body)


RETRY_RESPONSES: dict[int | str, dict[str, Any]] = {
    **WRITE_RESPONSES,
    **NOT_FOUND,
    status.HTTP_409_CONFLICT: {"model": Problem, "description": "No channel of the sync failed."},
}


@writes.post(
    "/api/syncs/{sync_id}/retry",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SyncAccepted,
    summary="Retry a sync's failed channels",
    description=(
        "Publishes the sync's first request again (same sync_id, as-of and days, so the same data is "
        "asked for) naming only the channels whose status is failed (timed out included); the ingestors "
        "fetch them as a new attempt, and the status counts that attempt. Completed channels are not "
        "fetched again. 404 when no event of the sync is recorded, 409 when no channel failed. Needs the "
        "X-API-Key header; limited per client address like POST /api/syncs (SYNC_RATE_LIMIT)."
    ),
    responses=RETRY_RESPONSES,
)
async def retry_sync(request: Request, context: ContextDep, sync_id: SyncIdPath) -> Response:
    await _rate_limited(request, context)
    try:
        plan = await context.read(service.plan_retry, sync_id, now=utcnow(), timeout=_timeout(context))
    except service.NothingToRetry as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    if plan is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"sync {sync_id} not found")
    await context.publisher.publish(plan.request)
    return _accepted(request, plan.request)
