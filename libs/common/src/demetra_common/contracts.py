"""Every message that crosses Kafka, as strict Pydantic v2 models.

Each message carries ``schema_version``; consumers reject versions they do not know instead of guessing.
The field descriptions and examples become the AsyncAPI document.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    field_validator,
    model_validator,
)

SCHEMA_VERSION: Literal[1] = 1
# campaign.fetched carries either schema: 1, a campaign's lifetime snapshot (CampaignFetched, the seed's
# shape, still accepted), or 2, a campaign's daily metrics (CampaignDaysFetched, what the ingestors publish).
DAYS_SCHEMA_VERSION: Literal[2] = 2
# The most days one CampaignDaysFetched may carry (a long backfill is split over several messages).
MAX_DAYS_PER_MESSAGE = 100

# What a sync id or a campaign id may look like: safe in a URL path, a Kafka key and a log line.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"

# Namespace for deterministic event ids: the same logical event always gets the same id, so
# redelivery and replays are recognised downstream.
EVENT_NAMESPACE = uuid.UUID("6f1c3d0e-5a1b-4e7f-9a39-2d8c5b7e4f10")


class Channel(StrEnum):
    FACEBOOK = "facebook"
    INSTAGRAM = "instagram"
    GOOGLE_ADS = "google_ads"
    TIKTOK = "tiktok"


ALL_CHANNELS: tuple[Channel, ...] = tuple(Channel)


def _each_once(channels: list[Channel]) -> list[Channel]:
    if len(set(channels)) != len(channels):
        raise ValueError("channels must not repeat")
    return channels


# A list of channels in a request body (the HTTP APIs'): each channel at most once, and the schema says so.
DistinctChannels = Annotated[
    list[Channel], AfterValidator(_each_once), Field(json_schema_extra={"uniqueItems": True})
]


class Trigger(StrEnum):
    SCHEDULE = "schedule"
    API = "api"
    MANUAL = "manual"


class SyncEventType(StrEnum):
    FETCH_STARTED = "fetch.started"
    FETCH_PROGRESS = "fetch.progress"
    FETCH_COMPLETED = "fetch.completed"
    FETCH_FAILED = "fetch.failed"
    # A duplicate request for a channel the sync already fetched completely: acknowledged, not fetched.
    FETCH_SKIPPED = "fetch.skipped"
    # A request older than SYNC_REQUEST_MAX_AGE when the channel's consumer read it: not fetched.
    FETCH_EXPIRED = "fetch.expired"


class DailyMetric(StrEnum):
    """The additive metrics of a campaign's day; a restatement names one of them."""

    IMPRESSIONS = "impressions"
    CLICKS = "clicks"
    ENGAGEMENT = "engagement"
    COST = "cost"
    CONVERSIONS = "conversions"
    REVENUE = "revenue"


# How many days after a day a platform still attributes late conversions to it (its default attribution
# window): the scheduled syncs' lookback, and how long the mock accounts keep restating a day.
ATTRIBUTION_WINDOW_DAYS: dict[Channel, int] = {
    Channel.FACEBOOK: 28,
    Channel.INSTAGRAM: 28,
    Channel.GOOGLE_ADS: 14,
    Channel.TIKTOK: 3,
}


class EventType(StrEnum):
    """The ``type`` of a row in the events table (the sync history the query API derives status from)."""

    SYNC_REQUESTED = "sync.requested"
    FETCH_STARTED = SyncEventType.FETCH_STARTED.value
    FETCH_PROGRESS = SyncEventType.FETCH_PROGRESS.value
    FETCH_COMPLETED = SyncEventType.FETCH_COMPLETED.value
    FETCH_FAILED = SyncEventType.FETCH_FAILED.value
    FETCH_SKIPPED = SyncEventType.FETCH_SKIPPED.value
    FETCH_EXPIRED = SyncEventType.FETCH_EXPIRED.value
    LOAD = "load"
    # The loader announced the (sync, channel) on channel.loaded: written after the publish, so a
    # (sync, channel) complete without one is announced (again) by the loader's periodic pass.
    LOAD_ANNOUNCED = "load.announced"


