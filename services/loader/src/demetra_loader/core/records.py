"""Judging one record: is it a campaign.fetched message the loader can store, and which row would it write.

Pure and cheap: ``check_campaign_record`` runs for every record consumed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol, TypeAlias

import orjson
from pydantic import ValidationError

from demetra_common.contracts import CampaignFetched, Channel
from demetra_loader.repository import CampaignValues

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


Verdict: TypeAlias = CampaignFetched | Rejection


def check_campaign_record(value: bytes | None) -> Verdict:
    """The validated message, or why it cannot be loaded."""
    if not value:
        return Rejection(RejectCode.INVALID_JSON, "empty message")
    try:
        message = CampaignFetched.model_validate_json(value)
    except ValidationError as exc:
        return rejection_for(exc, value)
    if problem := _unstorable(message):
        return Rejection(RejectCode.INVALID_MESSAGE, problem, message.sync_id, message.channel)
    return message


def rejection_for(exc: ValidationError, value: bytes | None = None) -> Rejection:
    """Why a message failed validation; given its ``value``, also whose sync it names, when it can be read
    (so that it is counted as rejected for that sync)."""
    errors = exc.errors(include_url=False, include_input=False)
    detail = _describe(errors)
    if any(error["type"] == "json_invalid" for error in errors):
        return Rejection(RejectCode.INVALID_JSON, detail)
    sync_id, channel = _sync_and_channel_of(value) if value is not None else (None, None)
    if any(error["loc"] == ("schema_version",) for error in errors):
        return Rejection(RejectCode.UNKNOWN_SCHEMA_VERSION, detail, sync_id, channel)
    return Rejection(RejectCode.INVALID_MESSAGE, detail, sync_id, channel)


def _describe(errors: Sequence[Any]) -> str:
    parts = [
        f"{'.'.join(str(part) for part in error['loc']) or 'message'}: {error['msg']}" for error in errors
    ]
    return "; ".join(parts)[:1000]


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


def _unstorable(message: CampaignFetched) -> str | None:
    campaign = message.campaign
    if not campaign.cost <= MAX_COST:  # also false for NaN and infinity
        return f"campaign.cost: {campaign.cost} cannot be stored (at most {MAX_COST})"
    if max(campaign.impressions, campaign.clicks, campaign.engagement) > MAX_BIGINT:
        return "campaign: a count exceeds 2^63 - 1"
    if "\x00" in campaign.name:
        return "campaign.name: contains a NUL character"
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
