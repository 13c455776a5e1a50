"""Campaigns, the core: pages in (sort key, id) order with their next cursor, one campaign by id, and one
campaign's daily history."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import asyncpg

from demetra_query_api.campaigns import repository
from demetra_query_api.cursors import CampaignCursor, SortField, SortOrder
from demetra_query_api.ranges import DateRange
from demetra_query_api.statements import as_dicts


@dataclass(frozen=True, slots=True)
class CampaignPage:
    items: list[dict[str, Any]]
    next: CampaignCursor | None  # where the next page starts; None on the last page

    @property
    def next_cursor(self) -> str | None:
        return self.next.encode() if self.next else None


async def campaign_page(
    connection: asyncpg.Connection,
    filters: Mapping[str, Any],
    *,
    sort: SortField,
    order: SortOrder,
    cursor: CampaignCursor | None,
    limit: int,
) -> CampaignPage:
    """One page in (sort key, id) order; ``next_cursor`` is None on the last page.

    A page may hold fewer than ``limit`` items (even none) and still have a next page: its walk reached its
    bound first (the repository's WALK_ROWS); the next cursor is where that walk stopped, so following the
    cursors until None serves every matching row once, in order.

    ``filters`` are the request's parameters by name (CampaignQuery's): the repository's filter table says
    which of them filter and how; a None or empty one does not.
    """
    after = (cursor.key, cursor.id) if cursor else None
    rows = await repository.campaign_page(connection, filters, sort, order, after, limit + 1)
    records = rows.records
    # zip stops at the shorter side: the trailing sort key and row id stay out of the item.
    items = [dict(zip(repository.CAMPAIGN_FIELDS, record, strict=False)) for record in records[:limit]]
    following = None
    if len(records) > limit:
        last = records[limit - 1]
        following = CampaignCursor(sort, order, last["sort_key"], last["id"])
    elif rows.frontier is not None:
        following = CampaignCursor(sort, order, *rows.frontier)
    return CampaignPage(items, following)


async def campaign_walk(
    connect: Callable[[], AbstractAsyncContextManager[asyncpg.Connection]],
    filters: Mapping[str, Any],
    *,
    sort: SortField,
    order: SortOrder,
    cursor: CampaignCursor | None,
    batch: int,
) -> AsyncIterator[list[dict[str, Any]]]:
    """Every campaign after ``cursor`` in (sort key, id) order, ``batch`` at a time: the pages of
    ``campaign_page``, each read on a connection of its own (none is held while the caller consumes a
    batch), with the pages' guarantee: a row whose sort key does not change meanwhile comes exactly once."""
    while True:
        async with connect() as connection:
            page = await campaign_page(
                connection, filters, sort=sort, order=order, cursor=cursor, limit=batch
            )
        if page.items:
            yield page.items
        if page.next is None:
            return
        cursor = page.next


async def campaign(connection: asyncpg.Connection, campaign_id: str) -> dict[str, Any] | None:
    record = await repository.campaign_by_id(connection, campaign_id)
    return dict(zip(repository.CAMPAIGN_FIELDS, record, strict=True)) if record else None


async def campaign_history(
    connection: asyncpg.Connection, campaign_id: str, span: DateRange
) -> dict[str, Any] | None:
    """The campaign's days within ``span``, oldest first, with their rates (computed in SQL, from the kpis
    declaration); None for an unknown campaign."""
    records = await repository.campaign_days(connection, campaign_id, span.first, span.last)
    if records:
        channel = records[0]["channel"]
    else:  # no day in the range: known at all?
        known = await repository.campaign_by_id(connection, campaign_id)
        if known is None:
            return None
        channel = known["channel"]
    return {
        "campaign_id": campaign_id,
        "channel": channel,
        "date_from": span.first,
        "date_to": span.last,
        # The trailing channel stays out of the day.
        "days": as_dicts(repository.HISTORY_DAY_FIELDS, records),
    }
