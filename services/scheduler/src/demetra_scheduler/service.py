"""The scheduler's core: turn cron slots and operator requests into ``SyncRequested`` messages.

A scheduled sync is a pure function of its slot: sync_id ``sched-<slot>``, event_id derived from the sync_id,
requested_at = slot. Two replicas firing the same slot, or a restart inside it, publish the very same
message, which every consumer recognises as one. Slots missed while the process was down are requested
once at startup if the newest one is within the misfire grace time (several missed slots coalesce to it);
APScheduler does the same for slots missed while running (coalesce=True, misfire_grace_time).

Paused or running is durable (``StateStore``): an operator's stop is acknowledged only once stored, and
survives restarts. No FastStream or FastAPI here.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from prometheus_client import Counter
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from tenacity import AsyncRetrying, before_sleep_log, stop_after_delay, wait_exponential_jitter

from demetra_common.contracts import (
    Channel,
    EventType,
    LastSlot,
    SyncRequested,
    Trigger,
    deterministic_event_id,
    utcnow,
)
from demetra_scheduler.cron import has_seconds, latest_fire_time, parse_cron, slot_sync_id

logger = logging.getLogger(__name__)

JOB_ID = "scheduled-sync"

SYNCS_REQUESTED = Counter(
    "demetra_scheduler_syncs_requested", "SyncRequested messages the scheduler published.", ["trigger"]
)

PublishRequest = Callable[[SyncRequested], Awaitable[None]]


class PausedState(BaseModel):
    """Whether scheduled syncs are paused (POST /api/scheduler/stop) or running (/start)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    paused: bool
    changed_at: AwareDatetime = Field(description="When an operator last started or stopped the scheduler.")


class StateStore(Protocol):
    """Where paused/running and the last requested slot are kept durably (a compacted topic: state.py)."""

    async def save_paused(self, state: PausedState) -> None: ...

    async def save_last_slot(self, state: LastSlot) -> None: ...


