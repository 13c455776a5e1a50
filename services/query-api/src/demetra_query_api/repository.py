"""Every SQL statement of the query API.

Statements are SQLAlchemy Core, so values always travel as bound parameters and identifiers come only from
the fixed column objects below (sort fields map through a whitelist, never from request text). Each
statement shape (which filters are present, the sort, whether a cursor is given) is compiled once for
asyncpg's ``$n`` placeholders and cached; asyncpg then keeps it prepared per connection.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

import asyncpg
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    DateTime,
    Double,
    Numeric,
    Select,
    Text,
    any_,
    bindparam,
    case,
    cast,
    column,
    exists,
    func,
    literal,
    or_,
    select,
    table,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect

from demetra_common.contracts import EventType
from demetra_common.tables import CAMPAIGN_DATA_COLUMNS, CampaignRow, EventRow
from demetra_query_api.cursors import SortField, SortKey, SortOrder
from demetra_query_api.kpis import Totals
from demetra_query_api.status import EventGroup

_DIALECT = asyncpg_dialect()


@dataclass(frozen=True, slots=True)
class Statement:
    """A compiled statement: its SQL text and the order of its parameters."""

    sql: str
    names: tuple[str, ...]
    defaults: Mapping[str, Any]

    def args(self, values: Mapping[str, Any]) -> list[Any]:
        return [values[name] if name in values else self.defaults[name] for name in self.names]

    async def fetch(self, connection: asyncpg.Connection, **values: Any) -> list[asyncpg.Record]:
        return await connection.fetch(self.sql, *self.args(values))

    async def fetchrow(self, connection: asyncpg.Connection, **values: Any) -> asyncpg.Record | None:
        return await connection.fetchrow(self.sql, *self.args(values))


def compile_statement(statement: Select[Any]) -> Statement:
    compiled = statement.compile(dialect=_DIALECT)
    return Statement(compiled.string, tuple(compiled.positiontup or ()), dict(compiled.params))


# ------------------------------------------------------------------------------------------------ campaigns

campaigns = CampaignRow.__table__.c

# The fields of a campaign in API responses, in this order; the SQL selects them (plus the row id last).
CAMPAIGN_FIELDS = CAMPAIGN_DATA_COLUMNS
_CAMPAIGN_COLUMNS: tuple[ColumnElement[Any], ...] = (
    campaigns.campaign_id,
    campaigns.channel,
    campaigns.name,
    campaigns.date,
    campaigns.impressions,
    campaigns.clicks,
    campaigns.engagement,
    cast(campaigns.cost, Double).label("cost"),  # numeric(14,2): exact in a double, and JSON-ready
    campaigns.conversion_rate,
    campaigns.roi,
    campaigns.fetched_at,
    campaigns.sync_id,
)
_SORT_COLUMNS: dict[SortField, Any] = {
    SortField.DATE: campaigns.date,
    SortField.ROI: campaigns.roi,
    SortField.COST: campaigns.cost,
    SortField.CAMPAIGN_ID: campaigns.campaign_id,
    SortField.FETCHED_AT: campaigns.fetched_at,
}


@dataclass(frozen=True, slots=True)
class CampaignFilters:
    channels: tuple[str, ...] = ()
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    min_roi: float | None = None
    max_roi: float | None = None
    min_cost: float | None = None
    max_cost: float | None = None
    campaign_id_prefix: str | None = None


@dataclass(frozen=True, slots=True)
class _ListShape:
    channels: int  # 0: any channel, 1: one (an equality the (channel, date, id) index serves), 2: several
    date_from: bool
    date_to: bool
    min_roi: bool
    max_roi: bool
    min_cost: bool
    max_cost: bool
    prefix: bool
    sort: SortField
    order: SortOrder
    after: bool


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


@lru_cache(maxsize=1024)
def _campaign_page_statement(shape: _ListShape) -> Statement:
    statement = select(*_CAMPAIGN_COLUMNS, campaigns.id)
    if shape.channels == 1:
        statement = statement.where(campaigns.channel == bindparam("channel", type_=Text))
    elif shape.channels == 2:
        statement = statement.where(campaigns.channel == any_(bindparam("channels", type_=ARRAY(Text))))
    if shape.date_from:
        statement = statement.where(campaigns.date >= bindparam("date_from", type_=Date))
    if shape.date_to:
        statement = statement.where(campaigns.date <= bindparam("date_to", type_=Date))
    if shape.min_roi:
        statement = statement.where(campaigns.roi >= bindparam("min_roi", type_=Double))
    if shape.max_roi:
        statement = statement.where(campaigns.roi <= bindparam("max_roi", type_=Double))
    if shape.min_cost:
        statement = statement.where(campaigns.cost >= bindparam("min_cost", type_=Numeric))
    if shape.max_cost:
        statement = statement.where(campaigns.cost <= bindparam("max_cost", type_=Numeric))
    if shape.prefix:
        statement = statement.where(campaigns.campaign_id.like(bindparam("prefix", type_=Text), escape="\\"))
    key = _SORT_COLUMNS[shape.sort]
    ascending = shape.order is SortOrder.ASC
    # campaign_id is unique by itself; every other sort key needs the row id to break ties.
    keys = [key] if shape.sort is SortField.CAMPAIGN_ID else [key, campaigns.id]
    if shape.after:
        bounds = [bindparam("after_key", type_=key.type), bindparam("after_id", type_=BigInteger)]
        position, bound = tuple_(*keys), tuple_(*bounds[: len(keys)])
        statement = statement.where(position > bound if ascending else position < bound)
    statement = statement.order_by(*(k.asc() if ascending else k.desc() for k in keys))
    return compile_statement(statement.limit(bindparam("limit", type_=BigInteger)))


def campaign_page_statement(
    filters: CampaignFilters, sort: SortField, order: SortOrder, after: bool
) -> Statement:
    """The statement for one page of campaigns (exposed for EXPLAIN in tests)."""
    return _campaign_page_statement(
        _ListShape(
            channels=min(len(filters.channels), 2),
            date_from=filters.date_from is not None,
            date_to=filters.date_to is not None,
            min_roi=filters.min_roi is not None,
            max_roi=filters.max_roi is not None,
            min_cost=filters.min_cost is not None,
            max_cost=filters.max_cost is not None,
            prefix=filters.campaign_id_prefix is not None,
            sort=sort,
            order=order,
            after=after,
        )
    )


def campaign_page_values(
    filters: CampaignFilters, after: tuple[SortKey, int] | None, limit: int
) -> dict[str, Any]:
    values: dict[str, Any] = {"limit": limit}
    if len(filters.channels) == 1:
        values["channel"] = filters.channels[0]
    elif filters.channels:
        values["channels"] = list(filters.channels)
    for name in ("date_from", "date_to", "min_roi", "max_roi"):
        value = getattr(filters, name)
        if value is not None:
            values[name] = value
    for name in ("min_cost", "max_cost"):
        value = getattr(filters, name)
        if value is not None:
            values[name] = Decimal(repr(value))
    if filters.campaign_id_prefix is not None:
        values["prefix"] = _like_prefix(filters.campaign_id_prefix)
    if after is not None:
        values["after_key"], values["after_id"] = after
    return values


async def campaign_page(
    connection: asyncpg.Connection,
    filters: CampaignFilters,
    sort: SortField,
    order: SortOrder,
    after: tuple[SortKey, int] | None,
    limit: int,
) -> list[asyncpg.Record]:
    """Up to ``limit`` campaigns after ``after`` (sort key, id); each record ends with the row id."""
    statement = campaign_page_statement(filters, sort, order, after is not None)
    return await statement.fetch(connection, **campaign_page_values(filters, after, limit))


_CAMPAIGN_BY_ID = compile_statement(
    select(*_CAMPAIGN_COLUMNS).where(campaigns.campaign_id == bindparam("campaign_id", type_=Text))
)


async def campaign_by_id(connection: asyncpg.Connection, campaign_id: str) -> asyncpg.Record | None:
    return await _CAMPAIGN_BY_ID.fetchrow(connection, campaign_id=campaign_id)


# ------------------------------------------------------------------------------------ metrics summary

daily = table(
    "campaign_daily_metrics",
    column("channel", Text),
    column("date", Date),
    column("campaigns", BigInteger),
    column("impressions", Numeric),
    column("clicks", Numeric),
    column("engagement", Numeric),
    column("cost", Numeric),
    column("conversions", Double),
    column("net_return", Double),
    column("as_of", DateTime(timezone=True)),
    column("refreshed_at", DateTime(timezone=True)),
    column("change_marker", BigInteger),
)


@dataclass(frozen=True, slots=True)
class DailyTotals:
    channel: str
    date: dt.date | None  # None when not grouped by day
    totals: Totals


@lru_cache(maxsize=64)
def _summary_statement(per_day: bool, channels: bool, date_from: bool, date_to: bool) -> Statement:
    keys = (daily.c.channel, daily.c.date) if per_day else (daily.c.channel,)
    statement = select(
        *keys,
        func.sum(daily.c.campaigns).label("campaigns"),
        func.sum(daily.c.impressions).label("impressions"),
        func.sum(daily.c.clicks).label("clicks"),
        func.sum(daily.c.engagement).label("engagement"),
        func.sum(daily.c.cost).label("cost"),
        func.sum(daily.c.conversions).label("conversions"),
        func.sum(daily.c.net_return).label("net_return"),
    )
    if channels:
        statement = statement.where(daily.c.channel == any_(bindparam("channels", type_=ARRAY(Text))))
    if date_from:
        statement = statement.where(daily.c.date >= bindparam("date_from", type_=Date))
    if date_to:
        statement = statement.where(daily.c.date <= bindparam("date_to", type_=Date))
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
    connection: asyncpg.Connection,
    *,
    channels: Sequence[str],
    date_from: dt.date | None,
    date_to: dt.date | None,
    per_day: bool,
) -> list[DailyTotals]:
    statement = _summary_statement(per_day, bool(channels), date_from is not None, date_to is not None)
    values: dict[str, Any] = {"channels": list(channels), "date_from": date_from, "date_to": date_to}
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
_REFRESH_STATE = """
SELECT (SELECT coalesce(n_tup_ins + n_tup_upd + n_tup_del, 0)
          FROM pg_stat_user_tables WHERE relid = 'campaigns'::regclass) AS current_marker,
       (SELECT change_marker FROM campaign_daily_metrics LIMIT 1) AS stored_marker,
       (SELECT max(refreshed_at) FROM campaign_daily_metrics) AS refreshed_at,
       now() AS now
