"""The sync statements: the history walk (each sync's first event, newest first) and the event aggregates
a sync's status is derived from."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import asyncpg
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    Numeric,
    Text,
    any_,
    bindparam,
    case,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by

from demetra_common.contracts import EventType
from demetra_common.tables import EventRow
from demetra_query_api.statements import Statement, compile_statement
from demetra_query_api.syncs.status import EventGroup

events = EventRow.__table__.c
_earlier = EventRow.__table__.alias("earlier")


@lru_cache(maxsize=4)
def _sync_heads_statement(after: bool) -> Statement:
    # The first event of each sync (by occurred_at, then id), newest first: a sync is listed from whichever
    # row came first, so syncs known only from fetch or load rows are listed too.
    has_earlier = exists(
        select(literal(1)).where(
            _earlier.c.sync_id == events.sync_id,
            _earlier.c.occurred_at <= events.occurred_at,
            or_(_earlier.c.occurred_at < events.occurred_at, _earlier.c.id < events.id),
        )
    )
    statement = select(events.sync_id, events.occurred_at, events.id).where(~has_earlier)
    if after:
        bound = tuple_(
            bindparam("after_at", type_=DateTime(timezone=True)), bindparam("after_id", type_=BigInteger)
        )
        statement = statement.where(tuple_(events.occurred_at, events.id) < bound)
    statement = statement.order_by(events.occurred_at.desc(), events.id.desc())
    return compile_statement(statement.limit(bindparam("limit", type_=BigInteger)))


@dataclass(frozen=True, slots=True)
class SyncHead:
    sync_id: str
    occurred_at: dt.datetime
    id: int


async def sync_heads(
    connection: asyncpg.Connection, after: tuple[dt.datetime, int] | None, limit: int
) -> list[SyncHead]:
    values: dict[str, Any] = {"limit": limit}
    if after is not None:
        values["after_at"], values["after_id"] = after
    records = await _sync_heads_statement(after is not None).fetch(connection, **values)
    return [SyncHead(r["sync_id"], r["occurred_at"], r["id"]) for r in records]


def _number(key: str) -> ColumnElement[Any]:
    """A numeric payload field, or NULL if the payload holds something else there (never an error)."""
    field = events.payload[key]
    return case((func.jsonb_typeof(field) == "number", cast(field.astext, Numeric)))


def _load_sum(key: str) -> ColumnElement[Any]:
    total = func.coalesce(func.sum(_number(key)).filter(events.type == EventType.LOAD.value), 0)
    return cast(total, BigInteger).label(key)  # bigint decodes far cheaper than numeric


def _text_bound(key: str, kind: EventType, *, largest: bool) -> ColumnElement[Any]:
    """The smallest or largest text of a payload field over the events of one type (NULL where the
    payload holds no text there)."""
    field = case((func.jsonb_typeof(events.payload[key]) == "string", events.payload[key].astext))
    aggregate = func.max(field) if largest else func.min(field)
    return aggregate.filter(events.type == kind.value).label(key)


# The fetch attempt an event belongs to (status.py counts one attempt per channel); NULL where none is named.
_ATTEMPT = events.payload["attempt"].astext.label("attempt")

_SYNC_GROUPS = compile_statement(
    select(
        events.sync_id,
        events.channel,
        events.type,
        func.min(events.occurred_at).label("first_at"),
        func.max(events.occurred_at).label("last_at"),
        func.max(events.recorded_at).label("last_recorded_at"),
        cast(
            func.max(_number("count")).filter(events.type == EventType.FETCH_COMPLETED.value), BigInteger
        ).label("count"),
        _load_sum("inserted"),
        _load_sum("updated"),
        _load_sum("unchanged"),
        _load_sum("rejected"),
        func.array_agg(aggregate_order_by(events.payload["error"].astext, events.occurred_at.desc()))
        .filter(events.type == EventType.FETCH_FAILED.value)[1]
        .label("last_error"),
        # Daily rows: summed over the load rows; the newest (largest) a fetch event reported otherwise.
        cast(
            case(
                (events.type == EventType.LOAD.value, func.sum(_number("rows"))),
                else_=func.max(_number("rows")),
            ),
            BigInteger,
        ).label("rows"),
        _load_sum("restated"),
        # Days as the payload's ISO text (which sorts as the dates do); the status rule parses them.
        _text_bound("date_from", EventType.FETCH_STARTED, largest=False),
        _text_bound("date_to", EventType.FETCH_STARTED, largest=True),
        _text_bound("through", EventType.FETCH_PROGRESS, largest=True),
        func.jsonb_agg(events.payload)
        .filter(events.type == EventType.SYNC_REQUESTED.value)
        .label("requests"),
        _ATTEMPT,
        func.count().label("events"),
    )
    .where(events.sync_id == any_(bindparam("sync_ids", type_=ARRAY(Text))))
    .group_by(events.sync_id, events.channel, events.type, _ATTEMPT)
)


async def sync_event_groups(
    connection: asyncpg.Connection, sync_ids: Sequence[str]
) -> dict[str, list[EventGroup]]:
    """The event aggregates of each sync, per (channel, type, attempt)."""
    records = await _SYNC_GROUPS.fetch(connection, sync_ids=list(sync_ids))
    groups: dict[str, list[EventGroup]] = {}
    # Positional, in the select's column order (which is EventGroup's after the type and channel): by-name
    # lookups cost more than the query here.
    for sync_id, channel, kind, *facts, requests, attempt, count in records:
        group = EventGroup(kind, channel, *facts, requests or (), attempt, count)  # type: ignore[call-arg]
        groups.setdefault(sync_id, []).append(group)
    return groups
