"""Date ranges of requests, the core: the rules a backfill's range and a report's range follow.

Each broken rule is an ``InvalidRange`` naming the request field at fault; the edges turn it into a 422 on
that field. (Dates before ``EARLIEST_DAY`` or after ``LATEST_DAY`` never get here: the request models
refuse them.)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

EARLIEST_DAY = dt.date(2000, 1, 1)
LATEST_DAY = dt.date(2099, 12, 31)
# Exactly the calendar days EARLIEST_DAY..LATEST_DAY as YYYY-MM-DD: what the OpenAPI schema says a day in a
# request is, and what the request models accept (a number, or 2023-02-30, is not a day). In 2000-2099
# every fourth year is a leap year, 2000 included. A unit test checks it against the two bounds.
DAY_PATTERN = (
    "20[0-9]{2}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)"
    "|(?:0[13578]|1[02])-31)|20(?:[02468][048]|[13579][26])-02-29"
)
# A moment within those days (RFC 3339 with seconds; the offset optional, UTC when absent).
MOMENT_PATTERN = (
    f"(?:{DAY_PATTERN})T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]{{1,6}})?"
    "(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?"
)
# Reports (timeseries, a campaign's history): the range when none is given, and the longest one served.
DEFAULT_REPORT_DAYS = 90
MAX_REPORT_DAYS = 3660


class InvalidRange(ValueError):
    """A date range that breaks a rule; ``field`` names the request field at fault."""

    def __init__(self, field: str, message: str, value: dt.date | None) -> None:
        super().__init__(message)
        self.field = field
        self.value = value


@dataclass(frozen=True, slots=True)
class DateRange:
    """Days ``first`` to ``last``, inclusive."""

    first: dt.date
    last: dt.date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


def _ordered_and_bounded(first: dt.date, last: dt.date, max_days: int, limit_name: str) -> DateRange:
    if last < first:
        raise InvalidRange("date_to", "date_to must not be before date_from", last)
    span = DateRange(first, last)
    if span.days > max_days:
        raise InvalidRange(
            "date_from",
            f"the range spans {span.days} days; at most {max_days} ({limit_name}) are allowed",
            first,
        )
    return span


def backfill_range(
    date_from: dt.date | None, date_to: dt.date | None, *, today: dt.date, max_days: int
) -> DateRange | None:
    """The days a sync request names for a backfill, or None for a sync of the usual lookback window.

    Both ends or neither; date_to not before date_from nor after ``today``; at most ``max_days`` days
    (BACKFILL_MAX_DAYS).
    """
    if date_from is None and date_to is None:
        return None
    if date_from is None:
        raise InvalidRange("date_from", "date_from is required with date_to", None)
    if date_to is None:
        raise InvalidRange("date_to", "date_to is required with date_from", None)
    if date_to > today:
        raise InvalidRange("date_to", f"date_to must not be after today ({today.isoformat()}, UTC)", date_to)
    return _ordered_and_bounded(date_from, date_to, max_days, "BACKFILL_MAX_DAYS")


def report_range(
    date_from: dt.date | None,
    date_to: dt.date | None,
    *,
    today: dt.date,
    default_days: int = DEFAULT_REPORT_DAYS,
    max_days: int = MAX_REPORT_DAYS,
) -> DateRange:
    """The days a report covers: date_to defaults to ``today``, date_from to ``default_days`` days ending at
    date_to; at most ``max_days`` days."""
    last = date_to or min(today, LATEST_DAY)
    first = date_from or max(last - dt.timedelta(days=default_days - 1), EARLIEST_DAY)
    if date_to is None and last < first:
        raise InvalidRange("date_from", f"date_from must not be after date_to (default today, {last})", first)
    return _ordered_and_bounded(first, last, max_days, "the longest report")
