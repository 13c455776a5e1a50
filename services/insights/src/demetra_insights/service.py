"""The insights service's core: a loaded (or restated) channel in, its insights reconciled, stored and
published. No framework imports: the Kafka edge (``handlers.py``) and the repository feed it.

One analysis of one channel is one transaction (``analyse_channel``), and the core owns it rather than
the edge, because the publish must follow the commit:

1. take the channel's advisory lock (replicas serialise per channel, so two never open the same insight:
   the partial unique index on open insights is only the last line of defence);
2. read the channel's daily rows for the baseline window up to the newest day judged, and its open
   insights (``FOR UPDATE``) and, per key, the last day of its newest resolved insight;
3. judge each day (``analyse``), reconcile against the open insights (``reconcile``), keep what really
   changed (``plan_changes``), write it with a version bump, commit;
4. publish ``InsightChanged`` for every row whose ``published_version`` trails its ``version`` (the outbox),
   then set ``published_version``; rows a crash left unpublished go out in the periodic pass.

Idempotence: a redelivered or replayed trigger re-judges the same rows to the same figures, and a change
identical to the stored insight is no change: no version, no event. A replay of an old trigger after its
insight resolved does not reopen it (a detection on a day the resolved insight already covers is known),
an older day does not roll an open insight's figures back (only a restatement of a day the insight
covers re-judges them), and only its newest day back to normal resolves it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

import pandas as pd
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential

from demetra_common.contracts import (
    Channel,
    ChannelLoaded,
    InsightChanged,
    InsightStatus,
    MetricRestated,
    deterministic_event_id,
)
from demetra_insights import metrics
from demetra_insights.core import (
    Analysis,
    ChannelPanel,
    DetectorParams,
    Insight,
    InsightKey,
    analyse,
    reconcile,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StoredInsight:
    """An insight as the ``insights`` table holds it: its id, version, status and the sync that made it."""

    id: uuid.UUID
    version: int
    status: InsightStatus
    insight: Insight
    sync_id: str


@dataclass(frozen=True, slots=True)
class DailyHistory:
    """A channel's daily rows (campaign_id, date and the panel's metrics) and the newest fetched_at."""

    frame: pd.DataFrame
    fetched_at: dt.datetime | None


class Repository(Protocol):
    """The service's statements, inside one transaction (``repository.py`` holds the real ones)."""

    async def lock_channel(self, channel: Channel) -> None:
        """Held until the transaction ends: one analysis of a channel at a time, across replicas."""
        ...

    async def daily_history(self, channel: Channel, first: dt.date, last: dt.date) -> DailyHistory: ...

    async def open_insights(self, channel: Channel) -> list[StoredInsight]:
        """The channel's open insights, locked until the transaction ends."""
        ...

    async def resolved_through(self, channel: Channel) -> dict[InsightKey, dt.date]:
        """Per key, the last day of its newest resolved insight."""
        ...

    async def write_insights(self, rows: Sequence[StoredInsight]) -> None:
        """Insert new ids, update known ones to the given version and status."""
        ...

    async def unpublished(self, channel: Channel | None, limit: int) -> list[StoredInsight]:
        """Rows whose version has no event yet (of one channel, or all), oldest first, locked until the
        transaction ends; rows another transaction holds are skipped."""
        ...

    async def mark_published(self, versions: Sequence[tuple[uuid.UUID, int]]) -> None: ...


