"""Opaque keyset cursors: where the previous page ended, as base64url JSON the client passes back unchanged.

A cursor holds the sort it was made for and the (sort key, id) of the last row served; the next page starts
strictly after it. Because ids are unique, rows inserted while a client pages never shift the pages it has
not read yet: no repeats and no gaps among the rows that existed when paging started.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import math
import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

import orjson
from sqlalchemy import BigInteger, Date, DateTime, Float, Numeric, Text

from demetra_common.tables import CAMPAIGN_SORT_KEYS, CampaignSort

VERSION = 1
MAX_ID = 2**63 - 1
# Room for the longest sort key: a campaign name (at most 255 characters, up to 4 bytes each in UTF-8).
MAX_CURSOR_LENGTH = 2048


class InvalidCursor(ValueError):
    """The cursor was not made by this API for this kind of request."""


# The campaign list's sort keys (declared once, with their indexes, in demetra_common.tables).
SortField = CampaignSort


class InsightSort(StrEnum):
    """Orders of the insights list, each newest/biggest first with an index ending in id."""

    MONEY = "money"  # money_at_stake desc
    TIME = "time"  # opened_at desc


class SortOrder(StrEnum):
    ASC = "asc"
    DESC = "desc"


SortKey = dt.date | dt.datetime | int | float | Decimal | str


def _encode(payload: list[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(payload)).rstrip(b"=").decode()


def _decode(cursor: str) -> list[Any]:
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise InvalidCursor("cursor is too long")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError) as exc:
        raise InvalidCursor("cursor is not one this API issued") from exc
    if not isinstance(payload, list) or not payload or payload[0] != VERSION:
        raise InvalidCursor("cursor is not one this API issued")
    return payload


def _valid_id(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ID:
        raise InvalidCursor("cursor is not one this API issued")
    return value


@dataclass(frozen=True, slots=True)
class CampaignCursor:
    sort: SortField
    order: SortOrder
    key: SortKey
    id: int

    def encode(self) -> str:
        key: Any = self.key
        if isinstance(key, dt.date | Decimal):  # dates and datetimes as ISO text, cost as exact decimal text
            key = key.isoformat() if isinstance(key, dt.date) else str(key)
        return _encode([VERSION, self.sort.value, self.order.value, key, self.id])

    @classmethod
    def decode(cls, cursor: str, sort: SortField, order: SortOrder) -> CampaignCursor:
        payload = _decode(cursor)
        if len(payload) != 5:
            raise InvalidCursor("cursor is not one this API issued")
        _, cursor_sort, cursor_order, raw_key, raw_id = payload
        if cursor_sort != sort.value or cursor_order != order.value:
            raise InvalidCursor(
                f"cursor was made for sort={cursor_sort}&order={cursor_order}; "
                f"repeat that sort or start again without a cursor"
            )
        return cls(sort, order, _parse_key(sort, raw_key), _valid_id(raw_id))


def _parse_key(sort: SortField, raw: Any) -> SortKey:
    """The sort key ``raw`` as the type of its column (CAMPAIGN_SORT_KEYS); anything else is refused."""
    try:
        key = _key_of(CAMPAIGN_SORT_KEYS[sort].type, raw)
    except (ValueError, InvalidOperation) as exc:
        raise InvalidCursor("cursor is not one this API issued") from exc
    if key is None:
        raise InvalidCursor("cursor is not one this API issued")
    return key


def _key_of(kind: Any, raw: Any) -> SortKey | None:
    number = isinstance(raw, int | float) and not isinstance(raw, bool)
    if isinstance(kind, DateTime):
        moment = dt.datetime.fromisoformat(raw) if isinstance(raw, str) else None
        return moment if moment is not None and moment.tzinfo is not None else None
    if isinstance(kind, Date):
        return dt.date.fromisoformat(raw) if isinstance(raw, str) else None
    if isinstance(kind, Float):  # doubles: roi, conversion rate, the rates
        return float(raw) if number and math.isfinite(raw) else None
    if isinstance(kind, Numeric):  # cost: exact decimal text
        cost = Decimal(raw) if isinstance(raw, str) else None
        return cost if cost is not None and cost.is_finite() and abs(cost) < Decimal("1e15") else None
    if isinstance(kind, BigInteger):
        return raw if number and isinstance(raw, int) and abs(raw) <= MAX_ID else None
    if isinstance(kind, Text):  # campaign_id, name
        return raw if isinstance(raw, str) and 0 < len(raw) <= 255 and "\x00" not in raw else None
    return None


@dataclass(frozen=True, slots=True)
class SyncCursor:
    """Position in the sync history: the (occurred_at, id) of the first event of the last sync served."""

    occurred_at: dt.datetime
    id: int

    def encode(self) -> str:
        return _encode([VERSION, "sync", self.occurred_at.isoformat(), self.id])

    @classmethod
    def decode(cls, cursor: str) -> SyncCursor:
        payload = _decode(cursor)
        if len(payload) != 4 or payload[1] != "sync" or not isinstance(payload[2], str):
            raise InvalidCursor("cursor is not one this API issued")
        try:
            occurred_at = dt.datetime.fromisoformat(payload[2])
        except ValueError as exc:
            raise InvalidCursor("cursor is not one this API issued") from exc
        if occurred_at.tzinfo is None:
            raise InvalidCursor("cursor is not one this API issued")
        return cls(occurred_at, _valid_id(payload[3]))


@dataclass(frozen=True, slots=True)
class RestatementCursor:
    """Position in the restatements, newest first: the id of the last one served."""

    id: int

    def encode(self) -> str:
        return _encode([VERSION, "restatement", self.id])

    @classmethod
    def decode(cls, cursor: str) -> RestatementCursor:
        payload = _decode(cursor)
        if len(payload) != 3 or payload[1] != "restatement":
            raise InvalidCursor("cursor is not one this API issued")
        return cls(_valid_id(payload[2]))


@dataclass(frozen=True, slots=True)
class InsightCursor:
    """Position in the insights, biggest or newest first: the (money_at_stake or opened_at, id) of the last
    insight served."""

    sort: InsightSort
    key: float | dt.datetime
    id: uuid.UUID

    def encode(self) -> str:
        key = self.key.isoformat() if isinstance(self.key, dt.datetime) else self.key
        return _encode([VERSION, "insight", self.sort.value, key, str(self.id)])

    @classmethod
    def decode(cls, cursor: str, sort: InsightSort) -> InsightCursor:
        payload = _decode(cursor)
        if len(payload) != 5 or payload[1] != "insight" or not isinstance(payload[4], str):
            raise InvalidCursor("cursor is not one this API issued")
        if payload[2] != sort.value:
            raise InvalidCursor(f"cursor was made for sort={payload[2]}; repeat that sort or start again")
        try:
            return cls(sort, _insight_key(sort, payload[3]), uuid.UUID(payload[4]))
        except ValueError as exc:
            raise InvalidCursor("cursor is not one this API issued") from exc


def _insight_key(sort: InsightSort, raw: Any) -> float | dt.datetime:
    if sort is InsightSort.MONEY:
        if isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw):
            return float(raw)
    elif isinstance(raw, str):
        moment = dt.datetime.fromisoformat(raw)
        if moment.tzinfo is not None:
            return moment
    raise ValueError("not a sort key")