SyncId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=ID_PATTERN,
        description="Identifies one sync across every message it causes.",
        examples=["sched-20261125T1400Z", "api-7f3b9c2e4d1a"],
    ),
]


AttemptId = Annotated[
    str | None,
    Field(
        max_length=64,
        pattern=ID_PATTERN,
        description="Identifies one fetch of one channel of a sync: every message of that fetch carries it, "
        "so a fetch run again (a duplicate request after a crash, a retry) is counted apart from the one "
        "before; a sync's status counts the attempt whose fetch outcome is the newest. Absent in messages "
        "published before attempts existed (they form one attempt of their own).",
        examples=["3f2a9c1e7b5d4e08a6c1f0e2d3b4a596"],
    ),
]


def deterministic_event_id(*parts: object) -> uuid.UUID:
    """A UUID that is the same every time for the same parts (uuid5 in Demetra's namespace)."""
    return uuid.uuid5(EVENT_NAMESPACE, "|".join(str(part) for part in parts))


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)

    schema_version: Literal[1] = Field(
        default=SCHEMA_VERSION, description="Version of this message's schema; consumers reject unknown ones."
    )
    event_id: uuid.UUID = Field(
        default_factory=uuid.uuid4, description="Unique id of this message; consumers dedup on it."
    )


class SyncRequested(_Message):
    """Asks the ingestors to fetch the named channels. Anyone may publish one to start a sync."""

    sync_id: SyncId
    requested_at: AwareDatetime = Field(default_factory=utcnow, description="When the sync was asked for.")
    trigger: Trigger = Field(description="Who asked: the cron schedule, the query API or an operator.")
    channels: list[Channel] = Field(
        default_factory=lambda: list(ALL_CHANNELS),
        min_length=1,
        description="Channels to fetch; all four when omitted.",
        examples=[["facebook", "instagram", "google_ads", "tiktok"]],
    )
    slot: AwareDatetime | None = Field(
        default=None, description="The cron slot of a scheduled sync (its sync_id is derived from it)."
    )
    date_from: dt.date | None = Field(
        default=None,
        description="A backfill: the first day to fetch (with date_to). Omitted: today and each channel's "
        "lookback window (SYNC_LOOKBACK_DAYS, default its attribution window).",
        examples=["2026-09-01"],
    )
    date_to: dt.date | None = Field(
        default=None,
        description="A backfill: the last day to fetch, inclusive, not after the sync's as-of day.",
        examples=["2026-11-29"],
    )

    @field_validator("channels")
    @classmethod
    def _unique_channels(cls, channels: list[Channel]) -> list[Channel]:
        if len(set(channels)) != len(channels):
            raise ValueError("channels must not repeat")
        return channels

    @model_validator(mode="after")
    def _date_range(self) -> Self:
        if (self.date_from is None) != (self.date_to is None):
            raise ValueError("date_from and date_to go together")
        if self.date_from is not None and self.date_to is not None and self.date_to < self.date_from:
            raise ValueError(f"date_to ({self.date_to}) is before date_from ({self.date_from})")
        return self

    def backfill_days(self) -> int | None:
        """How many days a backfill asks for; None for a sync of the lookback window."""
        if self.date_from is None or self.date_to is None:
            return None
        return (self.date_to - self.date_from).days + 1

    def as_of(self) -> dt.datetime:
        """The moment the data of this sync describes: the slot for scheduled syncs, else the request time."""
        return self.slot or self.requested_at


