"""The sync projection: tables ``syncs`` and ``sync_channels`` (``demetra_common.tables``), one row per sync
and per (sync, channel), holding what the sync's events say the clock aside (``sync_status.SyncFacts``).

Whoever records event rows keeps the projection in the same transaction: ``record_events`` inserts rows
(ignoring event_ids already recorded) and refreshes the syncs that gained one; the loader's batches, which
write their ``load`` rows in a statement of their own, call ``refresh_syncs`` with the syncs of the rows
that were new. An event delivered twice is no new row, so it changes nothing.

A refresh re-derives each sync from all its event rows (the index on ``events (sync_id, occurred_at)``; a
sync has tens of rows), with the one rule (``sync_status.sync_facts``), and upserts its rows. It first takes
a transaction-scoped advisory lock per sync (in sync_id order), so two transactions that add rows to one
sync take turns: the second reads the events after the first committed, and the stored facts are never
those of a transaction that missed the other's rows. The migration that created the projection
(``0500``) and the benchmarks fill it with ``backfill_syncs``: the same refresh over every sync.

Statements take text and cast it (payloads, JSON rows), so they work on any asyncpg connection whatever
codecs it has (the loader's, the query API's, SQLAlchemy's under Alembic).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg
import orjson
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Numeric,
    Text,
    any_,
    bindparam,
    case,
    cast,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect

from demetra_common.contracts import EventType
from demetra_common.sync_status import EventGroup, SyncFacts, finished_status, outcome, sync_facts
from demetra_common.tables import SYNC_CHANNEL_STATUS_COLUMNS, EventRow, SyncChannelRow, SyncRow

# One row of ``events``: event_id, sync_id, channel, type, payload (JSON text), occurred_at.
EventValues = tuple[uuid.UUID, str, str | None, str, str, dt.datetime]

_INSERT_EVENTS = """
INSERT INTO events (event_id, sync_id, channel, type, payload, occurred_at)
SELECT e.event_id, e.sync_id, e.channel, e.type, e.payload::jsonb, e.occurred_at
  FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])
       AS e(event_id, sync_id, channel, type, payload, occurred_at)
ON CONFLICT (event_id) DO NOTHING
RETURNING sync_id
"""


def insert_events_sql(first_parameter: int = 1) -> str:
    """The insert of event rows (parameters ``$first_parameter`` .. +5: one array per column of
    ``EventValues``) returning the sync_id of each new row, for a statement that does more around it."""
    sql = _INSERT_EVENTS
    for number in range(6, 0, -1):
        sql = sql.replace(f"${number}::", f"${number + first_parameter - 1}::")
    return sql


def event_columns(rows: Sequence[EventValues]) -> list[list[Any]]:
    """Rows as one list per column, the parameters of ``insert_events_sql``."""
    columns: list[list[Any]] = [[] for _ in range(6)]
    for row in rows:
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    return columns


async def record_events(connection: asyncpg.Connection, rows: Sequence[EventValues]) -> int:
    """Insert event rows, ignoring event_ids already recorded, and refresh the projection of the syncs that
    gained a row, in the caller's transaction; returns how many rows were new."""
    if not rows:
        return 0
    new = await connection.fetch(_INSERT_EVENTS, *event_columns(rows))
    await refresh_syncs(connection, {row[0] for row in new})
    return len(new)


# ------------------------------------------------------------------------------------------ the refresh

_LOCK_SYNCS = """
SELECT count(pg_advisory_xact_lock(hashtextextended('demetra.sync/' || s.sync_id, 0)))
  FROM unnest($1::text[]) WITH ORDINALITY AS s(sync_id, n)
"""

events = EventRow.__table__.c


def _number(key: str) -> ColumnElement[Any]:
    """A numeric payload field, or NULL if the payload holds something else there (never an error)."""
    field = events.payload[key]
    return case((func.jsonb_typeof(field) == "number", cast(field.astext, Numeric)))


