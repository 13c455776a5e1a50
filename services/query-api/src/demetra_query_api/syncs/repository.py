"""The sync statements, over the sync projection (``syncs`` and ``sync_channels``, which the loader keeps
with the events): one sync's facts, and a page of the history, newest first by the sync's first event."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import asyncpg
import orjson
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    Select,
    Text,
    and_,
    bindparam,
    literal_column,
    or_,
    select,
    true,
    tuple_,
    union_all,
)

from demetra_common.contracts import ALL_CHANNELS, Channel, Trigger
from demetra_common.sync_status import ChannelState, ChannelStatus, SyncFacts, SyncState
from demetra_common.tables import SYNC_CHANNEL_STATUS_COLUMNS, SyncChannelRow, SyncRow
from demetra_query_api.statements import Statement, compile_statement, constant

syncs = SyncRow.__table__.c
channels = SyncChannelRow.__table__.c

# The facts of a sync (SyncFacts' fields but its channels), then its position in the list.
_FACT_COLUMNS = (
    syncs.sync_id,
    syncs.trigger,
    syncs.request_seen,
    syncs.requested_at,
    syncs.date_from,
    syncs.date_to,
    syncs.started_at,
    syncs.idle_since,
    syncs.requested,
    syncs.request.cast(Text).label("request"),  # text: parsed only for a retry
)
_POSITION = (syncs.listed_at, syncs.listed_id)
_LISTED = (*_POSITION, syncs.state, syncs.finished_status)
_NEWEST_FIRST = (syncs.listed_at.desc(), syncs.listed_id.desc())
_CHANNEL_COLUMNS = tuple(channels[name] for name in SYNC_CHANNEL_STATUS_COLUMNS)


def _status_is(status: SyncState) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """A sync's derived status is ``status`` at ``cutoff`` (now - timeout) in one of two ways, each served
    by its own index: its ``state``, while some unfinished channel was heard from since the cutoff (or none
    is unfinished); its ``timed_out_state``, once every unfinished channel was silent since before it
    (``SyncOutcome.at``, in SQL). The status is a constant of the statement (``constant``)."""
    cutoff = bindparam("cutoff", type_=DateTime(timezone=True))
    state = constant(status.value)
    return (
        and_(syncs.state == state, or_(syncs.idle_at.is_(None), syncs.idle_at >= cutoff)),
        and_(syncs.timed_out_state == state, syncs.idle_at < cutoff),
    )


@lru_cache(maxsize=64)
def _page_statement(status: SyncState | None, trigger: Trigger | None, after: bool) -> Statement:
    """One page of syncs (``limit`` of them, newest first, after the cursor), the running ones with their
    channel rows (a finished sync's status is stored whole). A status filter reads two index ranges
    (``_status_is``), each at most ``limit`` rows, and merges them. The status and the trigger are
    constants of the statement (``constant``): one statement per filter value."""
    shared: list[ColumnElement[bool]] = []
    if trigger is not None:
        shared.append(syncs.trigger == constant(trigger.value))
    if after:
        bound = tuple_(
            bindparam("after_at", type_=DateTime(timezone=True)), bindparam("after_id", type_=BigInteger)
        )
        shared.append(tuple_(*_POSITION) < bound)
    limit = bindparam("limit", type_=BigInteger)
    branches: list[Select[Any]] = [
        select(*_FACT_COLUMNS, *_LISTED).where(*shared, *condition).order_by(*_NEWEST_FIRST).limit(limit)
        for condition in ([[]] if status is None else [[c] for c in _status_is(status)])
    ]
    if len(branches) == 1:
        page = branches[0].subquery("page")
    else:
        merged = union_all(*(branch.subquery().select() for branch in branches)).subquery("merged")
        page = (
            select(merged)
            .order_by(merged.c.listed_at.desc(), merged.c.listed_id.desc())
            .limit(limit)
            .subquery("page")
        )
    # The running syncs' channel rows, looked up sync by sync through the primary key. LATERAL with OFFSET 0
    # (which keeps PostgreSQL from flattening it into a plain join) makes that the only plan: the generic
    # plan, which the API runs (force_generic_plan), cannot tell that LIMIT $n is small and would otherwise
    # hash-join a sequential scan of sync_channels to the page.
    running = (
        select(*_CHANNEL_COLUMNS)
        .where(channels.sync_id == page.c.sync_id, page.c.finished_status.is_(None))
        .offset(literal_column("0"))
        .lateral("channel")
    )
    statement = (
        select(page, *running.c)
        .select_from(page.outerjoin(running, true()))
        .order_by(page.c.listed_at.desc(), page.c.listed_id.desc())
    )
    return compile_statement(statement)


def _one_sync_statement(finished_channels: bool) -> Statement:
    """One sync; the channel rows of a finished one only if ``finished_channels``."""
    joined = channels.sync_id == syncs.sync_id
    if not finished_channels:
        joined = and_(joined, syncs.finished_status.is_(None))
    return compile_statement(
        select(*_FACT_COLUMNS, *_LISTED, *_CHANNEL_COLUMNS)
        .select_from(SyncRow.__table__.outerjoin(SyncChannelRow, joined))
        .where(syncs.sync_id == bindparam("sync_id", type_=Text))
    )


_ONE_SYNC = {finished: _one_sync_statement(finished) for finished in (False, True)}


@dataclass(frozen=True, slots=True)
class StoredSync:
    """A sync as the projection holds it: its facts (a page reads a finished sync's without channels) and,
    when it is finished, its status as JSON; its position in the list and its state (the clock aside)."""

    facts: SyncFacts
    listed_at: dt.datetime
    listed_id: int
    state: SyncState
    finished_status: str | None


_FACTS = len(_FACT_COLUMNS)
_CHANNEL_ORDER = {channel.value: index for index, channel in enumerate(ALL_CHANNELS)}


def _stored_syncs(records: Sequence[asyncpg.Record]) -> list[StoredSync]:
    """Rows of (sync facts, listed, channel) joined, in list order, to one StoredSync per sync."""
    found: dict[str, tuple[tuple[Any, ...], list[ChannelStatus]]] = {}
    for row in records:
        record = tuple(row)
        sync_id = record[0]
        entry = found.get(sync_id)
        if entry is None:
            entry = found[sync_id] = (record, [])
        channel = record[_FACTS + len(_LISTED) :]
        if channel[0] is not None:
            # Positional: the columns are ChannelStatus' fields in order (SYNC_CHANNEL_STATUS_COLUMNS).
            entry[1].append(ChannelStatus(Channel(channel[0]), ChannelState(channel[1]), *channel[2:]))
    stored = []
    for record, channel_rows in found.values():
        channel_rows.sort(key=lambda channel: _CHANNEL_ORDER[channel.channel.value])
        trigger, request = record[1], record[9]
        sync = SyncFacts(
            sync_id=record[0],
            trigger=Trigger(trigger) if trigger is not None else None,
            request_seen=record[2],
            requested_at=record[3],
            date_from=record[4],
            date_to=record[5],
            started_at=record[6],
            idle_since=record[7],
            requested=record[8],
            channels=channel_rows,
            request=orjson.loads(request) if request is not None else None,
        )
        listed_at, listed_id, state, finished = record[_FACTS : _FACTS + len(_LISTED)]
        stored.append(StoredSync(sync, listed_at, listed_id, SyncState(state), finished))
    return stored


async def sync_page(
    connection: asyncpg.Connection,
    *,
    status: SyncState | None,
    trigger: Trigger | None,
    cutoff: dt.datetime,
    after: tuple[dt.datetime, int] | None,
    limit: int,
) -> list[StoredSync]:
    """Up to ``limit`` syncs newest first after ``after`` whose status at ``cutoff`` + timeout is
    ``status`` and whose trigger is ``trigger`` (each when given)."""
    values: dict[str, Any] = {"limit": limit}
    if status is not None:
        values["cutoff"] = cutoff
    if after is not None:
        values["after_at"], values["after_id"] = after
    statement = _page_statement(status, trigger, after is not None)
    return _stored_syncs(await statement.fetch(connection, **values))


async def one_sync(
    connection: asyncpg.Connection, sync_id: str, *, finished_channels: bool = True
) -> StoredSync | None:
    """One sync, or None; without ``finished_channels`` a finished sync's facts have no channels (its
    stored status has them)."""
    found = _stored_syncs(await _ONE_SYNC[finished_channels].fetch(connection, sync_id=sync_id))
    return found[0] if found else None
