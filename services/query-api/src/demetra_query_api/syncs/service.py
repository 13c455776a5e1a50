"""Syncs, the core: one sync's status, the history filtered by derived status, and sync requests."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import asyncpg
import orjson
from pydantic import ValidationError

from demetra_common.contracts import ALL_CHANNELS, Channel, SyncRequested, Trigger
from demetra_common.sync_status import ChannelState, SyncState, SyncStatus, settle
from demetra_query_api.cursors import SyncCursor
from demetra_query_api.ranges import DateRange
from demetra_query_api.syncs import repository

# demetra_syncs_recent counts at most this many syncs per pass.
MAX_RECENT_SYNCS = 2000


async def sync_status(
    connection: asyncpg.Connection, sync_id: str, *, now: dt.datetime, timeout: dt.timedelta
) -> SyncStatus | orjson.Fragment | None:
    stored = await repository.one_sync(connection, sync_id, finished_channels=False)
    return _served(stored, now=now, timeout=timeout) if stored is not None else None


def _served(
    sync: repository.StoredSync, *, now: dt.datetime, timeout: dt.timedelta
) -> SyncStatus | orjson.Fragment:
    """A running sync settled at ``now``; a finished one as the projection stored it (the same then)."""
    if sync.finished_status is not None:
        return orjson.Fragment(sync.finished_status)
    return settle(sync.facts, now=now, timeout=timeout)


@dataclass(frozen=True, slots=True)
class SyncPage:
    items: list[SyncStatus | orjson.Fragment]  # a finished sync's status is served as stored
    next_cursor: str | None


async def _history(
    connection: asyncpg.Connection,
    *,
    status: SyncState | None,
    trigger: Trigger | None,
    cursor: SyncCursor | None,
    limit: int,
    now: dt.datetime,
    timeout: dt.timedelta,
) -> tuple[list[repository.StoredSync], str | None]:
    stored = await repository.sync_page(
        connection,
        status=status,
        trigger=trigger,
        cutoff=now - timeout,
        after=(cursor.occurred_at, cursor.id) if cursor else None,
        limit=limit + 1,  # one more: is there a next page?
    )
    if len(stored) <= limit:
        return stored, None
    last = stored[limit - 1]
    return stored[:limit], SyncCursor(last.listed_at, last.listed_id).encode()


async def sync_history(
    connection: asyncpg.Connection,
    *,
    status: SyncState | None,
    trigger: Trigger | None,
    cursor: SyncCursor | None,
    limit: int,
    now: dt.datetime,
    timeout: dt.timedelta,
) -> SyncPage:
    """Syncs newest first (by their first event), filtered by derived status and trigger: one page of the
    sync projection (an index range per filter); a running sync settled at ``now``, a finished one as
    stored (the same at every moment)."""
    stored, next_cursor = await _history(
        connection, status=status, trigger=trigger, cursor=cursor, limit=limit, now=now, timeout=timeout
    )
    return SyncPage([_served(sync, now=now, timeout=timeout) for sync in stored], next_cursor)


async def recent_outcomes(
    connection: asyncpg.Connection, *, since: dt.datetime, now: dt.datetime, timeout: dt.timedelta
) -> Counter[tuple[SyncState, bool]]:
    """The syncs started since ``since`` (newest first, at most ``MAX_RECENT_SYNCS``), counted by (derived
    status, timed out). A finished sync never timed out: only an unfinished channel can."""
    counts: Counter[tuple[SyncState, bool]] = Counter()
    cursor: SyncCursor | None = None
    while True:
        stored, next_cursor = await _history(
            connection, status=None, trigger=None, cursor=cursor, limit=200, now=now, timeout=timeout
        )
        for sync in stored:
            if sync.facts.started_at < since:
                return counts
            if sync.finished_status is not None:
                counts[sync.state, False] += 1
            else:
                settled = settle(sync.facts, now=now, timeout=timeout)
                counts[settled.status, settled.timed_out] += 1
        if next_cursor is None or counts.total() >= MAX_RECENT_SYNCS:
            return counts
        cursor = SyncCursor.decode(next_cursor)


Publish = Callable[[SyncRequested], Awaitable[None]]


def new_sync_id() -> str:
    return f"api-{uuid.uuid4().hex[:16]}"


async def request_sync(
    publish: Publish,
    channels: Sequence[Channel] | None,
    *,
    backfill: DateRange | None = None,
    now: dt.datetime | None = None,
) -> SyncRequested:
    """Ask the ingestors for a sync of ``channels`` (all when None), of the ``backfill`` days if given (a
    range ``ranges.backfill_range`` accepted); returns the published request."""
    request = SyncRequested(
        sync_id=new_sync_id(),
        trigger=Trigger.API,
        channels=list(channels) if channels else list(ALL_CHANNELS),
        date_from=backfill.first if backfill else None,
        date_to=backfill.last if backfill else None,
        **({"requested_at": now} if now else {}),
    )
    await publish(request)
    return request


class NothingToRetry(Exception):
    """The sync has no failed channel (or no recorded request to repeat): the reason."""


@dataclass(frozen=True, slots=True)
class RetryPlan:
    """The sync's status now, and the request that re-asks for its failed channels."""

    status: SyncStatus
    request: SyncRequested


async def plan_retry(
    connection: asyncpg.Connection,
    sync_id: str,
    *,
    now: dt.datetime,
    timeout: dt.timedelta,
) -> RetryPlan | None:
    """The request that re-fetches the failed channels of ``sync_id``, or None when the sync is unknown.

    The retry is the sync's first recorded request again (its payload is in the projection: same sync_id,
    as-of, slot and days, so the same data is asked for) naming only the channels whose status is failed
    (timed out included), with a new event_id and trigger api. The ingestors fetch it because a failed
    channel has no completed fetch; a completed channel, were it named, would be skipped. Raises
    ``NothingToRetry`` when no channel failed.
    """
    stored = await repository.one_sync(connection, sync_id)
    if stored is None:
        return None
    facts = stored.facts
    status = settle(facts, now=now, timeout=timeout)
    failed = [channel.channel for channel in status.channels if channel.status is ChannelState.FAILED]
    if not failed:
        states = ", ".join(f"{c.channel.value} {c.status.value}" for c in status.channels) or "no channel"
        raise NothingToRetry(f"sync {sync_id} has no failed channel to retry ({states})")
    try:
        original = SyncRequested.model_validate(facts.request) if facts.request is not None else None
    except ValidationError:
        original = None
    if original is None:
        raise NothingToRetry(f"sync {sync_id} has no recorded request to repeat")
    retry = original.model_copy(update={"event_id": uuid.uuid4(), "trigger": Trigger.API, "channels": failed})
    return RetryPlan(status, retry)
