"""The control API: status, start, stop, sync-now. Writes need the API key."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Request, status

from demetra_scheduler.schemas import Problem, StatusOut, SyncNowIn, SyncNowOut
from demetra_scheduler.service import SchedulerService


def get_service(request: Request) -> SchedulerService:
    service: SchedulerService | None = getattr(request.app.state, "scheduler", None)
    if service is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="scheduler is starting")
    return service


ServiceDep = Annotated[SchedulerService, Depends(get_service)]

UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    status.HTTP_503_SERVICE_UNAVAILABLE: {
        "model": Problem,
        "description": "The scheduler is starting, or Kafka did not acknowledge (nothing changed): retry.",
    }
}
WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    status.HTTP_400_BAD_REQUEST: {"model": Problem, "description": "The body could not be decoded."},
    status.HTTP_401_UNAUTHORIZED: {"model": Problem, "description": "Missing or wrong X-API-Key."},
    **UNAVAILABLE,
}


def scheduler_router(write_guard: Callable[..., Any]) -> APIRouter:
    router = APIRouter(prefix="/api/scheduler", tags=["scheduler"])
    writes = [Depends(write_guard)]

    @router.get(
        "/status", summary="Running or paused, next run, jobs and the last triggers", responses=UNAVAILABLE
    )
    async def get_status(service: ServiceDep) -> StatusOut:
        return StatusOut.of(service.status())

    @router.post(
        "/start", summary="Resume scheduled syncs (durable)", dependencies=writes, responses=WRITE_RESPONSES
    )
    async def start(service: ServiceDep) -> StatusOut:
        return StatusOut.of(await service.resume())

    @router.post(
        "/stop",
        summary="Pause scheduled syncs (durable; manual syncs still work)",
        dependencies=writes,
        responses=WRITE_RESPONSES,
    )
    async def stop(service: ServiceDep) -> StatusOut:
        return StatusOut.of(await service.pause())

    @router.post(
        "/sync-now",
        summary="Request a sync now (trigger=manual)",
        status_code=status.HTTP_202_ACCEPTED,
        dependencies=writes,
        responses=WRITE_RESPONSES,
    )
    async def sync_now(service: ServiceDep, body: Annotated[SyncNowIn | None, Body()] = None) -> SyncNowOut:
        request = await service.sync_now(body.channels if body else None)
        return SyncNowOut.model_validate(request, from_attributes=True)

    return router
