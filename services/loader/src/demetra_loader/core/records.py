"""Judging one record: is it a campaign.fetched message the loader can store, and which rows would it write.

campaign.fetched carries two schemas, told apart by ``schema_version``: 1, a campaign's lifetime snapshot
(``CampaignFetched``: one ``campaigns`` row), and 2, a campaign's daily metrics (``CampaignDaysFetched``: one
``campaign_daily`` row per day, the ``campaigns`` row derived from them).

Pure and cheap: ``check_campaign_record`` runs for every record consumed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from math import inf as _INFINITY
from typing import Annotated, Any, Protocol, TypeAlias

import orjson
from pydantic import Field, TypeAdapter, ValidationError

from demetra_common.contracts import CampaignDaysFetched, CampaignFetched, Channel
from demetra_loader.repository import CampaignValues, DailyValues

# What campaigns can store beyond what the contract checks: numeric(14, 2) and bigint.
MAX_COST = 999_999_999_999.99
MAX_BIGINT = 2**63 - 1


class SourceRecord(Protocol):
    """A Kafka record as the core sees it (aiokafka's ConsumerRecord has this shape)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def timestamp(self) -> int: ...  # milliseconds since the epoch
    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


RecordPosition: TypeAlias = tuple[str, int, int]  # (topic, partition, offset): one record, ever


def position_of(record: SourceRecord) -> RecordPosition:
    return (record.topic, record.partition, record.offset)


class RejectCode(StrEnum):
    INVALID_JSON = "invalid_json"
    INVALID_MESSAGE = "invalid_message"
    UNKNOWN_SCHEMA_VERSION = "unknown_schema_version"
    REJECTED_BY_DATABASE = "rejected_by_database"


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a record cannot be loaded, and whose sync it belonged to when the payload says so."""

    code: RejectCode
    detail: str
    sync_id: str | None = None
    channel: Channel | None = None


CampaignMessage: TypeAlias = CampaignFetched | CampaignDaysFetched
Verdict: TypeAlias = CampaignMessage | Rejection

# Either schema, chosen by schema_version before anything else is validated (a message without one is
# schema 1, as before schema 2 existed).
_EITHER_SCHEMA: TypeAdapter[CampaignMessage] = TypeAdapter(
    Annotated[CampaignMessage, Field(discriminator="schema_version")]
)


# How a message serialised by the contracts begins: the version is peeked at so that the model is validated
# directly, which costs about a fifth less than through the union (bench/loader --daily); any other shape
# goes through the union, with the same outcome.
_PEEKED: tuple[tuple[bytes, type[CampaignFetched] | type[CampaignDaysFetched]], ...] = (
    (b'{"schema_version":2,', CampaignDaysFetched),
    (b'{"schema_version":1,', CampaignFetched),
)


def check_campaign_record(value: bytes | None) -> Verdict:
    """The validated message, or why it cannot be loaded."""
    if not value:
        return Rejection(RejectCode.INVALID_JSON, "empty message")
    try:
        model = next((model for prefix, model in _PEEKED if value.startswith(prefix)), None)
        message = _EITHER_SCHEMA.validate_json(value) if model is None else model.model_validate_json(value)
    except ValidationError as exc:
        if not _without_version(exc):
            return rejection_for(exc, value)
        try:
            message = CampaignFetched.model_validate_json(value)
        except ValidationError as schema_1_exc:
            return rejection_for(schema_1_exc, value)
    if problem := _unstorable(message):
        return Rejection(RejectCode.INVALID_MESSAGE, problem, message.sync_id, message.channel)
    return message


def _without_version(exc: ValidationError) -> bool:
    return any(error["type"] == "union_tag_not_found" for error in exc.errors(include_url=False))


def rejection_for(exc: ValidationError, value: bytes | None = None) -> Rejection:
    """Why a message failed validation; given its ``value``, also whose sync it names, when it can be read
    (so that it is counted as rejected for that sync)."""
    errors = exc.errors(include_url=False, include_input=False)
    detail = _describe(errors)
    if any(error["type"] == "json_invalid" for error in errors):
        return Rejection(RejectCode.INVALID_JSON, detail)
    sync_id, channel = _sync_and_channel_of(value) if value is not None else (None, None)
    if any(error["loc"] == ("schema_version",) or error["type"] == "union_tag_invalid" for error in errors):
        return Rejection(RejectCode.UNKNOWN_SCHEMA_VERSION, detail, sync_id, channel)
    return Rejection(RejectCode.INVALID_MESSAGE, detail, sync_id, channel)


def _describe(errors: Sequence[Any]) -> str:
    parts = [f"{_where(error)}: {error['msg']}" for error in errors]
    return "; ".join(parts)[:1000]


def _where(error: Any) -> str:
    """The field an error is about; the schema union's tag (the version, an int) is left out of it."""
    if error["type"] == "union_tag_invalid":
        return "schema_version"
    loc = error["loc"][1:] if error["loc"] and isinstance(error["loc"][0], int) else error["loc"]
    return ".".join(str(part) for part in loc) or "message"


def _sync_and_channel_of(value: bytes) -> tuple[str | None, Channel | None]:
    """(sync_id, channel) of an invalid message when both can be read."""
    try:
        payload = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(payload, dict):
        return None, None
    sync_id, channel = payload.get("sync_id"), payload.get("channel")
    if (
        not isinstance(sync_id, str)
        or not 0 < len(sync_id) <= 64
        or channel not in Channel._value2member_map_
    ):
        return None, None
    return sync_id, Channel(str(channel))


def _unstorable(message: CampaignMessage) -> str | None:
    if isinstance(message, CampaignDaysFetched):
        return _unstorable_days(message)
    campaign = message.campaign
    if not campaign.cost <= MAX_COST:  # also false for NaN and infinity
        return f"campaign.cost: {campaign.cost} cannot be stored (at most {MAX_COST})"
    if max(campaign.impressions, campaign.clicks, campaign.engagement) > MAX_BIGINT:
        return "campaign: a count exceeds 2^63 - 1"
    if "\x00" in campaign.name:
        return "campaign.name: contains a NUL character"
    return None


def _unstorable_days(message: CampaignDaysFetched) -> str | None:
    if "\x00" in message.name:
        return "name: contains a NUL character"
    for day in message.days:
        # One cheap test per day (clicks <= impressions is the contract's; inf and NaN fail the last).
        if (
            day.cost <= MAX_COST
            and day.impressions <= MAX_BIGINT
            and day.engagement <= MAX_BIGINT
            and day.conversions + day.revenue < _INFINITY
        ):
            continue
        if not day.cost <= MAX_COST:
            return f"days[{day.date}].cost: {day.cost} cannot be stored (at most {MAX_COST})"
        if max(day.impressions, day.clicks, day.engagement) > MAX_BIGINT:
            return f"days[{day.date}]: a count exceeds 2^63 - 1"
        return f"days[{day.date}]: conversions and revenue must be finite"
    return None


def campaign_values(message: CampaignFetched) -> CampaignValues:
    """The row to write. ``cost`` goes as the Decimal of its shortest repr ("18526.01"): a float would be sent
    as its exact binary expansion (some fifty digits), which costs both sides more to encode and parse."""
    c = message.campaign
    return (
        c.campaign_id,
        c.channel.value,
        c.name,
        c.date,
        c.impressions,
        c.clicks,
        c.engagement,
        Decimal(repr(c.cost)),
        c.conversion_rate,
        c.roi,
        message.fetched_at,
        message.sync_id,
    )


@dataclass(frozen=True, slots=True)
class CampaignDays:
    """What the loader keeps of a schema-2 message: its campaign's identity and version, and its daily
    rows."""

    campaign_id: str
    channel: str
    name: str
    fetched_at: dt.datetime
    sync_id: str
    rows: Sequence[DailyValues]


def campaign_days(message: CampaignDaysFetched) -> CampaignDays:
    """The daily rows to write. ``cost`` goes as a Decimal, as in ``campaign_values``."""
    campaign_id, channel, fetched_at, sync_id = (
        message.campaign_id,
        message.channel.value,
        message.fetched_at,
        message.sync_id,
    )
    rows = [
        (
            campaign_id,
            day.date,
            channel,
            day.impressions,
            day.clicks,
            day.engagement,
            Decimal(repr(day.cost)),
            day.conversions,
            day.revenue,
            fetched_at,
            sync_id,
        )
        for day in message.days
    ]
    return CampaignDays(campaign_id, channel, message.name, fetched_at, sync_id, rows)
