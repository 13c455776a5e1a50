"""Cron expressions and the slots they define (UTC), on APScheduler 3's ``CronTrigger``.

``SYNC_CRON`` is a standard 5-field crontab (minute hour day month weekday) or, mostly for tests, a 6-field
form with seconds first. Weekday numbers follow crontab (0 and 7 are Sunday), not APScheduler 3 (0 is
Monday), so ``0 9 * * 1-5`` means weekdays at 09:00 as anyone reading it expects.
"""

from __future__ import annotations

import datetime as dt
import re

from apscheduler.triggers.cron import CronTrigger

_CRONTAB_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
_NUMERIC_PART = re.compile(r"(?:(\*)|(\d+)(?:-(\d+))?)(?:/(\d+))?")


def _crontab_weekdays(field: str) -> str:
    """Rewrite crontab weekday numbers (0/7 = Sunday) as names, which APScheduler 3 reads the same way.

    Numeric ranges and steps are expanded into lists (``1-5`` -> ``mon,tue,wed,thu,fri``, ``*/2`` ->
    ``sun,tue,thu,sat``) because APScheduler would count them from Monday; names pass through.
    """
    parts: list[str] = []
    for part in field.split(","):
        match = _NUMERIC_PART.fullmatch(part)
        if match is None:
            parts.append(part)  # names, e.g. mon-fri
            continue
        star, first, last, step = match.groups()
        if star and not step:
            parts.append("*")
            continue
        low = 0 if star else int(first)
        high = 6 if star else int(last) if last is not None else low
        if not (0 <= low <= 7 and 0 <= high <= 7 and low <= high):
            raise ValueError(f"invalid weekday {part!r} (0-7, 0 and 7 are Sunday)")
        days = range(low, high + 1, int(step) if step else 1)
        parts.extend(_CRONTAB_WEEKDAYS[day] for day in days)
    return ",".join(dict.fromkeys(parts))


def parse_cron(expression: str) -> CronTrigger:
    """A UTC ``CronTrigger`` for a 5-field crontab or a 6-field (seconds first) expression."""
    fields = expression.split()
    if len(fields) == 5:
        second, (minute, hour, day, month, weekday) = "0", fields
    elif len(fields) == 6:
        second, minute, hour, day, month, weekday = fields
    else:
        raise ValueError(f"cron expression needs 5 fields (or 6 with seconds first), got {expression!r}")
    return CronTrigger(
        second=second,
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=_crontab_weekdays(weekday),
        timezone=dt.UTC,
    )


def has_seconds(expression: str) -> bool:
    return len(expression.split()) == 6


def slot_sync_id(slot: dt.datetime, *, seconds: bool = False) -> str:
    """The sync_id of a scheduled sync: the slot, so every replica and restart asks for the same sync."""
    return slot.astimezone(dt.UTC).strftime("sched-%Y%m%dT%H%M%SZ" if seconds else "sched-%Y%m%dT%H%MZ")


def latest_fire_time(trigger: CronTrigger, now: dt.datetime) -> dt.datetime | None:
    """The newest fire time of ``trigger`` at or before ``now`` (``None`` if none within about a year)."""
    window = dt.timedelta(seconds=1)
    found: dt.datetime | None = None
    while window <= dt.timedelta(days=400):
        candidate = trigger.get_next_fire_time(None, now - window)
        if candidate is not None and candidate <= now:
            found = candidate
            break
        window *= 2
    if found is None:
        return None
    # Walk forward from the first fire time in the window to the last one not after now.
    while (following := trigger.get_next_fire_time(found, found + dt.timedelta(microseconds=1))) is not None:
        if following > now:
            break
        found = following
    return found
