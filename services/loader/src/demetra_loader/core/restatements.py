"""Restatements: the past days' metrics a newer fetch changed, recorded in the batch's transaction (the
``restatements`` table is the outbox of metric.restated), published after it commits, and published again
later if the process died in between (consumers dedup on event_id)."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from typing import Protocol

from demetra_common.contracts import Channel, DailyMetric, MetricRestated, deterministic_event_id
from demetra_common.tables import DAILY_METRIC_COLUMNS
from demetra_common.topics import METRIC_RESTATED
from demetra_loader.core.records import CampaignDays
from demetra_loader.core.storage import Database
from demetra_loader.repository import RestatedDay, RestatementValues, StoredRestatement

logger = logging.getLogger(__name__)


def restatement_event_id(campaign_id: str, date: dt.date, metric: str, fetched_at: dt.datetime) -> uuid.UUID:
    """The same id for the same change, however often it is recorded or published."""
    version = fetched_at.astimezone(dt.UTC).isoformat()
    return deterministic_event_id(METRIC_RESTATED, campaign_id, date.isoformat(), metric, version)


def restatement_values(days: CampaignDays, restated: Sequence[RestatedDay]) -> list[RestatementValues]:
    """One row per metric that differs, for each restated day of one message."""
    rows: list[RestatementValues] = []
    for day in restated:
        for metric, old, new in zip(DAILY_METRIC_COLUMNS, day.old, day.new, strict=True):
            if old != new:
                event_id = restatement_event_id(days.campaign_id, day.date, metric, days.fetched_at)
                rows.append(
                    (
                        event_id,
                        days.campaign_id,
                        days.channel,
                        day.date,
                        metric,
                        old,
                        new,
                        days.sync_id,
                        days.fetched_at,
                        day.previous_fetched_at,
                    )
                )
    return rows


def metric_restated(values: RestatementValues) -> MetricRestated:
    event_id, campaign_id, channel, date, metric, old, new, sync_id, fetched_at, previous = values
    return MetricRestated(
        event_id=event_id,
        campaign_id=campaign_id,
        channel=Channel(channel),
        date=date,
        metric=DailyMetric(metric),
        old_value=old,
        new_value=new,
        sync_id=sync_id,
        fetched_at=fetched_at,
        previous_fetched_at=previous,
    )


class RestatementSink(Protocol):
    async def send(self, events: Sequence[MetricRestated]) -> None:
        """Publish every event (keyed by campaign_id) and wait until Kafka has them all (raise otherwise)."""


class RestatementOutbox:
    """Publishes recorded restatements on metric.restated, then sets their published_at."""

    def __init__(
        self,
        database: Database,
        sink: RestatementSink,
        *,
        pending_after: dt.timedelta = dt.timedelta(seconds=5),
        chunk: int = 5000,
    ) -> None:
        self._database = database
        self._sink = sink
        self._pending_after = pending_after
        self._chunk = chunk

    async def publish(self, stored: Sequence[StoredRestatement]) -> None:
        """Publish these (a committed batch's) and mark them published. A failure leaves them unpublished,
        for ``publish_pending``."""
        for start in range(0, len(stored), self._chunk):
            part = stored[start : start + self._chunk]
            await self._sink.send([metric_restated(row.values) for row in part])
            async with self._database.transaction() as repository:
                await repository.mark_published([row.id for row in part])

    async def publish_pending(self) -> int:
        """Publish every restatement left unpublished for longer than ``pending_after`` (the process died
        between its commit and its publication); returns how many."""
        published = 0
        while True:
            async with self._database.transaction() as repository:
                pending = await repository.unpublished_restatements(self._pending_after, self._chunk)
            if not pending:
                return published
            await self.publish(pending)
            published += len(pending)
            logger.info("published %d restatement(s) left unpublished", len(pending))
            if len(pending) < self._chunk:
                return published
