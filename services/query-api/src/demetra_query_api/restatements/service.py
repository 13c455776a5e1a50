"""Restatements, the core: pages newest first with their next cursor."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg

from demetra_query_api.cursors import RestatementCursor
from demetra_query_api.restatements import repository


@dataclass(frozen=True, slots=True)
class RestatementPage:
    items: list[dict[str, Any]]
    next_cursor: str | None


async def restatement_page(
    connection: asyncpg.Connection,
    filters: Mapping[str, Any],
    *,
    cursor: RestatementCursor | None,
    limit: int,
) -> RestatementPage:
    """One page, newest first (by id); ``next_cursor`` is None on the last page.

    ``filters`` are the request's parameters by name (RestatementQuery's): the repository's filter table
    says which of them filter and how.
    """
    records = await repository.restatement_page(connection, filters, cursor.id if cursor else None, limit + 1)
    items = [dict(zip(repository.RESTATEMENT_COLUMNS, record, strict=True)) for record in records[:limit]]
    next_cursor = RestatementCursor(items[-1]["id"]).encode() if len(records) > limit else None
    return RestatementPage(items, next_cursor)
