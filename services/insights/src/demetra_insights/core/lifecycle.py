"""An insight's life: opened by a detection, updated while it lasts, resolved once its metric is normal.

One open insight per (channel, campaign, kind): a detection for a key that is already open updates that
insight (its last day, the newest figures, the money accumulated over the new days) instead of repeating
it. An open insight resolves when an analysis finds its metric back within normal (|z| < z_resolve, or
within resolve_ratio of the usual). A key neither detected nor normal (in between) stays as it is.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

from demetra_insights.core.detectors import Analysis
from demetra_insights.core.insight import Insight


@dataclass(frozen=True, slots=True)
class Changes:
    opened: tuple[Insight, ...]
    updated: tuple[Insight, ...]
    resolved: tuple[Insight, ...]


def reconcile(open_insights: Iterable[Insight], analysis: Analysis) -> Changes:
    current = {insight.key: insight for insight in open_insights if insight.channel is analysis.channel}
    opened: list[Insight] = []
    updated: list[Insight] = []
    detected = set()
    for found in analysis.insights:
        detected.add(found.key)
        before = current.get(found.key)
        if before is None:
            opened.append(found)
        else:
            updated.append(_merge(before, found))
    resolved = tuple(
        insight for key, insight in current.items() if key not in detected and key in analysis.within_normal
    )
    return Changes(tuple(opened), tuple(updated), resolved)


def _merge(before: Insight, found: Insight) -> Insight:
    """The open insight carried forward: a later day extends it and adds its money; a re-judged day it
    already covers (a restatement) refreshes the figures without counting its money twice. A detection
    over a run of days carries the money of the whole run, so only the share of its days after the open
    insight's last day is new (pro rata by days)."""
    new_days = (found.last_day - before.last_day).days
    run_days = (found.last_day - found.first_day).days + 1
    money = before.money_at_stake + found.money_at_stake * min(1.0, max(new_days, 0) / run_days)
    return dataclasses.replace(
        found,
        first_day=min(before.first_day, found.first_day),
        last_day=max(before.last_day, found.last_day),
        money_at_stake=round(money, 2),
        severity=max(before.severity, found.severity, key=_RANK.index),
    )


_RANK = ["info", "warning", "critical"]