class Database(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[Repository]:
        """One transaction: committed when the block ends normally, rolled back on any exception."""
        ...


class InsightSink(Protocol):
    async def send(self, events: Sequence[InsightChanged]) -> None:
        """Publish each on insight.detected or insight.resolved (by status), keyed by campaign_id (the
        channel for a channel-level insight), and wait until Kafka has them all (raise otherwise)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one analysis committed."""

    opened: int = 0
    updated: int = 0
    resolved: int = 0
    published: int = 0


def insight_id(insight: Insight) -> uuid.UUID:
    """Stable for the insight's life: derived from its key and the day it opened on."""
    channel, campaign_id, kind = insight.key
    return deterministic_event_id("insight", channel.value, campaign_id or "", kind.value, insight.first_day)


def insight_changed(stored: StoredInsight) -> InsightChanged:
    insight = stored.insight
    return InsightChanged(
        event_id=deterministic_event_id("insight.changed", stored.id, stored.version),
        insight_id=stored.id,
        version=stored.version,
        status=stored.status,
        kind=insight.kind,
        severity=insight.severity,
        channel=insight.channel,
        campaign_id=insight.campaign_id,
        first_day=insight.first_day,
        last_day=insight.last_day,
        metric=insight.metric,
        observed=insight.observed,
        expected=insight.expected,
        baseline_from=insight.baseline_from,
        baseline_to=insight.baseline_to,
        money_at_stake=insight.money_at_stake,
        explanation=insight.explanation[:1000],
        sync_id=stored.sync_id,
    )


def normalised(insight: Insight) -> Insight:
    """The figures as they are stored and compared: money to the cent, ratios to 6 decimals, so that a
    re-judged day with the same rows compares equal to the stored insight."""
    return dataclasses.replace(
        insight,
        observed=round(insight.observed, 6),
        expected=round(insight.expected, 6),
        money_at_stake=round(insight.money_at_stake, 2),
    )


def plan_changes(
    open_insights: Mapping[InsightKey, StoredInsight],
    resolved_through: Mapping[InsightKey, dt.date],
    analysis: Analysis,
    sync_id: str,
    *,
    restated: bool,
) -> list[StoredInsight]:
    """The rows one analysis changes: opened (version 1), updated or resolved (version + 1). Pure."""
    day = analysis.day
    found = tuple(
        normalised(insight)
        for insight in analysis.insights
        if insight.key not in resolved_through or insight.last_day > resolved_through[insight.key]
    )
    changes = reconcile(
        [stored.insight for stored in open_insights.values()], dataclasses.replace(analysis, insights=found)
    )
    rows = [StoredInsight(insight_id(i), 1, InsightStatus.OPEN, i, sync_id) for i in changes.opened]
    for merged in changes.updated:
        before = open_insights[merged.key]
        stale = day < before.insight.last_day and not (restated and day >= before.insight.first_day)
        merged = normalised(merged)
        if stale or merged == before.insight:
            continue
        rows.append(StoredInsight(before.id, before.version + 1, InsightStatus.OPEN, merged, sync_id))
    for insight in changes.resolved:
        before = open_insights[insight.key]
        if day < before.insight.last_day:
            continue  # an older day back to normal (even restated) says nothing of the newest one
        rows.append(StoredInsight(before.id, before.version + 1, InsightStatus.RESOLVED, insight, sync_id))
    return rows


class InsightsService:
    def __init__(
        self,
        database: Database,
        sink: InsightSink,
        *,
        params: DetectorParams | None = None,
        retry_initial_s: float = 0.2,
        retry_max_s: float = 10.0,
        outbox_chunk: int = 1000,
    ) -> None:
        self._database = database
        self._sink = sink
        self._params = params or DetectorParams()
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s
        self._chunk = outbox_chunk

    async def channel_loaded(self, event: ChannelLoaded) -> Outcome:
        """Judge the newest complete day the sync fetched for the channel (its as-of day is partial)."""
        last = event.date_to or event.loaded_at.astimezone(dt.UTC).date()
        outcome = await self._retrying(event.channel, [last], event.sync_id, restated=False)
        metrics.ANALYSES.labels("channel.loaded").inc()
        return outcome

    async def restated(self, events: Iterable[MetricRestated]) -> list[Outcome]:
        """Re-judge the restated (channel, day) pairs, each channel once over all its days."""
        days: dict[Channel, set[dt.date]] = {}
        syncs: dict[Channel, str] = {}
        for event in events:
            days.setdefault(event.channel, set()).add(event.date)
            syncs[event.channel] = event.sync_id
        outcomes = []
        for channel, dates in sorted(days.items()):
            outcomes.append(await self._retrying(channel, sorted(dates), syncs[channel], restated=True))
            metrics.ANALYSES.labels("metric.restated").inc()
        return outcomes

    async def _retrying(
        self, channel: Channel, days: Sequence[dt.date], sync_id: str, *, restated: bool
    ) -> Outcome:
        """Until it commits (PostgreSQL or Kafka away): the consumer holds its offset meanwhile."""
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(Exception),
            wait=wait_exponential(multiplier=self._retry_initial_s, max=self._retry_max_s),
            before_sleep=lambda state: logger.warning(
                "analysing %s failed (attempt %d), retrying: %r",
                channel.value,
                state.attempt_number,
                state.outcome.exception() if state.outcome else None,
            ),
            reraise=True,
        ):
            with attempt:
                outcome = await self.analyse_channel(channel, days, sync_id, restated=restated)
        return outcome

    async def analyse_channel(
        self, channel: Channel, days: Sequence[dt.date], sync_id: str, *, restated: bool
    ) -> Outcome:
        """One transaction: judge ``days`` of the channel (the newest complete day at most), reconcile,
        store; then publish what it changed."""
        started = time.perf_counter()
        written: dict[uuid.UUID, StoredInsight] = {}
        async with self._database.transaction() as repository:
            await repository.lock_channel(channel)
            first = min(days) - dt.timedelta(days=self._params.history_days(channel))
            history = await repository.daily_history(channel, first, max(days))
            if history.fetched_at is None or history.frame.empty:
                return Outcome()
            as_of = history.fetched_at.astimezone(dt.UTC).date()
            panel = ChannelPanel.from_frame(channel, as_of, history.frame)
            stored = {row.insight.key: row for row in await repository.open_insights(channel)}
            base_versions = {row.id: row.version for row in stored.values()}
            resolved_through = await repository.resolved_through(channel)
            for day in sorted({min(day, as_of - dt.timedelta(days=1)) for day in days}):
                if not panel.first_day <= day < panel.first_day + dt.timedelta(days=panel.days):
                    continue
                analysis = analyse(panel, day, self._params)
                for row in plan_changes(stored, resolved_through, analysis, sync_id, restated=restated):
                    # Several days in one transaction: one version step per insight, the last state.
                    row = dataclasses.replace(row, version=base_versions.get(row.id, 0) + 1)
                    written[row.id] = row
                    if row.status is InsightStatus.OPEN:
                        stored[row.insight.key] = row
                    else:
                        stored.pop(row.insight.key, None)
                        resolved_through[row.insight.key] = row.insight.last_day
            await repository.write_insights(list(written.values()))
        outcome = _outcome(written.values(), base_versions)
        outcome = dataclasses.replace(outcome, published=await self.publish_pending(channel))
        metrics.ANALYSIS_SECONDS.observe(time.perf_counter() - started)
        if written:
            logger.info(
                "%s analysed for sync %s: opened=%d updated=%d resolved=%d",
                channel.value,
                sync_id,
                outcome.opened,
                outcome.updated,
                outcome.resolved,
            )
        return outcome

    async def publish_pending(self, channel: Channel | None = None) -> int:
        """Publish every version not yet published (of one channel, or all), then record it; returns how
        many. The rows stay locked from the read to the record (``SKIP LOCKED``: a concurrent pass, in this
        process or a replica, takes other rows), so a version is published twice only after a crash
        between the publish and the commit; its event_id is the same then."""
        published = 0
        while True:
            async with self._database.transaction() as repository:
                pending = await repository.unpublished(channel, self._chunk)
                if not pending:
                    return published
                await self._sink.send([insight_changed(row) for row in pending])
                await repository.mark_published([(row.id, row.version) for row in pending])
            metrics.PUBLISHED.inc(len(pending))
            published += len(pending)
            if len(pending) < self._chunk:
                return published


def _outcome(rows: Iterable[StoredInsight], base_versions: Mapping[uuid.UUID, int]) -> Outcome:
    opened = updated = resolved = 0
    for row in rows:
        if row.status is InsightStatus.RESOLVED:
            resolved += 1
        elif row.id in base_versions:
            updated += 1
        else:
            opened += 1
    metrics.CHANGES.labels("opened").inc(opened)
    metrics.CHANGES.labels("updated").inc(updated)
    metrics.CHANGES.labels("resolved").inc(resolved)
    return Outcome(opened, updated, resolved)
