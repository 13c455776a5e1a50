"""Date-range rules: a backfill's range and a report's range, each broken rule naming its field."""

import datetime as dt
import re

import pytest

from demetra_query_api.metrics.timeseries import Granularity, Period, periods
from demetra_query_api.ranges import (
    DAY_PATTERN,
    EARLIEST_DAY,
    LATEST_DAY,
    MOMENT_PATTERN,
    DateRange,
    InvalidRange,
    backfill_range,
    report_range,
)

TODAY = dt.date(2026, 12, 1)


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def test_a_backfill_is_both_ends_or_neither() -> None:
    assert backfill_range(None, None, today=TODAY, max_days=400) is None
    assert backfill_range(d("2026-11-01"), TODAY, today=TODAY, max_days=400) == DateRange(
        d("2026-11-01"), TODAY
    )


@pytest.mark.parametrize(
    ("date_from", "date_to", "field"),
    [
        ("2026-11-01", None, "date_to"),
        (None, "2026-11-01", "date_from"),
        ("2026-11-02", "2026-11-01", "date_to"),
        ("2026-11-01", "2026-12-02", "date_to"),  # after today
        ("2026-10-02", "2026-11-01", "date_from"),  # 31 days, 30 allowed
    ],
)
def test_a_bad_backfill_names_the_field(date_from: str | None, date_to: str | None, field: str) -> None:
    with pytest.raises(InvalidRange) as raised:
        backfill_range(
            d(date_from) if date_from else None, d(date_to) if date_to else None, today=TODAY, max_days=30
        )
    assert raised.value.field == field


def test_a_backfill_of_exactly_the_longest_span_is_accepted() -> None:
    span = backfill_range(d("2026-10-03"), d("2026-11-01"), today=TODAY, max_days=30)
    assert span is not None and span.days == 30


def test_a_report_defaults_to_the_days_ending_today() -> None:
    assert report_range(None, None, today=TODAY, default_days=90) == DateRange(d("2026-09-03"), TODAY)
    assert report_range(None, d("2026-01-31"), today=TODAY, default_days=31) == DateRange(
        d("2026-01-01"), d("2026-01-31")
    )
    assert report_range(d("2026-11-30"), None, today=TODAY).days == 2


@pytest.mark.parametrize(
    ("date_from", "date_to", "field"),
    [
        ("2026-11-02", "2026-11-01", "date_to"),
        ("2026-12-02", None, "date_from"),  # after date_to's default, today
        ("2016-01-01", "2026-01-01", "date_from"),  # 3654 days, more than 3650
    ],
)
def test_a_bad_report_range_names_the_field(date_from: str, date_to: str | None, field: str) -> None:
    with pytest.raises(InvalidRange) as raised:
        report_range(d(date_from), d(date_to) if date_to else None, today=TODAY, max_days=3650)
    assert raised.value.field == field


def test_weeks_start_on_monday_and_the_first_and_last_periods_are_clipped() -> None:
    span = DateRange(d("2026-10-28"), d("2026-11-10"))  # a Wednesday to a Tuesday
    assert periods(span, Granularity.WEEK) == [
        Period(d("2026-10-26"), d("2026-10-28"), d("2026-11-01")),
        Period(d("2026-11-02"), d("2026-11-02"), d("2026-11-08")),
        Period(d("2026-11-09"), d("2026-11-09"), d("2026-11-10")),
    ]


def test_months_are_calendar_months_across_a_year_end() -> None:
    span = DateRange(d("2026-11-15"), d("2027-02-03"))
    assert [(p.start, p.first, p.last) for p in periods(span, Granularity.MONTH)] == [
        (d("2026-11-01"), d("2026-11-15"), d("2026-11-30")),
        (d("2026-12-01"), d("2026-12-01"), d("2026-12-31")),
        (d("2027-01-01"), d("2027-01-01"), d("2027-01-31")),
        (d("2027-02-01"), d("2027-02-01"), d("2027-02-03")),
    ]


def test_days_are_one_period_each() -> None:
    days = periods(DateRange(d("2026-02-27"), d("2026-03-02")), Granularity.DAY)
    assert [p.start for p in days] == [d("2026-02-27"), d("2026-02-28"), d("2026-03-01"), d("2026-03-02")]
    assert all(p.start == p.first == p.last for p in days)


def test_the_day_pattern_is_exactly_the_calendar_days_the_api_serves() -> None:
    day = re.compile(DAY_PATTERN).fullmatch
    moment = re.compile(MOMENT_PATTERN).fullmatch
    every_day = [EARLIEST_DAY + dt.timedelta(days=n) for n in range((LATEST_DAY - EARLIEST_DAY).days + 1)]
    assert all(day(d.isoformat()) for d in every_day)
    outside = [EARLIEST_DAY - dt.timedelta(days=1), LATEST_DAY + dt.timedelta(days=1)]
    assert not any(day(d.isoformat()) for d in outside)
    assert not any(
        day(text) for text in ("2023-02-29", "2026-04-31", "2026-13-01", "2026-1-01", "0", "20260101")
    )
    assert day("2024-02-29") and day("2000-02-29")
    assert moment("2026-11-25T14:00:00Z") and moment("2026-11-25T14:00:00.5+05:30")
    assert moment("2026-11-25T14:00:00")  # no offset: UTC
    assert not any(moment(text) for text in ("1999-12-31T23:00:00Z", "2026-11-25T14:00Z", "1700000000"))
