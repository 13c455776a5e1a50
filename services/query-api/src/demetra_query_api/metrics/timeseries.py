"""Timeseries periods, the core: which period a day falls in (day, ISO week from Monday, calendar month) and
the periods a range covers, so a series has one point per period even where there is no data."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from demetra_common.tables import MonthlyPartitions
from demetra_query_api.ranges import DateRange


class Granularity(StrEnum):
    DAY = "day"
    WEEK = "week"  # ISO weeks, Monday to Sunday (PostgreSQL's date_trunc('week'))
    MONTH = "month"


def period_start(day: dt.date, granularity: Granularity) -> dt.date:
    if granularity is Granularity.WEEK:
        return day - dt.timedelta(days=day.weekday())
    if granularity is Granularity.MONTH:
        return MonthlyPartitions.month_of(day)
    return day


def _next_period(start: dt.date, granularity: Granularity) -> dt.date:
    if granularity is Granularity.WEEK:
        return start + dt.timedelta(days=7)
    if granularity is Granularity.MONTH:
        return MonthlyPartitions.next_month(start)
    return start + dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Period:
    """One point's period: ``start`` is where it begins (the day, the Monday, the 1st); ``first`` and
    ``last`` the days of it within the range asked for (the first and last periods may be partial)."""

    start: dt.date
    first: dt.date
    last: dt.date


def periods(span: DateRange, granularity: Granularity) -> list[Period]:
    """Every period that ``span`` touches, oldest first."""
    result = []
    start = period_start(span.first, granularity)
    while start <= span.last:
        following = _next_period(start, granularity)
        last = min(following - dt.timedelta(days=1), span.last)
        result.append(Period(start, max(start, span.first), last))
        start = following
    return result


@lru_cache(maxsize=1024)
def cached_periods(span: DateRange, granularity: Granularity) -> tuple[Period, ...]:
    """``periods``, kept for the ranges asked lately (the same ones come back: "the last 90 days")."""
    return tuple(periods(span, granularity))
