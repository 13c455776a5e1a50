"""HTTP request and response bodies of the control API (apart from the core's dataclasses)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from demetra_common.contracts import Channel, DistinctChannels, Trigger
from demetra_scheduler.service import RunState, SchedulerStatus


class Problem(BaseModel):
    """An error the client can act on."""

    detail: str = Field(examples=["missing API key: send it in the X-API-Key header"])


class JobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    trigger: str = Field(
        examples=["cron[month='*', day='*', day_of_week='*', hour='*', minute='0', second='0']"]
    )
    next_run_time: dt.datetime | None = Field(description="None while paused.")


class TriggerOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    sync_id: str = Field(examples=["sched-20261125T1400Z"])
    trigger: Trigger
    requested_at: dt.datetime
    slot: dt.datetime | None
    channels: list[Channel]


class StatusOut(BaseModel):
    status: RunState = Field(description="running, or paused by POST /api/scheduler/stop.")
    cron: str = Field(examples=["0 * * * *"])
    timezone: str = "UTC"
    next_run_time: dt.datetime | None
    jobs: list[JobOut]
    last_triggers: list[TriggerOut] = Field(description="Syncs this instance requested, newest first.")
    last_scheduled_slot: dt.datetime | None = Field(
        description="Newest slot a scheduled sync was requested for (by any replica)."
    )

    @classmethod
    def of(cls, status: SchedulerStatus) -> StatusOut:
        return cls(
            status=status.state,
            cron=status.cron,
            next_run_time=status.next_run_time,
            jobs=[JobOut.model_validate(job) for job in status.jobs],
            last_triggers=[TriggerOut.model_validate(t) for t in status.last_triggers],
            last_scheduled_slot=status.last_slot,
        )


class SyncNowIn(BaseModel):
    channels: DistinctChannels | None = Field(
        default=None,
        min_length=1,
        description="Channels to fetch, each once; the configured ones when omitted.",
    )


class SyncNowOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    sync_id: str = Field(examples=["manual-3f9c2b7d1e4a"])
    trigger: Trigger
    channels: list[Channel]
    requested_at: dt.datetime
