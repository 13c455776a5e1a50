"""Request and response models of /api/insights."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import AwareDatetime, BaseModel, Field

from demetra_common.contracts import Channel, InsightKind, InsightStatus, Severity
from demetra_query_api.cursors import InsightSort
from demetra_query_api.schemas import (
    CampaignIdFilter,
    ChannelFilter,
    Day,
    OrderedDates,
    PageLinks,
    cursor_parameter,
)


class InsightOut(BaseModel):
    """An anomaly the insights service found in a campaign (or a channel's total), as it now stands."""

    id: uuid.UUID = Field(description="Stable for the insight's whole life, open to resolved.")
    status: InsightStatus = Field(description="open while the metric is off; resolved once back to normal.")
    kind: InsightKind
    severity: Severity = Field(description="From the money at stake: info, warning, critical.")
    channel: Channel
    campaign_id: str | None = Field(
        description="The campaign; null for an insight about the channel's total.", examples=["fb_00000123"]
    )
    first_day: dt.date = Field(description="The first day the metric was off.")
    last_day: dt.date = Field(description="The latest day judged off (the insight's latest update).")
    metric: str = Field(description="The metric judged, e.g. cpa, conversions, cost.", examples=["cpa"])
    observed: float = Field(description="The metric's value on last_day.")
    expected: float = Field(description="What the baseline window predicted for last_day.")
    baseline_from: dt.date = Field(description="First day of the baseline window.")
    baseline_to: dt.date = Field(description="Last day of the baseline window.")
    money_at_stake: float = Field(description="Estimated spend wasted or at risk, account currency.")
    explanation: str = Field(description="One sentence a media buyer can act on.")
    sync_id: str = Field(description="The sync whose analysis made the current version.")
    opened_at: AwareDatetime
    updated_at: AwareDatetime
    resolved_at: AwareDatetime | None = Field(description="When it resolved; null while open.")


class InsightPage(PageLinks):
    """One page of insights in the order asked for. Follow `next` until it is null."""

    items: list[InsightOut]


class InsightQuery(OrderedDates):
    """Filters, order and position of GET /api/insights. Unknown parameters are refused (422).

    Each filter here has its row, under the same name, in the repository's INSIGHT_FILTERS.
    """

    channel: ChannelFilter
    campaign_id: CampaignIdFilter = Field(default=None, description="Only this campaign's insights.")
    kind: list[InsightKind] = Field(
        default_factory=list, description="Only these kinds; repeat for several (kind=a&kind=b)."
    )
    severity: list[Severity] = Field(
        default_factory=list, description="Only these severities; repeat for several."
    )
    status: InsightStatus | None = Field(default=None, description="Only open or only resolved insights.")
    date_from: Day | None = Field(
        default=None, description="Insights whose days (first_day..last_day) reach this day or later."
    )
    date_to: Day | None = Field(
        default=None, description="Insights whose days (first_day..last_day) begin on this day or earlier."
    )
    sort: InsightSort = Field(
        default=InsightSort.MONEY,
        description="money: biggest money at stake first (default); time: most recently opened first.",
    )
    limit: int = Field(default=100, ge=1, le=500, description="Page size, 1..500.")
    cursor: str | None = cursor_parameter(
        "`next_cursor` of the previous page, with the same filters and sort."
    )
