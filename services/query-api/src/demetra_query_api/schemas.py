"""API models shared by every resource: errors, the service description, common query parameters.

Each resource's own request and response models live in its folder (``campaigns/schemas.py``, ...). They
are what /openapi.json promises to the frontend, not ORM classes. The hot endpoints serialise plain dicts
and dataclasses with orjson instead of building these models per request; the schemathesis test checks that
every response still conforms to them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from demetra_common.contracts import Channel
from demetra_query_api.cursors import MAX_CURSOR_LENGTH


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


# ------------------------------------------------------------------------------------ query parameters


def reject_reversed(first: Any, second: Any, message: str) -> None:
    """Reject a range whose upper end lies below its lower end (both must be given)."""
    if first is not None and second is not None and second < first:
        raise ValueError(message)


def cursor_parameter(description: str) -> Any:
    return Field(
        default=None, max_length=MAX_CURSOR_LENGTH, pattern=r"^[A-Za-z0-9_-]+$", description=description
    )


class ChannelsAndDates(BaseModel):
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
        reject_reversed(info.data.get("date_from"), value, "date_to must not be before date_from")
        return value
