"""Insights, the core: pages in the order asked for with their next cursor, and one insight."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg

from demetra_query_api.cursors import InsightCursor, InsightSort
from demetra_query_api.insights import repository


@dataclass(frozen=True, slots=True)
class InsightPage:
    items: list[dict[str, Any]]
    next_cursor: str | None


async def insight_page(
    connection: asyncpg.Connection,
    filters: Mapping[str, Any],
    *,
    sort: InsightSort,
    cursor: InsightCursor | None,
    limit: int,
) -> InsightPage:
    """One page, biggest money at stake or newest first; ``next_cursor`` is None on the last page.

    ``filters`` are the request's parameters by name (InsightQuery's): the repository's filter table says
    which of them filter and how.
    """
    after = (cursor.key, cursor.id) if cursor else None
    records = await repository.insight_page(connection, filters, sort, after, limit + 1)
    items = [dict(zip(repository.INSIGHT_COLUMNS, record, strict=True)) for record in records[:limit]]
    next_cursor = None
    if len(records) > limit:
        last = records[limit - 1]
        key = last["money_at_stake"] if sort is InsightSort.MONEY else last["opened_at"]
        next_cursor = InsightCursor(sort, key, uuid.UUID(last["id"])).encode()
    return InsightPage(items, next_cursor)


async def insight(connection: asyncpg.Connection, insight_id: uuid.UUID) -> dict[str, Any] | None:
    record = await repository.insight_by_id(connection, insight_id)
    return dict(zip(repository.INSIGHT_COLUMNS, record, strict=True)) if record else None
