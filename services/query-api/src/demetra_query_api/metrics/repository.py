"""The metrics statements over the campaign_daily_metrics view (summary, timeseries), and its refresh."""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import asyncpg
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    DateTime,
    Double,
    Text,
    cast,
    column,
    func,
    literal_column,
    select,
    true,
    values,
)

from demetra_common.contracts import ALL_CHANNELS
from demetra_common.tables import CAMPAIGN_DAILY_METRICS, DAILY_CHANGE_MARKER
from demetra_query_api.metrics.kpis import ADDITIVE, ALL_METRICS, COUNTS, RATES, ROUNDED, Metric, Totals
from demetra_query_api.metrics.timeseries import Granularity
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

daily = CAMPAIGN_DAILY_METRICS.table


@dataclass(frozen=True, slots=True)
class DailyTotals:
    channel: str
    date: dt.date | None  # None when not grouped by day
    totals: Totals


@dataclass(frozen=True, slots=True)
class Summary:
    """The summary's rows (totals per channel, or per channel and day), and the aggregate's freshness over
    all dates: the newest fetched_at per channel, and when the aggregate was last refreshed."""

    rows: list[DailyTotals]
    as_of: dict[str, dt.datetime]
    refreshed_at: dt.datetime | None


# Every filter of the summary and the timeseries, by its query parameter (SummaryQuery, TimeseriesQuery).
# One channel is an equality and several an ``= ANY``: either way the view's (channel, date) index serves it.
DAILY_FILTERS: FilterTable = {
    "channel": OneOf(daily.c.channel, Text()),
    "date_from": Compare(daily.c.date, operator.ge, Date()),
    "date_to": Compare(daily.c.date, operator.le, Date()),
}

# The sums a Totals is made of (``_totals`` reads them back by these labels).
_SUMS = (
    func.sum(daily.c.campaigns).label("campaigns"),
    func.sum(daily.c.impressions).label("impressions"),
    func.sum(daily.c.clicks).label("clicks"),
    func.sum(daily.c.engagement).label("engagement"),
    func.sum(daily.c.cost).label("cost"),
    func.sum(daily.c.conversions).label("conversions"),
    func.sum(daily.c.revenue).label("revenue"),
)


def metric_columns(
    metrics: Sequence[Metric],
    sums: Mapping[str, ColumnElement[Any]],
    numbers: Mapping[str, ColumnElement[Any]] | None = None,
) -> list[ColumnElement[Any]]:
    """``metrics`` as SQL, labelled by name, over ``sums`` (the SQL of each additive metric of a group:
    sums, or a day's columns; cost exact numeric): the additive ones as they are (integers as bigint, cost
    rounded as kpis.ROUNDED says, in numeric where it is exact), the rates from kpis.RATES, the declaration
    Totals computes in Python, as doubles with the same operations in the same order (``scale x numerator /
    denominator``, NULL when the denominator is 0), so the two give the same double.

    ``numbers``: each additive metric already as a double (``with_doubles``), where the statement has it once
    per row; default: a cast of ``sums`` at each use."""

    def number(name: str) -> ColumnElement[Any]:
        return numbers[name] if numbers is not None else cast(sums[name], Double())

    columns: list[ColumnElement[Any]] = []
    for metric in metrics:
        rate = RATES.get(metric.value)
        if rate is not None:
            numerator = number(rate.numerator)
            if rate.scale != 1.0:  # 1.0 x n is n exactly: left out
                numerator = cast(literal_column(repr(float(rate.scale))), Double()) * numerator
            denominator: ColumnElement[float] = func.nullif(
                number(rate.denominator), literal_column("0"), type_=Double()
            )
            column = numerator / denominator
        elif metric in ROUNDED:
            digits: ColumnElement[int] = literal_column(str(ROUNDED[metric]))
            column = cast(func.round(sums[metric.value], digits), Double())
        elif metric in COUNTS:
            column = cast(sums[metric.value], BigInteger())
        else:
            column = number(metric.value)
        columns.append(column.label(metric.value))
    return columns


def _double_name(name: str) -> str:
    return f"{name}_double"


