import datetime as dt

import pytest

from demetra_scheduler.cron import has_seconds, latest_fire_time, parse_cron, slot_sync_id

NOW = dt.datetime(2026, 11, 25, 14, 5, 3, 250_000, tzinfo=dt.UTC)  # a Wednesday


def test_hourly_crontab_fires_on_the_hour_in_utc() -> None:
    trigger = parse_cron("0 * * * *")
    assert trigger.get_next_fire_time(None, NOW) == dt.datetime(2026, 11, 25, 15, tzinfo=dt.UTC)
    assert latest_fire_time(trigger, NOW) == dt.datetime(2026, 11, 25, 14, tzinfo=dt.UTC)


def test_six_fields_put_seconds_first() -> None:
    trigger = parse_cron("*/10 * * * * *")
    assert has_seconds("*/10 * * * * *") and not has_seconds("0 * * * *")
    assert latest_fire_time(trigger, NOW) == dt.datetime(2026, 11, 25, 14, 5, 0, tzinfo=dt.UTC)


def test_a_fire_time_exactly_now_is_the_latest() -> None:
    at = dt.datetime(2026, 11, 25, 14, tzinfo=dt.UTC)
    assert latest_fire_time(parse_cron("0 * * * *"), at) == at


@pytest.mark.parametrize(
    ("weekday", "expected"),
    [
        ("1-5", dt.datetime(2026, 11, 25, 9, tzinfo=dt.UTC)),  # Mon-Fri: today (Wednesday)
        ("0", dt.datetime(2026, 11, 22, 9, tzinfo=dt.UTC)),  # crontab 0 is Sunday
        ("7", dt.datetime(2026, 11, 22, 9, tzinfo=dt.UTC)),  # and so is 7
        ("6", dt.datetime(2026, 11, 21, 9, tzinfo=dt.UTC)),  # Saturday
        ("*/2", dt.datetime(2026, 11, 24, 9, tzinfo=dt.UTC)),  # Sun, Tue, Thu, Sat
        ("sat,sun", dt.datetime(2026, 11, 22, 9, tzinfo=dt.UTC)),
    ],
)
def test_weekdays_are_numbered_as_in_crontab(weekday: str, expected: dt.datetime) -> None:
    assert latest_fire_time(parse_cron(f"0 9 * * {weekday}"), NOW) == expected


def test_rare_schedules_look_back_far_enough() -> None:
    assert latest_fire_time(parse_cron("0 0 1 1 *"), NOW) == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize("expression", ["", "* * * *", "* * * * * * *", "61 * * * *", "0 9 * * 8"])
def test_invalid_expressions_are_refused(expression: str) -> None:
    with pytest.raises(ValueError):
        parse_cron(expression)


def test_sync_id_names_the_slot() -> None:
    slot = dt.datetime(2026, 11, 25, 14, tzinfo=dt.UTC)
    assert slot_sync_id(slot) == "sched-20261125T1400Z"
    assert slot_sync_id(slot.replace(second=7), seconds=True) == "sched-20261125T140007Z"
    assert slot_sync_id(slot.astimezone(dt.timezone(dt.timedelta(hours=2)))) == "sched-20261125T1400Z"