def _load_sum(key: str) -> ColumnElement[Any]:
    total = func.coalesce(func.sum(_number(key)).filter(events.type == EventType.LOAD.value), 0)
    return cast(total, BigInteger).label(key)


def _text_bound(key: str, kind: EventType, *, largest: bool) -> ColumnElement[Any]:
    """The smallest or largest text of a payload field over the events of one type (NULL where the
    payload holds no text there)."""
    field = case((func.jsonb_typeof(events.payload[key]) == "string", events.payload[key].astext))
    aggregate = func.max(field) if largest else func.min(field)
    return aggregate.filter(events.type == kind.value).label(key)


# The fetch attempt an event belongs to (the rule counts one attempt per channel); NULL where none is named.
_ATTEMPT = events.payload["attempt"].astext.label("attempt")

# Each sync's event rows aggregated per (channel, type, attempt): the EventGroups the rule reads, after the
# sync_id and the id of the group's first row (by occurred_at, then id: the list's order).
_SYNC_GROUPS = (
    select(
        events.sync_id,
        func.array_agg(aggregate_order_by(events.id, events.occurred_at, events.id))[1].label("first_id"),
        events.type,
        events.channel,
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
        cast(
            func.jsonb_agg(events.payload).filter(events.type == EventType.SYNC_REQUESTED.value), Text
        ).label("requests"),
        _ATTEMPT,
        func.count().label("events"),
    )
    .where(events.sync_id == any_(bindparam("sync_ids", type_=ARRAY(Text))))
    .group_by(events.sync_id, events.channel, events.type, _ATTEMPT)
)
_COMPILED_GROUPS = _SYNC_GROUPS.compile(dialect=asyncpg_dialect())  # type: ignore[no-untyped-call]
_SYNC_GROUPS_PARAMETERS = tuple(_COMPILED_GROUPS.positiontup or ())


def _group_arguments(sync_ids: list[str]) -> list[Any]:
    """The statement's positional values: the sync ids, and the literals SQLAlchemy bound."""
    values = {**_COMPILED_GROUPS.params, "sync_ids": sync_ids}
    return [values[name] for name in _SYNC_GROUPS_PARAMETERS]


_SYNC_COLUMNS = tuple(column.name for column in SyncRow.__table__.columns if column.name != "updated_at")
_CHANNEL_COLUMNS = ("sync_id", *SYNC_CHANNEL_STATUS_COLUMNS, "announced")


def _upsert(table: str, columns: Sequence[str], key: Sequence[str], parameter: int) -> str:
    names = ", ".join(columns)
    changed = [column for column in columns if column not in key]
    return f"""
    INSERT INTO {table} AS t ({names}, updated_at)
    SELECT {names}, now() FROM jsonb_populate_recordset(NULL::{table}, ${parameter}::text::jsonb)
    ON CONFLICT ({", ".join(key)}) DO UPDATE
       SET ({", ".join(changed)}, updated_at) = ROW({", ".join(f"excluded.{c}" for c in changed)}, now())
     WHERE ({", ".join(f"t.{c}" for c in changed)}) IS DISTINCT FROM
           ({", ".join(f"excluded.{c}" for c in changed)})
    """


# Both tables in one statement (JSON rows keyed by column name: the facts' own field names); a row whose
# facts did not change is left alone.
_UPSERT_PROJECTION = f"""
WITH channels AS ({_upsert(SyncChannelRow.__tablename__, _CHANNEL_COLUMNS, ("sync_id", "channel"), 2)})
{_upsert(SyncRow.__tablename__, _SYNC_COLUMNS, ("sync_id",), 1)}
"""


