import dataclasses
import datetime as dt

from demetra_common.contracts import Channel
from demetra_insights.core import InsightKind, analyse, reconcile
from demetra_insights.core.detectors import Analysis

from .series import steady


def spiking_days() -> tuple[list[Analysis], list[dt.date]]:
    series = steady(days=50)
    series.scale(0, slice(44, 46), impressions=3, clicks=3, cost=3, conversions=3, revenue=3)  # 2 days
    panel = series.panel()
    days = [series.day(column) for column in range(43, 50)]
    return [analyse(panel, day) for day in days], days


def test_open_then_update_then_resolve_once_back_to_normal() -> None:
    analyses, days = spiking_days()
    open_now: dict[object, object] = {}
    history = []
    for analysis in analyses:
        changes = reconcile(open_now.values(), analysis)  # type: ignore[arg-type]
        for insight in changes.resolved:
            del open_now[insight.key]
        for insight in changes.opened + changes.updated:
            open_now[insight.key] = insight
        history.append(changes)
    assert [len(c.opened) for c in history] == [0, 1, 0, 0, 0, 0, 0]
    assert [len(c.updated) for c in history] == [0, 0, 1, 0, 0, 0, 0]
    assert [len(c.resolved) for c in history] == [0, 0, 0, 1, 0, 0, 0]
    updated = history[2].updated[0]
    assert updated.kind is InsightKind.SPEND_SPIKE
    assert (updated.first_day, updated.last_day) == (days[1], days[2])
    (found,) = analyses[2].insights  # its money covers its run; only the new day's share is added
    run_days = (found.last_day - found.first_day).days + 1
    assert updated.money_at_stake == round(
        history[1].opened[0].money_at_stake + found.money_at_stake / run_days, 2
    )
    assert open_now == {}


def test_a_restated_day_refreshes_without_counting_money_twice() -> None:
    analyses, _ = spiking_days()
    (first,) = reconcile([], analyses[1]).opened
    (again,) = reconcile([first], analyses[1]).updated
    assert again.money_at_stake == first.money_at_stake and again.last_day == first.last_day


def test_open_insights_of_other_channels_are_left_alone() -> None:
    analyses, _ = spiking_days()
    (first,) = reconcile([], analyses[1]).opened
    elsewhere = dataclasses.replace(first, channel=Channel.TIKTOK)
    changes = reconcile([elsewhere], analyses[4])
    assert changes == type(changes)((), (), ())