class Campaign(BaseModel):
    """One advertising campaign's cumulative metrics as a platform reports them."""

    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)

    campaign_id: str = Field(min_length=1, max_length=128, pattern=ID_PATTERN, examples=["fb_000123"])
    channel: Channel
    name: str = Field(min_length=1, max_length=255, examples=["Black Friday Retargeting"])
    date: dt.date = Field(description="Reporting date of the metrics.")
    impressions: NonNegativeInt
    clicks: NonNegativeInt
    engagement: NonNegativeInt = Field(description="Likes, shares, comments, saves: platform interactions.")
    cost: NonNegativeFloat = Field(description="Spend in account currency.", examples=[1234.56])
    conversion_rate: float = Field(ge=0.0, le=1.0, description="Conversions / clicks, 0..1.")
    roi: float = Field(ge=-1.0, le=1000.0, description="(revenue - cost) / cost; -1 means nothing came back.")

    @model_validator(mode="after")
    def _clicks_within_impressions(self) -> Self:
        if self.clicks > self.impressions:
            raise ValueError(f"clicks ({self.clicks}) must not exceed impressions ({self.impressions})")
        return self


class CampaignFetched(_Message):
    """One campaign as an ingestor fetched it during a sync. Keyed by campaign_id."""

    sync_id: SyncId
    channel: Channel
    fetched_at: AwareDatetime = Field(
        description="When the platform reported these metrics; the version the loader compares."
    )
    campaign: Campaign

    @model_validator(mode="after")
    def _channel_matches(self) -> Self:
        if self.campaign.channel != self.channel:
            raise ValueError(
                f"campaign.channel ({self.campaign.channel}) differs from "
                f"the message channel ({self.channel})"
            )
        return self


class CampaignDay(BaseModel):
    """One campaign's metrics for one day, as the platform reports them at fetch time. Recent days keep
    changing for a while (late conversions, within the attribution window): a newer fetch restates them."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    date: dt.date = Field(description="The day (the account's reporting day, UTC here).")
    impressions: NonNegativeInt
    clicks: NonNegativeInt
    engagement: NonNegativeInt = Field(description="Likes, shares, comments, saves: platform interactions.")
    cost: NonNegativeFloat = Field(description="Spend that day, in account currency.", examples=[312.4])
    conversions: NonNegativeFloat = Field(
        description="Conversions attributed to the day so far (fractional under data-driven attribution)."
    )
    revenue: NonNegativeFloat = Field(description="Conversion value attributed to the day so far.")

    @model_validator(mode="after")
    def _clicks_within_impressions(self) -> Self:
        if self.clicks > self.impressions:
            raise ValueError(f"clicks ({self.clicks}) must not exceed impressions ({self.impressions})")
        return self


class CampaignDaysFetched(BaseModel):
    """Schema 2 of campaign.fetched: one campaign's daily metrics over some days, as an ingestor fetched them
    during a sync. Keyed by campaign_id. The loader keeps one row per (campaign_id, date), newest fetched_at
    wins, and derives the campaign's row in ``campaigns`` (its totals) from its daily rows."""

    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)

    schema_version: Literal[2] = Field(
        default=DAYS_SCHEMA_VERSION,
        description="2: daily metrics (1 is CampaignFetched, a lifetime snapshot).",
    )
    event_id: uuid.UUID = Field(
        default_factory=uuid.uuid4, description="Unique id of this message; consumers dedup on it."
    )
    sync_id: SyncId
    channel: Channel
    fetched_at: AwareDatetime = Field(
        description="When the platform reported these metrics; the version the loader compares per day."
    )
    attempt: AttemptId = None
    campaign_id: str = Field(min_length=1, max_length=128, pattern=ID_PATTERN, examples=["fb_000123"])
    name: str = Field(min_length=1, max_length=255, examples=["Black Friday Retargeting"])
    days: list[CampaignDay] = Field(
        min_length=1,
        max_length=MAX_DAYS_PER_MESSAGE,
        description="The campaign's days in the fetched range on which it ran, oldest first, each once.",
    )

    @field_validator("days")
    @classmethod
    def _days_ascending(cls, days: list[CampaignDay]) -> list[CampaignDay]:
        if any(later.date <= earlier.date for earlier, later in itertools.pairwise(days)):
            raise ValueError("days must be in ascending date order, each date once")
        return days

    @model_validator(mode="after")
    def _no_day_after_the_fetch(self) -> Self:
        if self.days[-1].date > self.fetched_at.astimezone(dt.UTC).date() + dt.timedelta(days=1):
            raise ValueError(f"day {self.days[-1].date} lies after fetched_at ({self.fetched_at})")
        return self


