"""Settings of the scheduler: when scheduled syncs happen, what they ask for, the control port."""

from __future__ import annotations

from pydantic import Field, field_validator

from demetra_common.contracts import ALL_CHANNELS, Channel
from demetra_common.settings import CommaSeparated, CommonSettings
from demetra_scheduler.cron import parse_cron


class SchedulerSettings(CommonSettings):
    http_port: int = Field(default=8001, ge=1, le=65535, description="Port of the control API.")

    sync_cron: str = Field(
        default="0 * * * *",
        description="When scheduled syncs happen, UTC: 5-field crontab, or 6 fields with seconds first.",
    )
    sync_misfire_grace_s: int = Field(
        default=900,
        ge=1,
        description="A missed slot (downtime, overload) is still requested this late; many coalesce to one.",
    )
    channels: CommaSeparated[Channel] = Field(
        default_factory=lambda: list(ALL_CHANNELS),
        min_length=1,
        description="Channels a scheduled sync asks for (comma-separated).",
    )
    scheduler_state_timeout_s: float = Field(
        default=30.0, gt=0, description="Reading the durable paused/running state at startup must end within."
    )
    scheduler_history: int = Field(default=20, ge=1, le=1000, description="Recent triggers shown by status.")
    consumer_lag_interval_s: float = Field(
        default=15.0,
        ge=0,
        description="Every this many seconds the scheduler measures every Demetra consumer group's lag "
        "(demetra_consumer_lag); 0 turns it off.",
    )

    @field_validator("sync_cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        parse_cron(value)
        return value