class RunState(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"


@dataclass(frozen=True, slots=True)
class TriggerRecord:
    """One sync this process asked for."""

    sync_id: str
    trigger: Trigger
    requested_at: dt.datetime
    slot: dt.datetime | None
    channels: tuple[Channel, ...]


@dataclass(frozen=True, slots=True)
class JobInfo:
    id: str
    name: str
    trigger: str
    next_run_time: dt.datetime | None


@dataclass(frozen=True, slots=True)
class SchedulerStatus:
    state: RunState
    cron: str
    next_run_time: dt.datetime | None
    jobs: tuple[JobInfo, ...]
    last_triggers: tuple[TriggerRecord, ...]
    """Newest first."""
    last_slot: dt.datetime | None


def sync_requested_event_id(sync_id: str) -> uuid.UUID:
    return deterministic_event_id(EventType.SYNC_REQUESTED.value, sync_id)


class SchedulerService:
    def __init__(
        self,
        *,
        cron: str,
        misfire_grace_s: int,
        channels: Sequence[Channel],
        publish: PublishRequest,
        state: StateStore,
        history: int = 20,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.cron = cron
        self._trigger = parse_cron(cron)
        self._seconds = has_seconds(cron)
        self._grace = dt.timedelta(seconds=misfire_grace_s)
        self._channels = tuple(channels)
        self._publish = publish
        self._state = state
        self._clock = clock
        self._scheduler = AsyncIOScheduler(
            timezone=dt.UTC,
            job_defaults={"coalesce": True, "misfire_grace_time": misfire_grace_s, "max_instances": 1},
        )
        self._paused = False
        self._last_slot: dt.datetime | None = None
        self._recent: deque[TriggerRecord] = deque(maxlen=history)
        self._control = asyncio.Lock()
        self._started = False

    # -------------------------------------------------------------------------------- durable state

    def apply_paused(self, state: PausedState) -> None:
        """A paused/running record from the state topic (ours or another replica's)."""
        if state.paused == self._paused:
            return
        self._paused = state.paused
        if self._started:
            self._apply_to_job()
        logger.info("scheduler %s (state changed at %s)", self.run_state.value, state.changed_at.isoformat())

    def apply_last_slot(self, state: LastSlot) -> None:
        if self._last_slot is None or state.slot > self._last_slot:
            self._last_slot = state.slot

    # -------------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Start the cron (paused if the durable state says so) and request a missed slot within grace."""
        self._scheduler.add_job(
            self._on_tick,
            self._trigger,
            id=JOB_ID,
            name=f"sync.requested on cron {self.cron!r} (UTC)",
            replace_existing=True,
            **({"next_run_time": None} if self._paused else {}),
        )
        self._scheduler.start()
        self._started = True
        logger.info("scheduler started %s, cron %r (UTC)", self.run_state.value, self.cron)
        if not self._paused:
            await self._catch_up()

    def shutdown(self) -> None:
        if self._started:
            self._scheduler.shutdown(wait=False)
            self._started = False

    async def _catch_up(self) -> None:
        now = self._clock()
        slot = latest_fire_time(self._trigger, now)
        if slot is None or now - slot > self._grace:
            return
        if self._last_slot is not None and slot <= self._last_slot:
            return
        logger.info("requesting slot %s missed while not running", slot.isoformat())
        await self.request_scheduled(slot)

    async def _on_tick(self) -> None:
        # APScheduler does not hand the job its scheduled time: the newest slot at or before now is it (or,
        # when late runs coalesced, the one they coalesced to).
        slot = latest_fire_time(self._trigger, self._clock())
        if slot is None:
            return
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_delay(self._grace.total_seconds()),
                wait=wait_exponential_jitter(multiplier=0.5, max=30),
                before_sleep=before_sleep_log(logger, logging.WARNING),
                reraise=True,
            ):
                with attempt:
                    await self.request_scheduled(slot)
        except Exception:
            logger.exception("could not request the sync of slot %s", slot.isoformat())

    # -------------------------------------------------------------------------------- requests

    async def request_scheduled(self, slot: dt.datetime) -> SyncRequested | None:
        """Publish the sync of ``slot`` unless paused or already requested (by us or another replica)."""
        if self._paused:
            return None
        if self._last_slot is not None and slot <= self._last_slot:
            return None
        sync_id = slot_sync_id(slot, seconds=self._seconds)
        request = SyncRequested(
            event_id=sync_requested_event_id(sync_id),
            sync_id=sync_id,
            requested_at=slot,
            trigger=Trigger.SCHEDULE,
            channels=list(self._channels),
            slot=slot,
        )
        await self._send(request)
        self._last_slot = slot
        await self._state.save_last_slot(LastSlot(slot=slot, sync_id=sync_id))
        return request

    async def sync_now(self, channels: Sequence[Channel] | None = None) -> SyncRequested:
        """An operator's sync, now, whether or not the schedule is paused."""
        sync_id = f"manual-{uuid.uuid4().hex[:12]}"
        request = SyncRequested(
            event_id=sync_requested_event_id(sync_id),
            sync_id=sync_id,
            requested_at=self._clock(),
            trigger=Trigger.MANUAL,
            channels=list(channels or self._channels),
        )
        await self._send(request)
        return request

    async def _send(self, request: SyncRequested) -> None:
        await self._publish(request)
        SYNCS_REQUESTED.labels(request.trigger.value).inc()
        self._recent.append(
            TriggerRecord(
                sync_id=request.sync_id,
                trigger=request.trigger,
                requested_at=request.requested_at,
                slot=request.slot,
                channels=tuple(request.channels),
            )
        )
        logger.info("requested sync %s (%s) for %s", request.sync_id, request.trigger.value, request.channels)

    # -------------------------------------------------------------------------------- control

    async def pause(self) -> SchedulerStatus:
        return await self._set_paused(True)

    async def resume(self) -> SchedulerStatus:
        return await self._set_paused(False)

    async def _set_paused(self, paused: bool) -> SchedulerStatus:
        async with self._control:
            if self._paused != paused:
                # Stored first: a stop is only acknowledged once it would survive a restart.
                await self._state.save_paused(PausedState(paused=paused, changed_at=self._clock()))
                self._paused = paused
                if self._started:
                    self._apply_to_job()
                logger.info("scheduler %s by operator", self.run_state.value)
        return self.status()

    def _apply_to_job(self) -> None:
        if self._paused:
            self._scheduler.pause_job(JOB_ID)
        else:
            self._scheduler.resume_job(JOB_ID)

    @property
    def run_state(self) -> RunState:
        return RunState.PAUSED if self._paused else RunState.RUNNING

    def status(self) -> SchedulerStatus:
        jobs = tuple(
            JobInfo(id=job.id, name=job.name, trigger=str(job.trigger), next_run_time=job.next_run_time)
            for job in (self._scheduler.get_jobs() if self._started else ())
        )
        next_run = min((job.next_run_time for job in jobs if job.next_run_time), default=None)
        return SchedulerStatus(
            state=self.run_state,
            cron=self.cron,
            next_run_time=next_run,
            jobs=jobs,
            last_triggers=tuple(reversed(self._recent)),
            last_slot=self._last_slot,
        )
