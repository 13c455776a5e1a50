"""The insight statements: a page of insights (filters from one table, keyset by the sort key and id), and
one insight by id."""

from __future__ import annotations

import datetime as dt
import operator
import uuid
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import asyncpg
from sqlalchemy import BigInteger, Date, Text, bindparam, cast, select, tuple_
from sqlalchemy.dialects.postgresql import UUID

from demetra_common.tables import InsightRow
from demetra_query_api.cursors import InsightSort
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

insights = InsightRow.__table__.c

# Every filter of GET /api/insights, by its query parameter (InsightQuery). The order is the order of the
# WHERE clauses. The date range selects insights whose days (first_day..last_day) overlap it.
INSIGHT_FILTERS: FilterTable = {
    "channel": OneOf(insights.channel, Text()),
    "campaign_id": Compare(insights.campaign_id, operator.eq, Text()),  # the (campaign_id, opened_at) index
    "kind": OneOf(insights.kind, Text()),
    "severity": OneOf(insights.severity, Text()),
    "status": Compare(insights.status, operator.eq, Text(), str),
    "date_from": Compare(insights.last_day, operator.ge, Date()),
    "date_to": Compare(insights.first_day, operator.le, Date()),
}

# An insight in API responses (InsightOut), the id first.
INSIGHT_COLUMNS: tuple[str, ...] = (
    "id",
    "status",
    "kind",
    "severity",
    "channel",
    "campaign_id",
    "first_day",
    "last_day",
    "metric",
    "observed",
    "expected",
    "baseline_from",
    "baseline_to",
    "money_at_stake",
    "explanation",
    "sync_id",
    "opened_at",
    "updated_at",
    "resolved_at",
)

# id as text: JSON-ready (orjson renders uuid.UUID, not asyncpg's own UUID type).
_SELECTED = tuple(
    cast(insights[name], Text).label(name) if name == "id" else insights[name] for name in INSIGHT_COLUMNS
)
# Each sort's key; with the id after it, an index ((money_at_stake, id), (opened_at, id)) read backwards.
SORT_KEYS: dict[InsightSort, Any] = {
    InsightSort.MONEY: insights.money_at_stake,
    InsightSort.TIME: insights.opened_at,
}


@lru_cache(maxsize=512)
def _insight_page_statement(filters: Shape, sort: InsightSort, after: bool) -> Statement:
    statement = filtered(select(*_SELECTED), INSIGHT_FILTERS, filters)
    key = SORT_KEYS[sort]
    if after:
        bound = tuple_(
            bindparam("after_key", type_=key.type), bindparam("after_id", type_=UUID(as_uuid=True))
        )
        statement = statement.where(tuple_(key, insights.id) < bound)
    statement = statement.order_by(key.desc(), insights.id.desc())
    return compile_statement(statement.limit(bindparam("limit", type_=BigInteger)))


Position = tuple[float | dt.datetime, uuid.UUID]  # (sort key, id) of the last insight served


def _bound(filters: Mapping[str, Any], after: Position | None, limit: int) -> tuple[Shape, dict[str, Any]]:
    values: dict[str, Any] = {"limit": limit}
    shape = bind_filters(INSIGHT_FILTERS, filters, values)
    if after is not None:
        values["after_key"], values["after_id"] = after
    return shape, values


def insight_page_statement(
    filters: Mapping[str, Any], sort: InsightSort, after: Position | None, limit: int
) -> tuple[Statement, list[Any]]:
    """The statement for one page of insights and its arguments (exposed for EXPLAIN in tests)."""
    shape, values = _bound(filters, after, limit)
    statement = _insight_page_statement(shape, sort, after is not None)
    return statement, statement.args(values)


async def insight_page(
    connection: asyncpg.Connection,
    filters: Mapping[str, Any],
    sort: InsightSort,
    after: Position | None,
    limit: int,
) -> list[asyncpg.Record]:
    """Up to ``limit`` insights after ``after`` in ``sort``'s order (descending key, then id).

    ``filters``: request parameters by name; those in INSIGHT_FILTERS filter, None or empty ones not.
    """
    shape, values = _bound(filters, after, limit)
    return await _insight_page_statement(shape, sort, after is not None).fetch(connection, **values)


_INSIGHT_BY_ID = compile_statement(
    select(*_SELECTED).where(insights.id == bindparam("id", type_=UUID(as_uuid=True)))
)


async def insight_by_id(connection: asyncpg.Connection, insight_id: uuid.UUID) -> asyncpg.Record | None:
    return await _INSIGHT_BY_ID.fetchrow(connection, id=insight_id)
