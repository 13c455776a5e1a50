"""Syncs, the core: one sync's status, the history filtered by derived status, and sync requests."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

import asyncpg
from pydantic import ValidationError

from demetra_common.contracts import ALL_CHANNELS, Channel, EventType, SyncRequested, Trigger
from demetra_query_api.cursors import SyncCursor
from demetra_query_api.ranges import DateRange
from demetra_query_api.syncs import repository
from demetra_query_api.syncs.status import ChannelState, SyncState, SyncStatus, derive_sync

# The history walk stops after this many syncs per request, so a rare status filter cannot turn one request
# into a scan of the whole history: the page then holds fewer items and `next` continues from there.
MAX_SYNCS_SCANNED = 2000


async def sync_status(
    connection: asyncpg.Connection, sync_id: str, *, now: dt.datetime, timeout: dt.timedelta
) -> SyncStatus | None:
    groups = await repository.sync_event_groups(connection, [sync_id])
    if sync_id not in groups:
        return None
    return derive_sync(sync_id, groups[sync_id], now=now, timeout=timeout)


@dataclass(frozen=True, slots=True)
class SyncPage:
    items: list[SyncStatus]
    next_cursor: str | None


async def sync_history(
    connection: asyncpg.Connection,
    *,
    status: SyncState | None,
    trigger: Trigger | None,
    cursor: SyncCursor | None,
    limit: int,
    now: dt.datetime,
    timeout: dt.timedelta,
    max_scanned: int = MAX_SYNCS_SCANNED,
) -> SyncPage:
    """Syncs newest first (by their first event), filtered by derived status and trigger."""
    items: list[SyncStatus] = []
    position = (cursor.occurred_at, cursor.id) if cursor else None
    filtered = status is not None or trigger is not None
    scanned = 0
    while True:
        wanted = limit - len(items)
        batch = min(max(4 * wanted, 50) if filtered else wanted, max_scanned - scanned)
        heads = await repository.sync_heads(connection, position, batch + 1)  # one more: is there a next?
        more = len(heads) > batch
        heads = heads[:batch]
        groups = await repository.sync_event_groups(connection, [head.sync_id for head in heads])
        for index, head in enumerate(heads):
            scanned += 1
            position = (head.occurred_at, head.id)
            if head.sync_id not in groups:  # its rows vanished between the two queries
                continue
            view = derive_sync(head.sync_id, groups[head.sync_id], now=now, timeout=timeout)
            if (status is None or view.status is status) and (trigger is None or view.trigger is trigger):
                items.append(view)
            if len(items) == limit:
                has_more = more or index < len(heads) - 1
                return SyncPage(items, SyncCursor(*position).encode() if has_more else None)
        if not more:
            return SyncPage(items, None)
        if scanned >= max_scanned and position is not None:
            return SyncPage(items, SyncCursor(*position).encode())


async def recent_outcomes(
    connection: asyncpg.Connection, *, since: dt.datetime, now: dt.datetime, timeout: dt.timedelta
) -> Counter[tuple[SyncState, bool]]:
    """The syncs started since ``since`` (newest first, at most ``MAX_SYNCS_SCANNED``), counted by
    (derived status, timed out)."""
    counts: Counter[tuple[SyncState, bool]] = Counter()
    cursor: SyncCursor | None = None
    while True:
        page = await sync_history(
            connection, status=None, trigger=None, cursor=cursor, limit=200, now=now, timeout=timeout
        )
        for item in page.items:
            if item.started_at < since:
                return counts
            counts[item.status, item.timed_out] += 1
        if page.next_cursor is None or counts.total() >= MAX_SYNCS_SCANNED:
            return counts
        cursor = SyncCursor.decode(page.next_cursor)


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

    The retry is the sync's first recorded request again (same sync_id, as-of, slot and days, so the same
    data is asked for) naming only the channels whose status is failed (timed out included), with a new
    event_id and trigger api. The ingestors fetch it because a failed channel has no completed fetch; a
    completed channel, were it named, would be skipped. Raises ``NothingToRetry`` when no channel failed.
    """
    groups = (await repository.sync_event_groups(connection, [sync_id])).get(sync_id)
    if not groups:
        return None
    status = derive_sync(sync_id, groups, now=now, timeout=timeout)
    failed = [channel.channel for channel in status.channels if channel.status is ChannelState.FAILED]
    if not failed:
        states = ", ".join(f"{c.channel.value} {c.status.value}" for c in status.channels) or "no channel"
        raise NothingToRetry(f"sync {sync_id} has no failed channel to retry ({states})")
    original = _first_request(g.requests for g in groups if g.type == EventType.SYNC_REQUESTED)
    if original is None:
        raise NothingToRetry(f"sync {sync_id} has no recorded request to repeat")
    retry = original.model_copy(update={"event_id": uuid.uuid4(), "trigger": Trigger.API, "channels": failed})
    return RetryPlan(status, retry)


def _first_request(payloads: Iterable[Sequence[object]]) -> SyncRequested | None:
    requests = []
    for group in payloads:
        for payload in group:
            try:
                requests.append(SyncRequested.model_validate(payload))
            except ValidationError:
                continue
    return min(requests, key=lambda request: request.requested_at, default=None)
