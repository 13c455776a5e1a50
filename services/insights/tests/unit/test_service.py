"""The service's orchestration over a fake repository: open once, nothing new on redelivery, restated days
re-judged, resolved insights not reopened by a replay, every version published once."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import numpy as np
import pandas as pd
import pytest

from demetra_common.contracts import (
    Channel,
    ChannelLoaded,
    DailyMetric,
    InsightChanged,
    InsightKind,
    InsightStatus,
    MetricRestated,
)
from demetra_insights.core import InsightKey
from demetra_insights.core.panel import METRICS
from demetra_insights.service import DailyHistory, InsightsService, StoredInsight

from .series import Series, steady


class FakeRepository:
    def __init__(self, store: FakeDatabase) -> None:
        self._store = store

    async def lock_channel(self, channel: Channel) -> None:
        self._store.locked.append(channel)

    async def daily_history(self, channel: Channel, first: dt.date, last: dt.date) -> DailyHistory:
        frame = self._store.frame
        dates = pd.to_datetime(frame["date"]).dt.date
        return DailyHistory(frame[(dates >= first) & (dates <= last)], self._store.fetched_at)

    async def open_insights(self, channel: Channel) -> list[StoredInsight]:
        return [
            row
            for row in self._store.insights.values()
            if row.status is InsightStatus.OPEN and row.insight.channel is channel
        ]

    async def resolved_through(self, channel: Channel) -> dict[InsightKey, dt.date]:
        through: dict[InsightKey, dt.date] = {}
        for row in self._store.insights.values():
            if row.status is InsightStatus.RESOLVED:
                key = row.insight.key
                through[key] = max(through.get(key, row.insight.last_day), row.insight.last_day)
        return through

    async def write_insights(self, rows: Sequence[StoredInsight]) -> None:
        self._store.pending.extend(rows)

    async def unpublished(self, channel: Channel | None, limit: int) -> list[StoredInsight]:
        return [
            row for row in self._store.insights.values() if row.version > self._store.published.get(row.id, 0)
        ][:limit]

    async def mark_published(self, versions: Sequence[tuple[uuid.UUID, int]]) -> None:
        self._store.published.update(versions)


class FakeDatabase:
    """Insights by id; writes become visible at commit, like a transaction's."""

    def __init__(self, series: Series) -> None:
        self.set_series(series)
        self.fetched_at = dt.datetime.combine(series.day(series.days), dt.time(6), dt.UTC)
        self.insights: dict[uuid.UUID, StoredInsight] = {}
        self.published: dict[uuid.UUID, int] = {}
        self.pending: list[StoredInsight] = []
        self.locked: list[Channel] = []

    def set_series(self, series: Series) -> None:
        rows = []
        for row, campaign_id in enumerate(f"c{n:03d}" for n in range(series.cost.shape[0])):
            for column in range(series.days):
                values = {name: float(getattr(series, name)[row, column]) for name in METRICS}
                rows.append({"campaign_id": campaign_id, "date": series.day(column), **values})
        self.frame = pd.DataFrame(rows)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[FakeRepository]:
        self.pending = []
        yield FakeRepository(self)
        for row in self.pending:
            self.insights[row.id] = row


class FakeSink:
    def __init__(self) -> None:
        self.events: list[InsightChanged] = []

    async def send(self, events: Sequence[InsightChanged]) -> None:
        self.events.extend(events)


LAST = -1


def loaded(series: Series, sync_id: str = "s-1") -> ChannelLoaded:
    return ChannelLoaded(
        sync_id=sync_id,
        channel=series.channel,
        fetched=60,
        loaded=60,
        date_from=series.day(0),
        date_to=series.day(series.days),  # the as-of day: partial, so the day before is judged
    )


def restated(series: Series, column: int, campaign_id: str = "c000") -> MetricRestated:
    day = series.day(series.days + column if column < 0 else column)
    return MetricRestated(
        campaign_id=campaign_id,
        channel=series.channel,
        date=day,
        metric=DailyMetric.CONVERSIONS,
        old_value=0.0,
        new_value=3.0,
        sync_id="s-2",
        fetched_at=dt.datetime.combine(series.day(series.days), dt.time(7), dt.UTC),
        previous_fetched_at=dt.datetime.combine(series.day(series.days), dt.time(6), dt.UTC),
    )