def with_doubles(values: Mapping[str, ColumnElement[Any]]) -> list[ColumnElement[Any]]:
    """The columns of a subquery that gives ``metric_columns`` every additive metric once per row: each of
    ``values`` labelled by its name, and as a double (``doubles`` reads them back).

    PostgreSQL converts numeric to double through its text (numeric_float8): a cast at each use of a metric
    (its own column and every rate it is part of: cost in four) converts it again, ~14 times a row of the
    summary view (numeric sums) where once is enough. The subquery must not be flattened into the statement
    around it, or the casts are copied to each use again: its ORDER BY keeps it apart (and gives the
    statement its order: a subquery scan passes its rows on as they come). PostgreSQL leaves out the columns
    the statement around does not read."""
    return [
        *(value.label(name) for name, value in values.items()),
        *(cast(value, Double()).label(_double_name(name)) for name, value in values.items()),
    ]


def doubles(subquery: Any) -> tuple[dict[str, ColumnElement[Any]], dict[str, ColumnElement[Any]]]:
    """The additive metrics of a subquery of ``with_doubles`` columns: as they are, and as doubles (the
    ``sums`` and ``numbers`` of ``metric_columns``)."""
    names = [metric.value for metric in ADDITIVE]
    values = {name: subquery.c[name] for name in names}
    return values, {name: subquery.c[_double_name(name)] for name in names}


def _totals(record: asyncpg.Record) -> Totals:
    return Totals(
        campaigns=int(record["campaigns"]),
        impressions=int(record["impressions"]),
        clicks=int(record["clicks"]),
        engagement=int(record["engagement"]),
        cost=float(record["cost"]),
        conversions=float(record["conversions"]),
        revenue=float(record["revenue"]),
    )


# The aggregate's freshness per channel that has rows, over all dates: its newest as_of, one probe of the
# view's (channel, as_of) index per channel (an aggregate would read every row of the view), with that row's
# refreshed_at (a refresh gives every row the same).
_KNOWN = values(column("channel", Text()), name="known").data([(channel.value,) for channel in ALL_CHANNELS])
_NEWEST = (
    select(daily.c.as_of, daily.c.refreshed_at)
    .where(daily.c.channel == _KNOWN.c.channel)
    .order_by(daily.c.as_of.desc())
    .limit(literal_column("1"))
    .lateral("newest")
)
_FRESHNESS = (
    select(_KNOWN.c.channel, _NEWEST.c.as_of, _NEWEST.c.refreshed_at)
    .select_from(_KNOWN.join(_NEWEST, true()))
    .subquery("freshness")
)


@lru_cache(maxsize=64)
def summary_statement(filters: Shape, per_day: bool) -> Statement:
    """The filtered sums per channel (and day), each with its channel's freshness; a channel with data but
    none in the range as one row of freshness, its sums null. One statement, not two: a round trip to
    PostgreSQL is most of a small read's cost on either side."""
    keys = (daily.c.channel, daily.c.date) if per_day else (daily.c.channel,)
    sums = filtered(select(*keys, *_SUMS), DAILY_FILTERS, filters).group_by(*keys).subquery("sums")
    fresh = _FRESHNESS
    statement = (
        select(
            fresh.c.channel,
            *([sums.c.date] if per_day else []),
            *(sums.c[column.name] for column in _SUMS),
            fresh.c.as_of,
            fresh.c.refreshed_at,
        )
        .select_from(fresh.outerjoin(sums, sums.c.channel == fresh.c.channel))
        .order_by(fresh.c.channel, *([sums.c.date] if per_day else []))
    )
    return compile_statement(statement)


async def summary(connection: asyncpg.Connection, filters: Mapping[str, Any], *, per_day: bool) -> Summary:
    """Totals per channel (and day) of the rows ``filters`` select (request parameters by name; those in
    DAILY_FILTERS filter, None or empty ones not), with the aggregate's freshness: one statement."""
    values: dict[str, Any] = {}
    statement = summary_statement(bind_filters(DAILY_FILTERS, filters, values), per_day)
    rows, as_of, refreshed = [], {}, []
    for record in await statement.fetch(connection, **values):
        channel = record["channel"]
        as_of[channel] = record["as_of"]
        refreshed.append(record["refreshed_at"])
        if record["campaigns"] is not None:  # the channel has rows in the range
            rows.append(DailyTotals(channel, record["date"] if per_day else None, _totals(record)))
    return Summary(rows, as_of, max(refreshed, default=None))


