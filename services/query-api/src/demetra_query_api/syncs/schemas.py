"""Request and response models of /api/syncs (a sync's status is the core's SyncStatus itself)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from demetra_common.contracts import Channel, DistinctChannels, SyncId, Trigger
from demetra_common.sync_status import SyncState, SyncStatus
from demetra_query_api.schemas import Day, cursor_parameter


class SyncPage(BaseModel):
    """Syncs newest first; follow `next` until it is null."""

    items: list[SyncStatus]
    limit: int
    next_cursor: str | None
    next: str | None


class SyncCreate(BaseModel):
    """What to sync. An empty body or no `channels` means every channel. `date_from` with `date_to` make it
    a backfill of those days (inclusive; not after today, UTC; at most BACKFILL_MAX_DAYS days); without
    them each channel fetches today and its lookback window."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            # Both days or neither: both given, or each absent or null.
            "dependentRequired": {"date_from": ["date_to"], "date_to": ["date_from"]},
            "anyOf": [
                {"properties": {"date_from": {"type": "null"}, "date_to": {"type": "null"}}},
                {"properties": {"date_from": {"type": "string"}, "date_to": {"type": "string"}}},
            ],
        },
    )

    channels: DistinctChannels | None = Field(
        default=None, min_length=1, max_length=len(Channel), examples=[["facebook", "tiktok"]]
    )
    date_from: Day | None = Field(
        default=None,
        description="A backfill's first day (with date_to). At most BACKFILL_MAX_DAYS days before date_to "
        "(else 422).",
        examples=["2026-09-01"],
    )
    date_to: Day | None = Field(
        default=None,
        description="A backfill's last day, inclusive (with date_from). Not before date_from nor after "
        "today, UTC (else 422).",
        examples=["2026-11-29"],
    )


class SyncAccepted(BaseModel):
    """The sync request was published to Kafka; follow `status_url` (it answers 404 for the moment
    between publishing and the loader recording the request)."""

    sync_id: SyncId
    trigger: Literal["api"] = "api"
    channels: list[Channel]
    requested_at: AwareDatetime
    date_from: dt.date | None = Field(description="A backfill's first day; null for a lookback sync.")
    date_to: dt.date | None = Field(description="A backfill's last day; null for a lookback sync.")
    status_url: str = Field(examples=["/api/syncs/api-3f2a9c0d1e4b5a69"])


class SyncQuery(BaseModel):
    """Filters and position of GET /api/syncs."""

    model_config = ConfigDict(extra="forbid")

    status: SyncState | None = Field(default=None, description="Only syncs in this derived status.")
    trigger: Trigger | None = Field(default=None, description="Only syncs requested this way.")
    limit: int = Field(default=20, ge=1, le=100, description="Page size, 1..100.")
    cursor: str | None = cursor_parameter("`next_cursor` of the previous page.")
