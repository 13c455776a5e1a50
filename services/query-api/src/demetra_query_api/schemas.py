"""API request and response models: what /openapi.json promises to the frontend. Not ORM classes.

The hot endpoints serialise plain dicts with orjson instead of building these models per request; the
schemathesis test checks that every response still conforms to them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from demetra_common.contracts import Campaign as MockCampaign
from demetra_common.contracts import Channel, SyncId, Trigger
from demetra_query_api.cursors import MAX_CURSOR_LENGTH, SortField, SortOrder
from demetra_query_api.status import ChannelState, SyncState


class Problem(BaseModel):
    """An error the client can act on."""

    detail: str = Field(examples=["campaign fb_00000042 not found"])


class FieldError(BaseModel):
    loc: list[str | int] = Field(description="Where: the part of the request, then the field.")
    msg: str
    type: str
    input: Any = None
    ctx: dict[str, Any] | None = None


class ValidationProblem(BaseModel):
    """Invalid parameters or body: one entry per offending field (FastAPI's format)."""

    detail: list[FieldError]


# For routes that validate their query string themselves (FastAPI documents the others' 422 on its own).
INVALID_QUERY: dict[int | str, dict[str, Any]] = {
    422: {"model": ValidationProblem, "description": "A parameter is invalid; `loc` names it."}
}


# -------------------------------------------------------------------------------------------- campaigns


class CampaignOut(BaseModel):
    """A campaign's newest metrics, as the loader stored them (one row per campaign_id)."""

    campaign_id: str = Field(examples=["fb_00000123"])
    channel: Channel
    name: str = Field(examples=["Black Friday Retargeting | Lead Gen"])
    date: dt.date = Field(description="Reporting date of the metrics.")
    impressions: int = Field(ge=0)
    clicks: int = Field(ge=0)
    engagement: int = Field(ge=0, description="Likes, shares, comments, saves.")
    cost: float = Field(ge=0, description="Spend in account currency, 2 decimals.", examples=[1234.56])
    conversion_rate: float = Field(description="Conversions / clicks, 0..1.")
    roi: float = Field(description="(revenue - cost) / cost; -1 means nothing came back.")
    fetched_at: AwareDatetime = Field(description="When the platform reported these metrics.")
    sync_id: str = Field(description="The sync that brought these metrics.")


class CampaignPage(BaseModel):
    """One page of campaigns. Follow `next` until it is null; never build cursors by hand."""

    items: list[CampaignOut]
    limit: int = Field(description="The page size asked for.")
    next_cursor: str | None = Field(description="Opaque position after this page; null on the last page.")
    next: str | None = Field(
        description="Relative URL of the next page (same filters and sort); null on the last page.",
        examples=[
            "/api/campaigns?channel=facebook&sort=roi&order=desc&cursor=WzEsInJvaSIsImRlc2MiLDAuNSwxMl0"
        ],
    )


# -------------------------------------------------------------------------------------- metrics summary


class Metrics(BaseModel):
    """Totals and KPIs of a set of campaigns. A KPI is null when its denominator is zero."""

    campaigns: int = Field(description="Number of campaigns.")
    impressions: int
    clicks: int
    engagement: int
    cost: float = Field(description="Total spend.")
    conversions: float = Field(description="Sum of conversion_rate x clicks: estimated conversions.")
    ctr: float | None = Field(description="Click-through rate: clicks / impressions.")
    cpc: float | None = Field(description="Cost per click: cost / clicks.")
    cpm: float | None = Field(description="Cost per thousand impressions: 1000 x cost / impressions.")
    conversion_rate: float | None = Field(
        description="Click-weighted: conversions / clicks (the rate of the campaigns taken together)."
    )
    roi: float | None = Field(
        description="Cost-weighted: sum(roi x cost) / cost, i.e. total (revenue - cost) / total cost."
    )


class DayMetrics(Metrics):
    date: dt.date


class ChannelMetrics(Metrics):
    channel: Channel
    as_of: AwareDatetime | None = Field(
        description="Freshness: the newest fetched_at of this channel's data (all dates); null if none."
    )
    days: list[DayMetrics] | None = Field(
        default=None, description="Per reporting date, oldest first; only with per_day=true."
    )


class MetricsSummary(BaseModel):
    """Per-channel totals and KPIs over a date range (inclusive; open ends mean no bound)."""

    date_from: dt.date | None
    date_to: dt.date | None
    computed_at: AwareDatetime | None = Field(
        description="When the underlying aggregate was last refreshed (it lags campaigns by a few seconds)."
    )
    channels: list[ChannelMetrics] = Field(description="Every channel asked for (all four by default).")
    totals: Metrics = Field(description="All the listed channels together.")


# ------------------------------------------------------------------------------------------------ syncs


class SyncCounts(BaseModel):
    requested: int = Field(description="Channels requested (channels seen, when no request was recorded).")
    fetched: int = Field(description="Campaigns the ingestors reported fetching (sum of fetch.completed).")
    loaded: int = Field(
        description="Campaigns the loader processed: inserted + updated + unchanged + rejected."
    )
    inserted: int
    updated: int
    unchanged: int
    rejected: int


class SyncChannel(BaseModel):
    channel: Channel
    status: ChannelState = Field(
        description="pending (requested, not started), fetching, loading (fetched N, fewer loaded), "
        "completed (N loaded) or failed (fetch.failed or no progress for SYNC_TIMEOUT)."
    )
    requested: bool = Field(description="Whether the recorded request named this channel.")
    fetched: int | None = Field(description="Count reported by fetch.completed; null before that.")
    loaded: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    started_at: AwareDatetime | None = Field(description="First fetch.started.")
    finished_at: AwareDatetime | None = Field(description="When it completed or failed.")
    last_event_at: AwareDatetime | None = Field(description="Newest event of this channel.")
    timed_out: bool = Field(description="Failed because nothing happened for SYNC_TIMEOUT seconds.")
    error: str | None = Field(description="Why it failed.")


class SyncOut(BaseModel):
    """A sync's status, derived from the events table at request time."""

    sync_id: str = Field(examples=["sched-20261125T1400Z"])
    status: SyncState = Field(
        description="completed: every channel completed; failed: every channel failed; partial: all "
        "finished, some failed; running: otherwise."
    )
    trigger: Trigger | None = Field(description="From the recorded request; null if none was recorded.")
    request_seen: bool = Field(description="Whether a sync.requested row exists for this sync.")
    requested_at: AwareDatetime | None
    started_at: AwareDatetime = Field(description="Request time, or the first event if earlier/no request.")
    finished_at: AwareDatetime | None = Field(description="Null while running.")
    duration_s: float = Field(description="finished_at (or now, while running) - started_at, in seconds.")
    timed_out: bool = Field(description="Some channel failed by timeout.")
    counts: SyncCounts
    channels: list[SyncChannel]


class SyncPage(BaseModel):
    """Syncs newest first. A page may hold fewer than `limit` items when filtering; follow `next`."""

    items: list[SyncOut]
    limit: int
    next_cursor: str | None
    next: str | None


class SyncCreate(BaseModel):
    """What to sync. An empty body or no `channels` means every channel."""

    model_config = ConfigDict(extra="forbid")

    channels: list[Channel] | None = Field(
        default=None, min_length=1, max_length=len(Channel), examples=[["facebook", "tiktok"]]
    )

    @field_validator("channels")
    @classmethod
    def _unique(cls, channels: list[Channel] | None) -> list[Channel] | None:
        if channels is not None and len(set(channels)) != len(channels):
            raise ValueError("channels must not repeat")
        return channels


class SyncAccepted(BaseModel):
    """The sync request was published to Kafka; follow `status_url` (it answers 404 for the moment
    between publishing and the loader recording the request)."""

    sync_id: SyncId
    trigger: Literal["api"] = "api"
    channels: list[Channel]
    requested_at: AwareDatetime
    status_url: str = Field(examples=["/api/syncs/api-3f2a9c0d1e4b5a69"])


# ------------------------------------------------------------------------------------------- seed & meta


class MockData(BaseModel):
    """One channel's mock campaigns at an hour slot: what that channel's ingestor would fetch."""

    channel: Channel
    as_of: AwareDatetime = Field(description="The hour slot the data describes.")
    count: int
    campaigns: list[MockCampaign]


class MockAll(BaseModel):
    """Every channel's mock campaigns at an hour slot."""

    as_of: AwareDatetime
    count: int
    by_channel: dict[str, int] = Field(description="Campaigns per channel.")
    campaigns: list[MockCampaign]


class ServiceInfo(BaseModel):
    name: str = Field(examples=["demetra-query-api"])
    version: str = Field(examples=["0.1.0"])
    description: str
    links: dict[str, str] = Field(description="Where to go next: docs, health, the main resources.")


# ------------------------------------------------------------------------------------ query parameters


def _after(first: Any, second: Any, message: str) -> None:
    """Reject a range whose upper end lies below its lower end (both must be given)."""
    if first is not None and second is not None and second < first:
        raise ValueError(message)


def _cursor(description: str) -> Any:
    return Field(
        default=None, max_length=MAX_CURSOR_LENGTH, pattern=r"^[A-Za-z0-9_-]+$", description=description
    )


class _ChannelsAndDates(BaseModel):
    """Channel and reporting-date filters shared by the campaign list and the summary."""

    model_config = ConfigDict(extra="forbid")

    channel: list[Channel] = Field(
        default_factory=list, description="Only these channels; repeat for several (channel=a&channel=b)."
    )
    date_from: dt.date | None = Field(default=None, description="Reporting date on or after (YYYY-MM-DD).")
    date_to: dt.date | None = Field(default=None, description="Reporting date on or before (YYYY-MM-DD).")

    @field_validator("date_to")
    @classmethod
    def _date_range(cls, value: dt.date | None, info: ValidationInfo) -> dt.date | None:
        _after(info.data.get("date_from"), value, "date_to must not be before date_from")
        return value


class CampaignQuery(_ChannelsAndDates):
    """Filters, sort and position of GET /api/campaigns. Unknown parameters are refused (422)."""

    min_roi: float | None = Field(default=None, ge=-1e6, le=1e6, allow_inf_nan=False)
    max_roi: float | None = Field(default=None, ge=-1e6, le=1e6, allow_inf_nan=False)
    min_cost: float | None = Field(default=None, ge=0, le=1e12, allow_inf_nan=False)
    max_cost: float | None = Field(default=None, ge=0, le=1e12, allow_inf_nan=False)
    campaign_id_prefix: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="Only campaign ids starting with this text (e.g. `fb_` for Facebook).",
    )
    sort: SortField = Field(default=SortField.DATE, description="Sort field (whitelist).")
    order: SortOrder = Field(default=SortOrder.DESC, description="asc or desc; ties are broken by row id.")
    limit: int = Field(default=50, ge=1, le=500, description="Page size, 1..500.")
    cursor: str | None = _cursor("`next_cursor` of the previous page, with the same sort and order.")

    @field_validator("max_roi")
    @classmethod
    def _roi_range(cls, value: float | None, info: ValidationInfo) -> float | None:
        _after(info.data.get("min_roi"), value, "max_roi must not be below min_roi")
        return value

    @field_validator("max_cost")
    @classmethod
    def _cost_range(cls, value: float | None, info: ValidationInfo) -> float | None:
        _after(info.data.get("min_cost"), value, "max_cost must not be below min_cost")
        return value


class SummaryQuery(_ChannelsAndDates):
    """Range and grouping of GET /api/metrics/summary."""

    per_day: bool = Field(default=False, description="Also break each channel down per reporting date.")


class SyncQuery(BaseModel):
    """Filters and position of GET /api/syncs."""

    model_config = ConfigDict(extra="forbid")

    status: SyncState | None = Field(default=None, description="Only syncs in this derived status.")
    trigger: Trigger | None = Field(default=None, description="Only syncs requested this way.")
    limit: int = Field(default=20, ge=1, le=100, description="Page size, 1..100.")
    cursor: str | None = _cursor("`next_cursor` of the previous page.")
