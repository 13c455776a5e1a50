"""Judging one record: is it a campaign.fetched message the loader can store, and which rows would it write.

campaign.fetched carries two schemas, told apart by ``schema_version``: 1, a campaign's lifetime snapshot
(``CampaignFetched``: one ``campaigns`` row), and 2, a campaign's daily metrics (``CampaignDaysFetched``: one
``campaign_daily`` row per day, the ``campaigns`` row derived from them).

Pure and cheap: every record consumed is judged. ``checked_fast`` takes the messages the contracts' own
producers write, valid and storable, straight to their rows; anything else (``None`` from it) is judged by
``check_campaign_record`` through the models, so every rejection and its reason come from the contracts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from math import inf as _INFINITY
from typing import Annotated, Any, Final, Protocol, TypeAlias, get_args, get_origin

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from typing_extensions import TypedDict

from demetra_common.contracts import Campaign, CampaignDay, CampaignDaysFetched, CampaignFetched, Channel
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
    attempt: str | None = None  # the fetch attempt the payload names, if any


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
        attempt = message.attempt if isinstance(message, CampaignDaysFetched) else None
        return Rejection(RejectCode.INVALID_MESSAGE, problem, message.sync_id, message.channel, attempt)
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
    sync_id, channel, attempt = _sync_of(value) if value is not None else (None, None, None)
    if any(error["loc"] == ("schema_version",) or error["type"] == "union_tag_invalid" for error in errors):
        return Rejection(RejectCode.UNKNOWN_SCHEMA_VERSION, detail, sync_id, channel, attempt)
    return Rejection(RejectCode.INVALID_MESSAGE, detail, sync_id, channel, attempt)


def _describe(errors: Sequence[Any]) -> str:
    parts = [f"{_where(error)}: {error['msg']}" for error in errors]
    return "; ".join(parts)[:1000]


def _where(error: Any) -> str:
    """The field an error is about; the schema union's tag (the version, an int) is left out of it."""
    if error["type"] == "union_tag_invalid":
        return "schema_version"
    loc = error["loc"][1:] if error["loc"] and isinstance(error["loc"][0], int) else error["loc"]
    return ".".join(str(part) for part in loc) or "message"


def _sync_of(value: bytes) -> tuple[str | None, Channel | None, str | None]:
    """(sync_id, channel, attempt) of an invalid message when the first two can be read (the attempt when
    it is a short text)."""
    try:
        payload = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None, None, None
    if not isinstance(payload, dict):
        return None, None, None
    sync_id, channel, attempt = payload.get("sync_id"), payload.get("channel"), payload.get("attempt")
    if (
        not isinstance(sync_id, str)
        or not 0 < len(sync_id) <= 64
        or channel not in Channel._value2member_map_
    ):
        return None, None, None
    return (
        sync_id,
        Channel(str(channel)),
        attempt if isinstance(attempt, str) and len(attempt) <= 64 else None,
    )


def _unstorable(message: CampaignMessage) -> str | None:
    if isinstance(message, CampaignDaysFetched):
        return _unstorable_days(message.name, [day.__dict__ for day in message.days])
    return _unstorable_campaign(message.campaign.__dict__)


# The storability checks and the rows read a message's fields as a mapping: a model's ``__dict__`` (the slow
# path) or what ``checked_fast`` validated, so that one check and one row builder serve both paths.


def _unstorable_campaign(campaign: Mapping[str, Any]) -> str | None:
    if not campaign["cost"] <= MAX_COST:  # also false for NaN and infinity
        return f"campaign.cost: {campaign['cost']} cannot be stored (at most {MAX_COST})"
    if max(campaign["impressions"], campaign["clicks"], campaign["engagement"]) > MAX_BIGINT:
        return "campaign: a count exceeds 2^63 - 1"
    if "\x00" in campaign["name"]:
        return "campaign.name: contains a NUL character"
    return None


def _unstorable_days(name: str, days: Sequence[Mapping[str, Any]]) -> str | None:
    if "\x00" in name:
        return "name: contains a NUL character"
    for day in days:
        # One cheap test per day (clicks <= impressions is the contract's; inf and NaN fail the last).
        if (
            day["cost"] <= MAX_COST
            and day["impressions"] <= MAX_BIGINT
            and day["engagement"] <= MAX_BIGINT
            and day["conversions"] + day["revenue"] < _INFINITY
        ):
            continue
        if not day["cost"] <= MAX_COST:
            return f"days[{day['date']}].cost: {day['cost']} cannot be stored (at most {MAX_COST})"
        if max(day["impressions"], day["clicks"], day["engagement"]) > MAX_BIGINT:
            return f"days[{day['date']}]: a count exceeds 2^63 - 1"
        return f"days[{day['date']}]: conversions and revenue must be finite"
    return None


def campaign_values(message: CampaignFetched) -> CampaignValues:
    """The row to write."""
    return _campaign_row(message.__dict__, message.campaign.__dict__)