"""
_NO_TIMEOUT = "SET LOCAL statement_timeout = 0"
_REFRESH = "REFRESH MATERIALIZED VIEW CONCURRENTLY campaign_daily_metrics"


async def refresh_daily_metrics(
    connection: asyncpg.Connection, *, max_age: dt.timedelta, force: bool = False
) -> bool:
    """Refresh the summary aggregate if campaigns changed since (or it is older than ``max_age``).

    Returns whether it refreshed. Another session refreshing at the same moment makes this a no-op.
    """
    async with connection.transaction():
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
        await connection.execute(_REFRESH)
        return True


# ----------------------------------------------------------------------------------------------- syncs

events = EventRow.__table__.c
_earlier = EventRow.__table__.alias("earlier")


@lru_cache(maxsize=4)
def _sync_heads_statement(after: bool) -> Statement:
    # The first event of each sync (by occurred_at, then id), newest first: a sync is listed from whichever
    # row came first, so syncs known only from fetch or load rows are listed too.
    has_earlier = exists(
        select(literal(1)).where(
            _earlier.c.sync_id == events.sync_id,
            _earlier.c.occurred_at <= events.occurred_at,
            or_(_earlier.c.occurred_at < events.occurred_at, _earlier.c.id < events.id),
        )
    )
    statement = select(events.sync_id, events.occurred_at, events.id).where(~has_earlier)
    if after:
        bound = tuple_(
            bindparam("after_at", type_=DateTime(timezone=True)), bindparam("after_id", type_=BigInteger)
        )
        statement = statement.where(tuple_(events.occurred_at, events.id) < bound)
    statement = statement.order_by(events.occurred_at.desc(), events.id.desc())
    return compile_statement(statement.limit(bindparam("limit", type_=BigInteger)))


@dataclass(frozen=True, slots=True)
class SyncHead:
    sync_id: str
    occurred_at: dt.datetime
    id: int


async def sync_heads(
    connection: asyncpg.Connection, after: tuple[dt.datetime, int] | None, limit: int
) -> list[SyncHead]:
    values: dict[str, Any] = {"limit": limit}
    if after is not None:
        values["after_at"], values["after_id"] = after
    records = await _sync_heads_statement(after is not None).fetch(connection, **values)
    return [SyncHead(r["sync_id"], r["occurred_at"], r["id"]) for r in records]


def _number(key: str) -> ColumnElement[Any]:
    """A numeric payload field, or NULL if the payload holds something else there (never an error)."""
    field = events.payload[key]
    return case((func.jsonb_typeof(field) == "number", cast(field.astext, Numeric)))


def _load_sum(key: str) -> ColumnElement[Any]:
    total = func.coalesce(func.sum(_number(key)).filter(events.type == EventType.LOAD.value), 0)
    return cast(total, BigInteger).label(key)  # bigint decodes far cheaper than numeric


_SYNC_GROUPS = compile_statement(
    select(
        events.sync_id,
        events.channel,
        events.type,
        func.min(events.occurred_at).label("first_at"),
        func.max(events.occurred_at).label("last_at"),
        func.max(events.recorded_at).label("last_recorded_at"),
        cast(
            func.max(_number("count")).filter(events.type == EventType.FETCH_COMPLETED.value), BigInteger
        ).label("count"),
        _load_sum("inserted"),
        _load_sum("updated"),
        _load_sum("unchanged"),
        _load_sum("rejected"),
        func.array_agg(aggregate_order_by(events.payload["error"].astext, events.occurred_at.desc()))
        .filter(events.type == EventType.FETCH_FAILED.value)[1]
        .label("last_error"),
        func.jsonb_agg(events.payload)
        .filter(events.type == EventType.SYNC_REQUESTED.value)
        .label("requests"),
    )
    .where(events.sync_id == any_(bindparam("sync_ids", type_=ARRAY(Text))))
    .group_by(events.sync_id, events.channel, events.type)
)


async def sync_event_groups(
    connection: asyncpg.Connection, sync_ids: Sequence[str]
) -> dict[str, list[EventGroup]]:
    """The event aggregates of each sync, per (channel, type)."""
    records = await _SYNC_GROUPS.fetch(connection, sync_ids=list(sync_ids))
    groups: dict[str, list[EventGroup]] = {}
    # Positional, in the select's column order (which is EventGroup's after the type and channel): by-name
    # lookups cost more than the query here.
    for sync_id, channel, kind, *facts, requests in records:
        groups.setdefault(sync_id, []).append(EventGroup(kind, channel, *facts, requests or ()))  # type: ignore[call-arg]
    return groups