@pytest.fixture
def broken() -> Series:
    series = steady()
    series.conversions[0, LAST] = series.revenue[0, LAST] = 0.0
    return series


async def test_a_loaded_channel_opens_one_insight_and_a_redelivery_changes_nothing(broken: Series) -> None:
    database, sink = FakeDatabase(broken), FakeSink()
    service = InsightsService(database, sink)
    outcome = await service.channel_loaded(loaded(broken))
    (row,) = database.insights.values()
    assert (outcome.opened, outcome.published) == (1, 1)
    assert row.insight.kind is InsightKind.TRACKING_BREAK and row.insight.campaign_id == "c000"
    assert (row.version, row.status, row.insight.last_day) == (1, InsightStatus.OPEN, broken.day(44))
    (event,) = sink.events
    assert (event.insight_id, event.version, event.status) == (row.id, 1, InsightStatus.OPEN)

    again = await service.channel_loaded(loaded(broken))  # redelivered
    await service.channel_loaded(loaded(broken, sync_id="s-replayed"))  # another sync, the same rows
    assert (again.opened, again.updated, again.published) == (0, 0, 0)
    assert list(database.insights.values()) == [row]
    assert len(sink.events) == 1
    assert database.locked == [Channel.FACEBOOK] * 3


async def test_a_restated_day_is_re_judged_and_resolves_what_it_no_longer_shows(broken: Series) -> None:
    database, sink = FakeDatabase(broken), FakeSink()
    service = InsightsService(database, sink)
    await service.channel_loaded(loaded(broken))
    # The day's conversions arrived late after all: the loader restated it.
    recovered = steady()
    database.set_series(recovered)
    database.fetched_at += dt.timedelta(hours=1)
    (outcome,) = await service.restated([restated(recovered, LAST)])
    (row,) = database.insights.values()
    assert (outcome.resolved, row.status, row.version) == (1, InsightStatus.RESOLVED, 2)
    assert [(e.status, e.version) for e in sink.events] == [
        (InsightStatus.OPEN, 1),
        (InsightStatus.RESOLVED, 2),
    ]
    # The same restatement again, or a replay of the trigger that opened it: nothing reopens.
    await service.restated([restated(recovered, LAST)])
    database.set_series(broken)
    await service.channel_loaded(loaded(broken))
    assert list(database.insights.values()) == [row]
    assert len(sink.events) == 2


async def test_a_restated_day_that_now_shows_an_anomaly_opens_it() -> None:
    series = steady()
    database, sink = FakeDatabase(series), FakeSink()
    service = InsightsService(database, sink)
    assert (await service.channel_loaded(loaded(series))).opened == 0
    series.conversions[3, LAST] = series.revenue[3, LAST] = 0.0  # restated to zero: tracking broke
    database.set_series(series)
    (outcome,) = await service.restated([restated(series, LAST, "c003")])
    (row,) = database.insights.values()
    assert outcome.opened == 1 and row.insight.campaign_id == "c003"
    assert [e.insight_id for e in sink.events] == [row.id]


async def test_an_older_day_neither_resolves_nor_rolls_back_an_open_insight(broken: Series) -> None:
    database, sink = FakeDatabase(broken), FakeSink()
    service = InsightsService(database, sink)
    await service.channel_loaded(loaded(broken))
    (before,) = database.insights.values()
    older = loaded(broken).model_copy(update={"date_to": broken.day(40)})  # a late, older trigger
    outcome = await service.channel_loaded(older)
    assert (outcome.updated, outcome.resolved) == (0, 0)
    assert list(database.insights.values()) == [before]


async def test_unpublished_versions_are_published_by_the_pending_pass(broken: Series) -> None:
    database = FakeDatabase(broken)

    class FailingSink(FakeSink):
        async def send(self, events: Sequence[InsightChanged]) -> None:
            raise ConnectionError("Kafka is away")

    service = InsightsService(database, FailingSink(), retry_initial_s=0.001, retry_max_s=0.001)
    with pytest.raises(ConnectionError):
        await service.analyse_channel(Channel.FACEBOOK, [broken.day(44)], "s-1", restated=False)
    (row,) = database.insights.values()  # committed before the publish failed
    sink = FakeSink()
    assert await InsightsService(database, sink).publish_pending() == 1
    assert [(e.insight_id, e.version) for e in sink.events] == [(row.id, 1)]
    assert database.published == {row.id: 1}
    assert np.isfinite(sink.events[0].money_at_stake)