def _campaign_row(message: Mapping[str, Any], c: Mapping[str, Any]) -> CampaignValues:
    """``cost`` goes as the Decimal of its shortest repr ("18526.01"): a float would be sent as its exact
    binary expansion (some fifty digits), which costs both sides more to encode and parse."""
    return (
        c["campaign_id"],
        c["channel"].value,
        c["name"],
        c["date"],
        c["impressions"],
        c["clicks"],
        c["engagement"],
        Decimal(repr(c["cost"])),
        c["conversion_rate"],
        c["roi"],
        message["fetched_at"],
        message["sync_id"],
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
    rows: Sequence[DailyValues]  # in ascending date order, each date once (the contract's order of days)
    attempt: str | None = None


def campaign_days(message: CampaignDaysFetched) -> CampaignDays:
    """The daily rows to write."""
    return _campaign_days(message.__dict__, [day.__dict__ for day in message.days])


def _campaign_days(message: Mapping[str, Any], days: Sequence[Mapping[str, Any]]) -> CampaignDays:
    """``cost`` stays the message's float: the repository writes it as the decimal of its shortest repr, as
    ``campaign_values`` does (``demetra_loader.daily_copy``). ``fetched_at`` goes in UTC."""
    campaign_id, channel, fetched_at, sync_id = (
        message["campaign_id"],
        message["channel"].value,
        message["fetched_at"].astimezone(dt.UTC),
        message["sync_id"],
    )
    rows = [
        (
            campaign_id,
            day["date"],
            channel,
            day["impressions"],
            day["clicks"],
            day["engagement"],
            day["cost"],
            day["conversions"],
            day["revenue"],
            fetched_at,
            sync_id,
        )
        for day in days
    ]
    return CampaignDays(
        campaign_id, channel, message["name"], fetched_at, sync_id, rows, message.get("attempt")
    )


# ------------------------------------------------------------------------------------------- the fast path


_TYPED_DICT: Any = TypedDict  # called with a computed name and fields, which type checkers do not follow


def fields_of(model: type[BaseModel]) -> type:
    """A TypedDict of the model's fields, each with the model's own type and constraints (nested models
    likewise, as TypedDicts) and the model's config. Validating JSON into it checks every field as the model
    does at about half the cost, since no model instance is built. Every field is required (a missing one
    with a default is left to the model) and the model's validators are not run: ``checked_fast`` tests their
    conditions itself (``MIRRORED_VALIDATORS``)."""
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        annotation = _fields_type(info.annotation)
        fields[name] = Annotated[annotation, *info.metadata] if info.metadata else annotation
    mirror: type = _TYPED_DICT(f"{model.__name__}Fields", fields)
    config = {key: value for key, value in model.model_config.items() if key != "frozen"}
    mirror.__pydantic_config__ = ConfigDict(**config)  # type: ignore[attr-defined,typeddict-item]
    return mirror


def _fields_type(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return fields_of(annotation)
    if get_origin(annotation) is list:
        (item,) = get_args(annotation)
        return list[_fields_type(item)]  # type: ignore[misc]
    return annotation


# The contracts' validators whose conditions ``checked_fast`` tests itself; a unit test holds this to the
# contracts, so a validator added there fails it until the fast path tests its condition too.
MIRRORED_VALIDATORS: Final = {
    Campaign: {"_clicks_within_impressions"},
    CampaignFetched: {"_channel_matches"},
    CampaignDay: {"_clicks_within_impressions"},
    CampaignDaysFetched: {"_days_ascending", "_no_day_after_the_fetch"},
}
_SCHEMA_1_FIELDS: TypeAdapter[dict[str, Any]] = TypeAdapter(fields_of(CampaignFetched))
_SCHEMA_2_FIELDS: TypeAdapter[dict[str, Any]] = TypeAdapter(fields_of(CampaignDaysFetched))
_SCHEMA_1, _SCHEMA_2 = _PEEKED[1][0], _PEEKED[0][0]
_ONE_DAY = dt.timedelta(days=1)


def checked_fast(value: bytes | None) -> CampaignValues | CampaignDays | None:
    """The row (schema 1) or the daily rows (schema 2) of a message that begins as the contracts serialise
    it, has every field, is valid and can be stored; ``None`` for anything else, for
    ``check_campaign_record`` to judge: it never accepts what that rejects, and gives the same rows."""
    if not value:
        return None
    try:
        if value.startswith(_SCHEMA_1):
            message = _SCHEMA_1_FIELDS.validate_json(value)
            campaign = message["campaign"]
            if (
                campaign["clicks"] <= campaign["impressions"]
                and campaign["channel"] is message["channel"]
                and _unstorable_campaign(campaign) is None
            ):
                return _campaign_row(message, campaign)
        elif value.startswith(_SCHEMA_2):
            message = _SCHEMA_2_FIELDS.validate_json(value)
            days = message["days"]
            if (
                _days_valid(days, message["fetched_at"].astimezone(dt.UTC).date() + _ONE_DAY)
                and _unstorable_days(message["name"], days) is None
            ):
                return _campaign_days(message, days)
    except ValidationError:
        pass
    return None


def _days_valid(days: Sequence[Mapping[str, Any]], last_allowed: dt.date) -> bool:
    """The conditions of the contract's validators on days: clicks within impressions each day, dates
    strictly ascending, none after the fetch's UTC day + 1."""
    previous = dt.date.min
    for day in days:
        date = day["date"]
        if not (previous < date and day["clicks"] <= day["impressions"]):
            return False
        previous = date
    return previous <= last_allowed
