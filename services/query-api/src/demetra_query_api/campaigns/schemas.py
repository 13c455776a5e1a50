"""Request and response models of /api/campaigns and /api/campaigns/{campaign_id}/history."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, Field, ValidationInfo, field_validator

from demetra_common.contracts import Channel
from demetra_query_api.cursors import SortField, SortOrder
from demetra_query_api.schemas import (
    ChannelsAndDates,
    MetricValues,
    PageLinks,
    ReportRange,
    cursor_parameter,
    reject_reversed,
)


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
    ctr: float | None = Field(
        ge=0, description="Click-through rate: clicks / impressions; null without impressions."
    )
    cpc: float | None = Field(ge=0, description="Cost per click: cost / clicks; null without clicks.")
    cpm: float | None = Field(
        ge=0,
        description="Cost per thousand impressions: 1000 x cost / impressions; null without impressions.",
    )


class CampaignPage(PageLinks):
    """One page of campaigns. Follow `next` until it is null; never build cursors by hand. A page may hold
    fewer than `limit` items (even none) and still have a next page: the list reads a bounded number of rows
    per request, and when that bound comes before `limit` matches the page ends there."""

    items: list[CampaignOut]
    next: str | None = Field(
        description="Relative URL of the next page (same filters and sort); null on the last page.",
        examples=[
            "/api/campaigns?channel=facebook&sort=roi&order=desc&cursor=WzEsInJvaSIsImRlc2MiLDAuNSwxMl0"
        ],
    )


class ListFormat(StrEnum):
    JSON = "json"
    CSV = "csv"


class CampaignQuery(ChannelsAndDates):
    """Filters, sort and position of GET /api/campaigns. Unknown parameters are refused (422).

    Each filter here has its row, under the same name, in the repository's CAMPAIGN_FILTERS.
    """

    min_roi: float | None = Field(default=None, ge=-1e6, le=1e6, allow_inf_nan=False)
    max_roi: float | None = Field(
        default=None, ge=-1e6, le=1e6, allow_inf_nan=False, description="Not below min_roi (else 422)."
    )
    min_cost: float | None = Field(default=None, ge=0, le=1e12, allow_inf_nan=False)
    max_cost: float | None = Field(
        default=None, ge=0, le=1e12, allow_inf_nan=False, description="Not below min_cost (else 422)."
    )
    campaign_id_prefix: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="Only campaign ids starting with this text (e.g. `fb_` for Facebook).",
    )
    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        pattern=r"^[^\x00]+$",
        description="Only campaigns whose name contains this text, ignoring case (`%` and `_` are literal).",
    )
    sort: SortField = Field(
        default=SortField.DATE,
        description="Sort field. A rate without a denominator (CTR, CPM without impressions, CPC without "
        "clicks) sorts below every rate: first ascending, last descending.",
    )
    order: SortOrder = Field(default=SortOrder.DESC, description="asc or desc; ties are broken by row id.")
    limit: int = Field(
        default=50,
        ge=1,
        le=500,
        description="Most items a page holds, 1..500 (JSON only); a page may hold fewer and still have a "
        "`next_cursor`: follow it until it is null.",
    )
    format: ListFormat | None = Field(
        default=None,
        description="`csv`: every matching campaign from `cursor` on, as one streamed CSV file (same "
        "filters and sort; columns as the JSON items). Default: JSON pages, or CSV when `Accept` names "
        "`text/csv` and not `application/json`.",
    )
    cursor: str | None = cursor_parameter("`next_cursor` of the previous page, with the same sort and order.")

    @field_validator("max_roi", "max_cost")
    @classmethod
    def _range(cls, value: float | None, info: ValidationInfo) -> float | None:
        upper = str(info.field_name)
        lower = upper.replace("max_", "min_", 1)
        reject_reversed(info.data.get(lower), value, f"{upper} must not be below {lower}")
        return value


class HistoryQuery(ReportRange):
    """The range of GET /api/campaigns/{campaign_id}/history."""


class CampaignDayOut(MetricValues):
    """One day of a campaign, as the newest fetch of it reported it (every metric, rates from the day)."""

    date: dt.date
    fetched_at: AwareDatetime = Field(description="When the platform reported this day's numbers (version).")
    sync_id: str = Field(description="The sync that last changed this day.")


class CampaignHistory(BaseModel):
    """A campaign's daily rows within a range, oldest first (days it did not run are absent)."""

    campaign_id: str = Field(examples=["fb_00000123"])
    channel: Channel
    date_from: dt.date
    date_to: dt.date
    days: list[CampaignDayOut]