def _groups_by_sync(
    records: Sequence[asyncpg.Record],
) -> dict[str, tuple[list[EventGroup], tuple[dt.datetime, int]]]:
    """Each sync's groups, and its first row's (occurred_at, events id)."""
    found: dict[str, tuple[list[EventGroup], tuple[dt.datetime, int]]] = {}
    # Positional, in the select's column order (EventGroup's, after the sync_id and the first id).
    for sync_id, first_id, kind, channel, *facts, requests, attempt, count in records:
        group = EventGroup(kind, channel, *facts, orjson.loads(requests) if requests else (), attempt, count)  # type: ignore[call-arg]
        first = (group.first_at, first_id)
        groups, listed = found.get(sync_id, ([], first))
        groups.append(group)
        found[sync_id] = (groups, min(listed, first))
    return found


def _sync_row(facts: SyncFacts, listed: tuple[dt.datetime, int]) -> dict[str, Any]:
    """The ``syncs`` row of these facts, listed at the sync's first event (occurred_at, events id)."""
    result = outcome(facts)
    finished = finished_status(facts)
    return {
        "sync_id": facts.sync_id,
        "listed_at": listed[0],
        "listed_id": listed[1],
        "trigger": facts.trigger,
        "request_seen": facts.request_seen,
        "requested_at": facts.requested_at,
        "date_from": facts.date_from,
        "date_to": facts.date_to,
        "started_at": facts.started_at,
        "idle_since": facts.idle_since,
        "requested": facts.requested,
        "request": facts.request,
        "state": result.state,
        "timed_out_state": result.timed_out_state,
        "idle_at": result.idle_at,
        "finished_status": orjson.dumps(finished).decode() if finished is not None else None,
    }


def _channel_rows(facts: SyncFacts, announced: set[str | None]) -> list[dict[str, Any]]:
    """The ``sync_channels`` rows of these facts: each ChannelStatus, field by field."""
    return [
        {
            "sync_id": facts.sync_id,
            **{name: getattr(channel, name) for name in SYNC_CHANNEL_STATUS_COLUMNS},
            "announced": channel.channel.value in announced,
        }
        for channel in facts.channels
    ]


async def refresh_syncs(connection: asyncpg.Connection, sync_ids: Sequence[str] | set[str]) -> None:
    """Re-derive these syncs from their event rows and store their facts, in the caller's transaction."""
    wanted = sorted(set(sync_ids))
    if not wanted:
        return
    if not connection.is_in_transaction():  # the locks would end with their own statement
        raise RuntimeError("refresh_syncs needs a transaction: the projection is written with its events")
    await connection.fetchval(_LOCK_SYNCS, wanted)  # in sync_id order: no two refreshes deadlock
    records = await connection.fetch(_COMPILED_GROUPS.string, *_group_arguments(wanted))
    syncs: list[dict[str, Any]] = []
    channels: list[dict[str, Any]] = []
    for sync_id, (groups, listed) in _groups_by_sync(records).items():
        facts = sync_facts(sync_id, groups)
        syncs.append(_sync_row(facts, listed))
        channels.extend(
            _channel_rows(facts, {g.channel for g in groups if g.type == EventType.LOAD_ANNOUNCED})
        )
    if syncs:
        await connection.execute(_UPSERT_PROJECTION, _json(syncs), _json(channels))


def _json(rows: list[dict[str, Any]]) -> str:
    return orjson.dumps(rows).decode()


_NEXT_SYNC_IDS = """
SELECT DISTINCT sync_id FROM events WHERE $1::text IS NULL OR sync_id > $1 ORDER BY sync_id LIMIT $2
"""


async def backfill_syncs(connection: asyncpg.Connection, *, chunk: int = 1000) -> int:
    """Refresh every sync that has event rows, ``chunk`` syncs per refresh; returns how many."""
    done, last = 0, None
    while True:
        sync_ids = [row[0] for row in await connection.fetch(_NEXT_SYNC_IDS, last, chunk)]
        if not sync_ids:
            return done
        await refresh_syncs(connection, sync_ids)
        done, last = done + len(sync_ids), sync_ids[-1]
