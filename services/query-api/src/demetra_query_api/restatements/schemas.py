"""Request and response models of /api/restatements."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import AwareDatetime, BaseModel, Field

from demetra_common.contracts import Channel, DailyMetric
from demetra_query_api.schemas import (
    CampaignIdFilter,
    ChannelFilter,
    Day,
    OrderedDates,
    PageLinks,
    cursor_parameter,
)


class RestatementOut(BaseModel):
    """A past day's metric that a newer fetch changed (what metric.restated announced)."""

    id: int = Field(description="Position in the restatement log: newer restatements have higher ids.")
    event_id: uuid.UUID = Field(description="The metric.restated event's id (consumers dedup on it).")
    campaign_id: str = Field(examples=["fb_00000123"])
    channel: Channel
    date: dt.date = Field(description="The day whose metric changed.")
    metric: DailyMetric
    old_value: float = Field(description="The value stored before (from the fetch at previous_fetched_at).")
    new_value: float = Field(description="The value the newer fetch reported.")
    sync_id: str = Field(description="The sync whose fetch restated the day.")
    fetched_at: AwareDatetime = Field(description="The version of the new value.")
    previous_fetched_at: AwareDatetime = Field(description="The version of the old value.")
    recorded_at: AwareDatetime = Field(description="When the loader stored the change.")


class RestatementPage(PageLinks):
    """One page of restatements, newest first. Follow `next` until it is null."""

    items: list[RestatementOut]


class RestatementQuery(OrderedDates):
    """Filters and position of GET /api/restatements. Unknown parameters are refused (422).

    Each filter here has its row, under the same name, in the repository's RESTATEMENT_FILTERS.
    """

    channel: ChannelFilter
    campaign_id: CampaignIdFilter = Field(default=None, description="Only this campaign's restatements.")
    date_from: Day | None = Field(default=None, description="Restated day on or after (YYYY-MM-DD).")
    date_to: Day | None = Field(default=None, description="Restated day on or before (YYYY-MM-DD).")
    metric: list[DailyMetric] = Field(
        default_factory=list, description="Only these metrics; repeat for several (metric=a&metric=b)."
    )
    limit: int = Field(default=100, ge=1, le=500, description="Page size, 1..500.")
    cursor: str | None = cursor_parameter("`next_cursor` of the previous page, with the same filters.")
