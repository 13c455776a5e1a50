"""The metrics summary statements, over the campaign_daily_metrics view, and its refresh."""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import asyncpg
from sqlalchemy import Date, Text, func, select
from sqlalchemy.dialects.postgresql import ARRAY

from demetra_common.tables import CAMPAIGN_DAILY_METRICS, DAILY_CHANGE_MARKER
from demetra_query_api.metrics.kpis import Totals
from demetra_query_api.statements import (
    Compare,
    FilterTable,
    Shape,
    Statement,
    bind_filters,
    compile_statement,
    distinct_text,
    equals_any,
    filtered,
)

daily = CAMPAIGN_DAILY_METRICS.table


@dataclass(frozen=True, slots=True)
class DailyTotals:
    channel: str
    date: dt.date | None  # None when not grouped by day
    totals: Totals


# Every filter of GET /api/metrics/summary, by its query parameter (SummaryQuery).
SUMMARY_FILTERS: FilterTable = {
    "channel": Compare(daily.c.channel, equals_any, ARRAY(Text()), distinct_text),
    "date_from": Compare(daily.c.date, operator.ge, Date()),
    "date_to": Compare(daily.c.date, operator.le, Date()),
}


@lru_cache(maxsize=64)
def _summary_statement(filters: Shape, per_day: bool) -> Statement:
    keys = (daily.c.channel, daily.c.date) if per_day else (daily.c.channel,)
    totals = select(
        *keys,
        func.sum(daily.c.campaigns).label("campaigns"),
        func.sum(daily.c.impressions).label("impressions"),
        func.sum(daily.c.clicks).label("clicks"),
        func.sum(daily.c.engagement).label("engagement"),
        func.sum(daily.c.cost).label("cost"),
        func.sum(daily.c.conversions).label("conversions"),
        func.sum(daily.c.net_return).label("net_return"),
    )
    statement = filtered(totals, SUMMARY_FILTERS, filters)
    return compile_statement(statement.group_by(*keys).order_by(*keys))


def _totals(record: asyncpg.Record) -> Totals:
    return Totals(
        campaigns=int(record["campaigns"]),
        impressions=int(record["impressions"]),
        clicks=int(record["clicks"]),
        engagement=int(record["engagement"]),
        cost=float(record["cost"]),
        conversions=float(record["conversions"]),
        net_return=float(record["net_return"]),
    )


async def daily_totals(
    connection: asyncpg.Connection, filters: Mapping[str, Any], *, per_day: bool
) -> list[DailyTotals]:
    """Totals per channel (and day) of the rows ``filters`` select (request parameters by name; those in
    SUMMARY_FILTERS filter, None or empty ones not)."""
    values: dict[str, Any] = {}
    statement = _summary_statement(bind_filters(SUMMARY_FILTERS, filters, values), per_day)
    records = await statement.fetch(connection, **values)
    return [DailyTotals(r["channel"], r["date"] if per_day else None, _totals(r)) for r in records]


_FRESHNESS = compile_statement(
    select(
        daily.c.channel,
        func.max(daily.c.as_of).label("as_of"),
        func.max(daily.c.refreshed_at).label("refreshed_at"),
    ).group_by(daily.c.channel)
)


async def freshness(connection: asyncpg.Connection) -> tuple[dict[str, dt.datetime], dt.datetime | None]:
    """(newest fetched_at per channel, when the aggregate was last refreshed) over all dates."""
    records = await _FRESHNESS.fetch(connection)
    refreshed = max((r["refreshed_at"] for r in records), default=None)
    return {r["channel"]: r["as_of"] for r in records}, refreshed


# Fixed maintenance statements (no parameters from requests).
_SUMMARY_LOCK = 0x44454D455452  # advisory lock key: one refresher at a time across workers and replicas
_TRY_LOCK = "SELECT pg_try_advisory_xact_lock($1)"
_REFRESH_STATE = f"""
SELECT {DAILY_CHANGE_MARKER} AS current_marker,
       (SELECT change_marker FROM {CAMPAIGN_DAILY_METRICS.name} LIMIT 1) AS stored_marker,
       (SELECT max(refreshed_at) FROM {CAMPAIGN_DAILY_METRICS.name}) AS refreshed_at,
       now() AS now
"""
_NO_TIMEOUT = "SET LOCAL statement_timeout = 0"


class NotInTransaction(RuntimeError):
    """The refresh was called outside a transaction, where its lock and timeout would not hold."""


async def refresh_daily_metrics(
    connection: asyncpg.Connection, *, max_age: dt.timedelta, force: bool = False
) -> bool:
    """Refresh the summary aggregate if campaigns changed since (or it is older than ``max_age``).

    Runs in the caller's transaction, which holds the advisory lock and the lifted statement timeout until
    it ends. Returns whether it refreshed. Another session refreshing at the same moment makes this a no-op.
    """
    if not connection.is_in_transaction():
        raise NotInTransaction("refresh_daily_metrics needs a transaction")
    if not await connection.fetchval(_TRY_LOCK, _SUMMARY_LOCK):
        return False
    state = await connection.fetchrow(_REFRESH_STATE)
    assert state is not None
    fresh = (
        state["stored_marker"] == state["current_marker"]
        and state["refreshed_at"] is not None
        and state["now"] - state["refreshed_at"] < max_age
    )
    if fresh and not force:
        return False
    await connection.execute(_NO_TIMEOUT)
    await connection.execute(CAMPAIGN_DAILY_METRICS.refresh_sql)
    return True