def _period(granularity: Granularity) -> ColumnElement[Any]:
    """The start of a day's period, as PostgreSQL computes it (weeks from Monday): the same periods as
    ``timeseries.period_start``. The unit is a fixed word of the enum, never request text."""
    if granularity is Granularity.DAY:
        return daily.c.date.label("period")
    unit: ColumnElement[str] = literal_column(f"'{granularity.value}'")
    return cast(func.date_trunc(unit, cast(daily.c.date, DateTime())), Date()).label("period")


# A day's: the view has one row per (channel, date) (its unique index), whose values are the day's sums.
_DAY_VALUES: dict[str, ColumnElement[Any]] = {metric.value: daily.c[metric.value] for metric in ADDITIVE}
# A daily point's dates before its metrics (a point's fields, timeseries' keys), the channel after them.
DAY_POINT_DATES = ("period", "date_from", "date_to")


@lru_cache(maxsize=256)
def _period_statement(filters: Shape, granularity: Granularity, metrics: tuple[Metric, ...]) -> Statement:
    if metrics:  # days only: a day is one row of the view (its unique index), nothing to add up
        assert granularity is Granularity.DAY, "metrics per week or month: sum them (no metrics)"
        order = (daily.c.channel, daily.c.date)
        rows = filtered(select(*order, *with_doubles(_DAY_VALUES)), DAILY_FILTERS, filters)
        day = rows.order_by(*order).subquery("days")
        columns = metric_columns(metrics, *doubles(day))
        dates = (day.c.date.label(name) for name in DAY_POINT_DATES)  # a day is its period, first and last
        # In the subquery's order: an ORDER BY here too would sort again where one channel is asked (the
        # subquery's order by channel is then implied by its WHERE, which PostgreSQL does not carry out).
        return compile_statement(select(*dates, *columns, day.c.channel))
    period = _period(granularity)
    statement = filtered(select(daily.c.channel, period, *_SUMS), DAILY_FILTERS, filters)
    return compile_statement(statement.group_by(daily.c.channel, period).order_by(daily.c.channel, period))


def period_statement(
    filters: Mapping[str, Any], granularity: Granularity, metrics: Sequence[Metric] | None = None
) -> tuple[Statement, list[Any]]:
    """The timeseries statement and its arguments (exposed for EXPLAIN in tests): per channel and period,
    the sums of a Totals (``metrics`` empty; weeks and months) or, per day, ``metrics`` as the response
    reports them (computed in SQL by ``metric_columns``); None: what the service reads for ``granularity``."""
    if metrics is None:
        metrics = ALL_METRICS if granularity is Granularity.DAY else ()
    values: dict[str, Any] = {}
    statement = _period_statement(bind_filters(DAILY_FILTERS, filters, values), granularity, tuple(metrics))
    return statement, statement.args(values)


@dataclass(frozen=True, slots=True)
class PeriodTotals:
    channel: str
    period: dt.date  # the period's first day (the day, the Monday, the 1st)
    totals: Totals


async def period_totals(
    connection: asyncpg.Connection, filters: Mapping[str, Any], granularity: Granularity
) -> list[PeriodTotals]:
    """Totals per channel and period of the days ``filters`` select (DAILY_FILTERS), by channel and period."""
    statement, args = period_statement(filters, granularity, ())
    records = await connection.fetch(statement.sql, *args)
    return [PeriodTotals(r["channel"], r["period"], _totals(r)) for r in records]


async def day_metrics(
    connection: asyncpg.Connection, filters: Mapping[str, Any], metrics: Sequence[Metric]
) -> list[asyncpg.Record]:
    """Per channel and day of the days ``filters`` select (DAILY_FILTERS), by channel and day: records
    (*DAY_POINT_DATES, *metrics, channel), the metrics as the response reports them (``metric_columns``)."""
    statement, args = period_statement(filters, Granularity.DAY, metrics)
    records: list[asyncpg.Record] = await connection.fetch(statement.sql, *args)
    return records


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
# One core: a parallel refresh would take both of a small machine's for its duration (0.7 s against 1.1 s
# serial, measured on 330,000 daily rows) and stall every request meanwhile; serial, it leaves them the rest.
_ONE_CORE = "SET LOCAL max_parallel_workers_per_gather = 0"


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
    await connection.execute(_ONE_CORE)
    await connection.execute(CAMPAIGN_DAILY_METRICS.refresh_sql)
    return True
