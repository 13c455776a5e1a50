"""Metrics, the core: the summary (totals and KPIs per channel, and day), the timeseries (per channel and
period), and keeping their aggregate fresh."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import asyncpg

from demetra_common.contracts import ALL_CHANNELS, Channel
from demetra_query_api.db import Database, DatabaseUnavailable
from demetra_query_api.metrics import repository
from demetra_query_api.metrics.kpis import Metric, Totals
from demetra_query_api.metrics.timeseries import Granularity, Period, cached_periods, periods
from demetra_query_api.ranges import DateRange
from demetra_query_api.statements import as_dicts

logger = logging.getLogger(__name__)


async def metrics_summary(
    connection: asyncpg.Connection, filters: Mapping[str, Any], *, per_day: bool
) -> dict[str, Any]:
    """Totals and KPIs per channel (every asked channel, zeros if it has no data), optionally per day.

    ``filters`` are the request's parameters by name (SummaryQuery's): ``channel`` (a list), ``date_from``
    and ``date_to``; the repository's filter table says how each one filters.
    """
    wanted = list(dict.fromkeys(filters.get("channel") or ALL_CHANNELS))
    found = await repository.summary(connection, filters, per_day=per_day)
    as_of = found.as_of
    per_channel: dict[str, Totals] = {}
    days: dict[str, list[dict[str, Any]]] = {}
    for row in found.rows:
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
        "date_from": filters.get("date_from"),
        "date_to": filters.get("date_to"),
        "computed_at": found.refreshed_at,
        "channels": summaries,
        "totals": total.as_dict(),
    }


async def timeseries(
    connection: asyncpg.Connection,
    *,
    channels: Sequence[Channel],
    metrics: Sequence[Metric],
    granularity: Granularity,
    span: DateRange,
    total: bool,
) -> dict[str, Any]:
    """``metrics`` per period of ``span`` for each of ``channels`` (all when empty): one point per period,
    zeros (and null rates) where a channel has no data; rates from each period's sums.

    Daily points come from PostgreSQL as the response reports them (the KPIs of kpis.RATES in SQL,
    ``repository.metric_columns``, over the view's one row per channel and day, the point's dates first): a
    point is one dict zipped from a record (``statements.as_dicts``), no per-metric work in Python; only
    days without a row (none where every day has data) are filled in. Weeks and months, and the total
    series, are added up from PostgreSQL's sums per channel and period into Totals here, as they always
    were: PostgreSQL adds doubles (conversions, revenue) in the order its plan reads the rows, so another
    statement could differ from this one in the last bit."""
    wanted = list(dict.fromkeys(channels or ALL_CHANNELS))
    asked = tuple(dict.fromkeys(metrics))
    filters = {"channel": wanted, "date_from": span.first, "date_to": span.last}
    if total or granularity is not Granularity.DAY:
        return await _timeseries_from_totals(connection, wanted, asked, granularity, span, filters, total)
    keys = (*repository.DAY_POINT_DATES, *(metric.value for metric in asked))
    records = await repository.day_metrics(connection, filters, asked)
    by_channel: dict[str, list[asyncpg.Record]] = {channel.value: [] for channel in wanted}
    if len(wanted) == 1:  # all of them the one channel's
        by_channel[wanted[0].value] = records
    else:
        for record in records:
            by_channel[record[-1]].append(record)
    # The trailing channel stays out of the point.
    found = {channel: as_dicts(keys, days) for channel, days in by_channel.items()}
    points = cached_periods(span, granularity)
    return {
        "date_from": span.first,
        "date_to": span.last,
        "granularity": granularity,
        "metrics": list(asked),
        "series": [
            {"channel": channel, "points": _every_day(found[channel.value], points, keys, asked)}
            for channel in wanted
        ],
        "total": None,
    }


def _every_day(
    found: list[dict[str, Any]], days: Sequence[Period], keys: Sequence[str], metrics: Sequence[Metric]
) -> list[dict[str, Any]]:
    """A channel's daily points ``found`` (in order, one per day that has data) with a zero point for every
    other day of ``days``."""
    if len(found) == len(days):
        return found
    by_day = {point["period"]: point for point in found}
    zero = tuple(Totals().values(metrics).values())
    dates = len(repository.DAY_POINT_DATES)
    return [
        by_day.get(day.start) or dict(zip(keys, (day.start,) * dates + zero, strict=True)) for day in days
    ]


async def _timeseries_from_totals(
    connection: asyncpg.Connection,
    wanted: list[Channel],
    asked: tuple[Metric, ...],
    granularity: Granularity,
    span: DateRange,
    filters: Mapping[str, Any],
    total: bool,
) -> dict[str, Any]:
    """``timeseries`` from the sums per channel and period as Totals, the KPIs from them (kpis.RATES)."""
    found = {
        (row.channel, row.period): row.totals
        for row in await repository.period_totals(connection, filters, granularity)
    }
    points = periods(span, granularity)

    def series(totals_of: Callable[[dt.date], Totals]) -> list[dict[str, Any]]:
        return [
            {"period": p.start, "date_from": p.first, "date_to": p.last, **totals_of(p.start).values(asked)}
            for p in points
        ]

    def channel_totals(channel: Channel, start: dt.date) -> Totals:
        return found.get((channel.value, start), Totals())

    def all_totals(start: dt.date) -> Totals:
        return sum((channel_totals(channel, start) for channel in wanted), Totals())

    return {
        "date_from": span.first,
        "date_to": span.last,
        "granularity": granularity,
        "metrics": list(asked),
        "series": [
            {"channel": channel, "points": series(partial(channel_totals, channel))} for channel in wanted
        ],
        "total": {"points": series(all_totals)} if total else None,
    }


async def refresh_summary(
    connection: asyncpg.Connection, *, max_age: dt.timedelta, force: bool = False
) -> bool:
    """Refresh the summary aggregate if campaigns changed (or it is older than ``max_age``), in a
    transaction of its own: the advisory lock that keeps refreshers apart lasts until it commits."""
    async with connection.transaction():
        return await repository.refresh_daily_metrics(connection, max_age=max_age, force=force)


async def refresh_summary_periodically(
    database: Database, *, interval: dt.timedelta, max_age: dt.timedelta
) -> None:
    """Keep the metrics summary aggregate fresh: every ``interval``, refresh it if campaigns changed.

    Runs in every API process, on the database's background connection (a refresh takes seconds: never one
    of the requests' connections); an advisory lock lets only one refresh at a time, and the change marker
    stored with the aggregate stops the others from refreshing again for nothing.
    """
    while True:
        try:
            async with database.background_connection() as connection:
                if await refresh_summary(connection, max_age=max_age):
                    logger.info("metrics summary aggregate refreshed")
        except DatabaseUnavailable:
            pass  # already logged; try again next round
        except Exception as exc:  # a background loop must outlive any one failure
            logger.warning("refreshing the metrics summary aggregate failed: %s", exc)
        await asyncio.sleep(interval.total_seconds())
