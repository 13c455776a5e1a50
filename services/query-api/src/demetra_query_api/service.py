"""The query API's core: pages of campaigns, the metrics summary, sync status and sync requests.

No web framework here: the routes parse and validate, call these functions with a database connection (or
a publisher) and turn the results into responses.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg

from demetra_common.contracts import ALL_CHANNELS, Channel, SyncRequested, Trigger
from demetra_query_api import repository
from demetra_query_api.cursors import CampaignCursor, SortField, SortKey, SortOrder, SyncCursor
from demetra_query_api.db import Database, DatabaseUnavailable
from demetra_query_api.kpis import Totals
from demetra_query_api.repository import CAMPAIGN_FIELDS, CampaignFilters
from demetra_query_api.status import SyncState, SyncStatus, derive_sync

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------- campaigns


@dataclass(frozen=True, slots=True)
class CampaignPage:
    items: list[dict[str, Any]]
    next_cursor: str | None


def _sort_key(item: dict[str, Any], sort: SortField) -> SortKey:
    value = item[sort.value]
    # cost is numeric(14,2) in the table and a double in the response: its shortest repr is the exact decimal.
    return Decimal(repr(value)) if sort is SortField.COST else value


async def campaign_page(
    connection: asyncpg.Connection,
    filters: CampaignFilters,
    *,
    sort: SortField,
    order: SortOrder,
    cursor: CampaignCursor | None,
    limit: int,
) -> CampaignPage:
    """One page in (sort key, id) order; ``next_cursor`` is None on the last page."""
    after = (cursor.key, cursor.id) if cursor else None
    records = await repository.campaign_page(connection, filters, sort, order, after, limit + 1)
    # zip stops at the shorter side: the trailing row id stays out of the item.
    items = [dict(zip(CAMPAIGN_FIELDS, record, strict=False)) for record in records[:limit]]
    next_cursor = None
    if len(records) > limit:
        last = records[limit - 1]
        next_cursor = CampaignCursor(sort, order, _sort_key(items[-1], sort), last["id"]).encode()
    return CampaignPage(items, next_cursor)


async def campaign(connection: asyncpg.Connection, campaign_id: str) -> dict[str, Any] | None:
    record = await repository.campaign_by_id(connection, campaign_id)
    return dict(zip(CAMPAIGN_FIELDS, record, strict=True)) if record else None


# --------------------------------------------------------------------------------------- metrics summary


async def metrics_summary(
    connection: asyncpg.Connection,
    *,
    channels: Sequence[Channel],
    date_from: dt.date | None,
    date_to: dt.date | None,
    per_day: bool,
) -> dict[str, Any]:
    """Totals and KPIs per channel (every asked channel, zeros if it has no data), optionally per day."""
    wanted = list(channels) or list(ALL_CHANNELS)
    rows = await repository.daily_totals(
        connection,
        channels=[c.value for c in channels],
        date_from=date_from,
        date_to=date_to,
        per_day=per_day,
    )
    as_of, computed_at = await repository.freshness(connection)
    per_channel: dict[str, Totals] = {}
    days: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        per_channel[row.channel] = per_channel.get(row.channel, Totals()) + row.totals
        if per_day and row.date is not None:
            days.setdefault(row.channel, []).append({"date": row.date, **row.totals.as_dict()})
    summaries = []
    for channel in wanted:
        entry: dict[str, Any] = {
            "channel": channel.value,
            **per_channel.get(channel.value, Totals()).as_dict(),
            "as_of": as_of.get(channel.value),
        }
        if per_day:
            entry["days"] = days.get(channel.value, [])
        summaries.append(entry)
    total = sum((per_channel.get(c.value, Totals()) for c in wanted), Totals())
    return {
        "date_from": date_from,
        "date_to": date_to,
        "computed_at": computed_at,
        "channels": summaries,
        "totals": total.as_dict(),
    }


# ------------------------------------------------------------------------------------------------ syncs

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


# ------------------------------------------------------------------------------------------ sync requests

Publish = Callable[[SyncRequested], Awaitable[None]]


def new_sync_id() -> str:
    return f"api-{uuid.uuid4().hex[:16]}"


async def request_sync(
    publish: Publish, channels: Sequence[Channel] | None, *, now: dt.datetime | None = None
) -> SyncRequested:
    """Ask the ingestors for a sync of ``channels`` (all when None); returns the published request."""
    request = SyncRequested(
        sync_id=new_sync_id(),
        trigger=Trigger.API,
        channels=list(channels) if channels else list(ALL_CHANNELS),
        **({"requested_at": now} if now else {}),
    )
    await publish(request)
    return request


# --------------------------------------------------------------------------------- summary maintenance


async def refresh_summary_periodically(
    database: Database, *, interval: dt.timedelta, max_age: dt.timedelta
) -> None:
    """Keep the metrics summary aggregate fresh: every ``interval``, refresh it if campaigns changed.

    Runs in every API process; an advisory lock lets only one refresh at a time, and the change marker stored
    with the aggregate stops the others from refreshing again for nothing.
    """
    while True:
        try:
            async with database.connection() as connection:
                if await repository.refresh_daily_metrics(connection, max_age=max_age):
                    logger.info("metrics summary aggregate refreshed")
        except DatabaseUnavailable:
            pass  # already logged; try again next round
        except Exception as exc:  # a background loop must outlive any one failure
            logger.warning("refreshing the metrics summary aggregate failed: %s", exc)
        await asyncio.sleep(interval.total_seconds())
