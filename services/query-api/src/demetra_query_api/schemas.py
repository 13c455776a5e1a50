"""API models shared by every resource: errors, the service description, common query parameters.

Each resource's own request and response models live in its folder (``campaigns/schemas.py``, ...). They
are what /openapi.json promises to the frontend, not ORM classes. The hot endpoints serialise plain dicts
and dataclasses with orjson instead of building these models per request; the schemathesis test checks that
every response still conforms to them.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from demetra_common.contracts import ID_PATTERN, Channel
from demetra_query_api.cursors import MAX_CURSOR_LENGTH
from demetra_query_api.ranges import (
    DAY_PATTERN,
    DEFAULT_REPORT_DAYS,
    EARLIEST_DAY,
    LATEST_DAY,
    MAX_REPORT_DAYS,
    MOMENT_PATTERN,
)


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


class ServiceInfo(BaseModel):
    name: str = Field(examples=["demetra-query-api"])
    version: str = Field(examples=["0.1.0"])
    description: str
    links: dict[str, str] = Field(description="Where to go next: docs, health, the main resources.")


class PageLinks(BaseModel):
    """Where a page of a keyset-paginated list stands. Follow `next` until it is null; never build cursors
    by hand."""

    limit: int = Field(description="The page size asked for.")
    next_cursor: str | None = Field(description="Opaque position after this page; null on the last page.")
    next: str | None = Field(
        description="Relative URL of the next page (same filters); null on the last page."
    )


# ------------------------------------------------------------------------------------ query parameters


def _iso_text(kind: str, pattern: str) -> Any:
    """A BeforeValidator that lets only text matching ``pattern`` (or a value already parsed) through to
    pydantic's own parsing, which would also take a number (as a Unix time) or other spellings. Its error
    type is ``iso_text``: a format error, never one of the documented rules' ``value_error``s."""
    matches = re.compile(pattern).fullmatch

    def check(value: Any) -> Any:
        if isinstance(value, str):
            if not matches(value):
                raise PydanticCustomError("iso_text", "expected {kind}", {"kind": kind})
        elif not isinstance(value, dt.date):
            raise PydanticCustomError("iso_text", "expected {kind} as text", {"kind": kind})
        return value

    return BeforeValidator(check)


# A day in a request: an ISO date within the years the API serves (the range rules are in ranges.py). The
# schema says so with a pattern, which generators and validators honour (unlike formatMinimum).
Day = Annotated[
    dt.date,
    _iso_text(f"a day as YYYY-MM-DD, {EARLIEST_DAY} to {LATEST_DAY}", DAY_PATTERN),
    Field(json_schema_extra={"pattern": f"^(?:{DAY_PATTERN})$"}),
]
# A moment in a request: ISO 8601 / RFC 3339 with seconds within those years; UTC when it has no offset.
Moment = Annotated[
    dt.datetime,
    _iso_text(
        f"a moment as YYYY-MM-DDTHH:MM:SS[.ffffff][Z|+HH:MM] in {EARLIEST_DAY.year}-{LATEST_DAY.year}",
        MOMENT_PATTERN,
    ),
    WithJsonSchema({"type": "string", "pattern": f"^(?:{MOMENT_PATTERN})$"}),
]


def reject_reversed(first: Any, second: Any, message: str) -> None:
    """Reject a range whose upper end lies below its lower end (both must be given)."""
    if first is not None and second is not None and second < first:
        raise ValueError(message)


# The rules of a request that JSON Schema cannot state: the OpenAPI descriptions state them, and a request
# that breaks one gets a 422 naming the field (the schemathesis test holds every such 422 to a description).
DATE_TO_RULE = "Not before date_from (else 422)."
CURSOR_RULE = "Only a cursor this API issued is valid (else 422): follow `next`, never build one."


def cursor_parameter(description: str) -> Any:
    return Field(
        default=None,
        max_length=MAX_CURSOR_LENGTH,
        pattern=r"^[A-Za-z0-9_-]+$",
        description=f"{description} {CURSOR_RULE}",
    )


def _document_date_to_rule(schema: dict[str, Any]) -> None:
    date_to = schema["properties"]["date_to"]
    date_to["description"] = f"{date_to.get('description', '')} {DATE_TO_RULE}".strip()


class OrderedDates(BaseModel):
    """Query parameters with a ``date_from`` .. ``date_to`` filter (declared by each subclass): date_to must
    not lie before date_from (the schema's description of date_to says so). Unknown parameters are
    refused."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_document_date_to_rule)

    @field_validator("date_to", check_fields=False)
    @classmethod
    def _date_range(cls, value: dt.date | None, info: ValidationInfo) -> dt.date | None:
        reject_reversed(info.data.get("date_from"), value, "date_to must not be before date_from")
        return value


# Filters several resources offer: a repeatable channel, and one campaign (described by each use).
ChannelFilter = Annotated[
    list[Channel],
    Field(default_factory=list, description="Only these channels; repeat for several (channel=a&channel=b)."),
]
CampaignIdFilter = Annotated[str | None, Field(min_length=1, max_length=128, pattern=ID_PATTERN)]


class ChannelsAndDates(OrderedDates):
    """Channel and reporting-date filters shared by the campaign list and the summary."""

    channel: ChannelFilter
    date_from: Day | None = Field(default=None, description="Reporting date on or after (YYYY-MM-DD).")
    date_to: Day | None = Field(default=None, description="Reporting date on or before (YYYY-MM-DD).")


class ReportRange(BaseModel):
    """The range of a report (timeseries, a campaign's history): open ends take defaults (ranges.py)."""

    model_config = ConfigDict(extra="forbid")

    date_from: Day | None = Field(
        default=None,
        description=f"First day, inclusive (YYYY-MM-DD); default: the {DEFAULT_REPORT_DAYS} days ending at "
        f"date_to. At most {MAX_REPORT_DAYS} days, and not after date_to (else 422).",
    )
    date_to: Day | None = Field(
        default=None, description=f"Last day, inclusive (YYYY-MM-DD); default: today (UTC). {DATE_TO_RULE}"
    )


class MetricValues(BaseModel):
    """Metrics of a group of campaign days: the sums, and rates derived from the sums (never averaged). A
    rate is null when its denominator is zero; a metric not asked for is absent. One field per
    ``kpis.Metric``."""

    impressions: int | None = Field(default=None, ge=0)
    clicks: int | None = Field(default=None, ge=0)
    engagement: int | None = Field(default=None, ge=0, description="Likes, shares, comments, saves.")
    cost: float | None = Field(default=None, ge=0, description="Spend in account currency, 2 decimals.")
    conversions: float | None = Field(default=None, ge=0, description="Conversions attributed so far.")
    revenue: float | None = Field(default=None, ge=0, description="Conversion value attributed so far.")
    ctr: float | None = Field(default=None, description="Click-through rate: clicks / impressions.")
    cpc: float | None = Field(default=None, description="Cost per click: cost / clicks.")
    cpm: float | None = Field(
        default=None, description="Cost per thousand impressions: 1000 x cost / impressions."
    )
    cpa: float | None = Field(default=None, description="Cost per acquisition: cost / conversions.")
    conversion_rate: float | None = Field(default=None, description="conversions / clicks.")
    roas: float | None = Field(default=None, description="Return on ad spend: revenue / cost.")