class MetricRestated(_Message):
    """A past day's metric that a newer fetch changed (late conversions, platform corrections). Published by
    the loader after the transaction that stored it commits; keyed by campaign_id. The event_id derives from
    (campaign_id, date, metric, fetched_at), so a re-publication is recognisable."""

    campaign_id: str = Field(min_length=1, max_length=128, examples=["fb_000123"])
    channel: Channel
    date: dt.date = Field(description="The day whose metric changed.")
    metric: DailyMetric
    old_value: float = Field(description="The value stored before (from the fetch at previous_fetched_at).")
    new_value: float = Field(description="The value the newer fetch reported.")
    sync_id: SyncId = Field(description="The sync whose fetch restated the day.")
    fetched_at: AwareDatetime = Field(description="The version of the new value.")
    previous_fetched_at: AwareDatetime = Field(description="The version of the old value.")


class SyncEvent(_Message):
    """Progress of one channel's fetch within a sync."""

    sync_id: SyncId
    channel: Channel
    type: SyncEventType
    attempt: AttemptId = None
    occurred_at: AwareDatetime = Field(default_factory=utcnow)
    count: NonNegativeInt | None = Field(
        default=None,
        description="With fetch.completed: exactly how many campaign.fetched were published; with "
        "fetch.skipped: the count of the completed fetch that made the request a duplicate.",
    )
    rows: NonNegativeInt | None = Field(
        default=None,
        description="With fetch.progress and fetch.completed: the daily rows (campaign x day) published so "
        "far; with fetch.completed, exactly.",
    )
    date_from: dt.date | None = Field(default=None, description="With fetch.started: the first day fetched.")
    date_to: dt.date | None = Field(default=None, description="With fetch.started: the last day fetched.")
    through: dt.date | None = Field(
        default=None, description="With fetch.progress: every day up to this one is published."
    )
    error: str | None = Field(
        default=None,
        max_length=4000,
        description="With fetch.failed: the reason; with fetch.skipped and fetch.expired: why not fetched.",
    )

    @model_validator(mode="after")
    def _fields_for_type(self) -> Self:
        if self.type is SyncEventType.FETCH_COMPLETED and self.count is None:
            raise ValueError("fetch.completed needs count")
        if self.type is SyncEventType.FETCH_FAILED and not self.error:
            raise ValueError("fetch.failed needs error")
        return self


