"""The restatement statements: a page of restatements, newest first (filters from one table, keyset by id)."""

from __future__ import annotations

import operator
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import asyncpg
from sqlalchemy import BigInteger, Date, Text, bindparam, cast, select

from demetra_common.tables import RestatementRow
from demetra_query_api.statements import (
    Compare,
    FilterTable,
    OneOf,
    Shape,
    Statement,
    bind_filters,
    compile_statement,
    filtered,
)

restatements = RestatementRow.__table__.c

# Every filter of GET /api/restatements, by its query parameter (RestatementQuery). The order is the order
# of the WHERE clauses.
RESTATEMENT_FILTERS: FilterTable = {
    "channel": OneOf(restatements.channel, Text()),  # one channel: the (channel, id) index serves it
    "campaign_id": Compare(restatements.campaign_id, operator.eq, Text()),  # (campaign_id, date) index
    "date_from": Compare(restatements.date, operator.ge, Date()),
    "date_to": Compare(restatements.date, operator.le, Date()),
    "metric": OneOf(restatements.metric, Text()),
}

# A restatement in API responses (RestatementOut), the id first.
RESTATEMENT_COLUMNS: tuple[str, ...] = (
    "id",
    "event_id",
    "campaign_id",
    "channel",
    "date",
    "metric",
    "old_value",
    "new_value",
    "sync_id",
    "fetched_at",
    "previous_fetched_at",
    "recorded_at",
)


# event_id as text: JSON-ready (orjson renders uuid.UUID, not asyncpg's own UUID type).
_SELECTED = tuple(
    cast(restatements[name], Text).label(name) if name == "event_id" else restatements[name]
    for name in RESTATEMENT_COLUMNS
)


@lru_cache(maxsize=256)
def _restatement_page_statement(filters: Shape, after: bool) -> Statement:
    statement = filtered(select(*_SELECTED), RESTATEMENT_FILTERS, filters)
    if after:
        statement = statement.where(restatements.id < bindparam("after_id", type_=BigInteger))
    statement = statement.order_by(restatements.id.desc())
    return compile_statement(statement.limit(bindparam("limit", type_=BigInteger)))


async def restatement_page(
    connection: asyncpg.Connection, filters: Mapping[str, Any], after: int | None, limit: int
) -> list[asyncpg.Record]:
    """Up to ``limit`` restatements with an id below ``after``, newest (highest id) first.

    ``filters``: request parameters by name; those in RESTATEMENT_FILTERS filter, None or empty ones not.
    """
    values: dict[str, Any] = {"limit": limit}
    shape = bind_filters(RESTATEMENT_FILTERS, filters, values)
    if after is not None:
        values["after_id"] = after
    return await _restatement_page_statement(shape, after is not None).fetch(connection, **values)