class LastSlot(BaseModel):
    """The newest cron slot a scheduled sync was requested for: the scheduler's record under
    ``LAST_SLOT_KEY`` on its compacted scheduler.state topic. The scheduler does not ask for it again after a
    restart; an ingestor never expires this slot's request (a stale request of an older slot, it does)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    slot: AwareDatetime
    sync_id: SyncId


LAST_SLOT_KEY = b"last_slot"


class ChannelFetched(_Message):
    """One channel of one sync fetched completely: the ingestor's memory of what it need not fetch again.
    On the compacted topic sync.fetched, keyed ``<sync_id>/<channel>`` (``fetched_key``); written after the
    fetch.completed event and before the request's offset is committed, read to its end before each
    request is handled, so a duplicate request (replicas, re-publish, rebalance, replay) is skipped."""

    sync_id: SyncId
    channel: Channel
    attempt: AttemptId = None
    count: NonNegativeInt = Field(description="campaign.fetched messages the completed fetch published.")
    rows: NonNegativeInt = Field(default=0, description="Daily rows they carried.")
    completed_at: AwareDatetime = Field(default_factory=utcnow, description="When the fetch completed.")


def fetched_key(sync_id: str, channel: Channel) -> bytes:
    """The sync.fetched key of one (sync, channel): one record per pair survives compaction."""
    return f"{sync_id}/{channel.value}".encode()


class LoadCounts(BaseModel):
    """Payload of a ``load`` row in the events table: what one loaded batch did for one (sync_id, channel)
    and fetch attempt.

    Every campaign.fetched message of the sync is counted exactly once, in exactly one of these, under the
    attempt it carries.
    """

    model_config = ConfigDict(extra="ignore")

    inserted: NonNegativeInt = 0
    updated: NonNegativeInt = 0
    unchanged: NonNegativeInt = 0
    rejected: NonNegativeInt = 0
    rows: NonNegativeInt = Field(default=0, description="Daily rows the counted schema-2 messages carried.")
    restated: NonNegativeInt = Field(default=0, description="metric.restated events the batch published.")
    attempt: AttemptId = None


class ChannelLoaded(_Message):
    """Every campaign a sync fetched for one channel is loaded: announced by the loader on channel.loaded
    (key sync_id) once the channel's loads reach its fetch.completed count. Its event_id derives from
    (sync_id, channel), so replicas and redeliveries announce the same event; consumers dedup on it."""

    sync_id: SyncId
    channel: Channel
    fetched: NonNegativeInt = Field(description="campaign.fetched messages the fetch published.")
    loaded: NonNegativeInt = Field(description="Of them, loaded (inserted, updated, unchanged or rejected).")
    rows: NonNegativeInt = Field(default=0, description="Daily rows they carried.")
    restated: NonNegativeInt = Field(default=0, description="Past days' metrics they restated.")
    date_from: dt.date | None = Field(default=None, description="The first day the fetch covered.")
    date_to: dt.date | None = Field(default=None, description="The last day the fetch covered.")
    loaded_at: AwareDatetime = Field(default_factory=utcnow, description="When the last load committed.")


class InsightKind(StrEnum):
    SPEND_SPIKE = "spend_spike"
    SPEND_DROP = "spend_drop"
    SPEND_PACING = "spend_pacing"
    CPM_SPIKE = "cpm_spike"  # social channels bill per impression
    CPC_SPIKE = "cpc_spike"  # google_ads bills per click
    CTR_DROP = "ctr_drop"
    CONVERSION_RATE_DROP = "conversion_rate_drop"
    TRACKING_BREAK = "tracking_break"
    CPA_SPIKE = "cpa_spike"
    ROAS_DROP = "roas_drop"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class InsightStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class InsightChanged(_Message):
    """An insight as it now stands: on insight.detected when it opens or its figures change, on
    insight.resolved when its metric is back to normal. Keyed by campaign_id (the channel for a channel-level
    insight). The event_id derives from (insight_id, version), so a replay republishes the same event."""

    insight_id: uuid.UUID = Field(description="Stable for the insight's whole life (open to resolved).")
    version: NonNegativeInt = Field(description="Grows with every change of the insight.")
    status: InsightStatus
    kind: InsightKind
    severity: Severity
    channel: Channel
    campaign_id: str | None = Field(description="None: the channel's total.")
    first_day: dt.date
    last_day: dt.date
    metric: str = Field(description="What observed and expected measure, e.g. cost, cpm, conversion_rate.")
    observed: float
    expected: float
    baseline_from: dt.date
    baseline_to: dt.date
    money_at_stake: float = Field(description="Estimated money at stake over first_day..last_day.")
    explanation: str = Field(max_length=1000, description="One sentence a media buyer understands.")
    sync_id: SyncId = Field(description="The sync whose analysis produced this version.")
