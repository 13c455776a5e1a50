"""Counting a loaded batch once per (sync_id, channel, fetch attempt), and the ``load`` events that carry
the counts (the attempt in their payload: the sync status counts the loads of one attempt)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from demetra_common.contracts import Channel, EventType, LoadCounts, deterministic_event_id
from demetra_loader.core.batch import BatchPlan, CheckedBatch
from demetra_loader.core.daily import DaysOutcome
from demetra_loader.core.records import RecordPosition, position_of
from demetra_loader.repository import CHANNEL, SYNC_ID, EventValues

# (sync_id, channel, attempt): schema-1 messages and messages from before attempts carry none.
SyncAttempt = tuple[str, Channel, str | None]


@dataclass(slots=True)
class Tally:
    """LoadCounts being summed for one (sync_id, channel), plus the first record counted in it."""

    first_record: RecordPosition  # the lowest counted: identifies this load event
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    rows: int = 0
    restated: int = 0

    def counts(self, attempt: str | None = None) -> LoadCounts:
        return LoadCounts(
            inserted=self.inserted,
            updated=self.updated,
            unchanged=self.unchanged,
            rejected=self.rejected,
            rows=self.rows,
            restated=self.restated,
            attempt=attempt,
        )


def tally(
    batch: CheckedBatch,
    plan: BatchPlan,
    changed: Mapping[str, bool],
    days: DaysOutcome | None = None,
) -> dict[SyncAttempt, Tally]:
    """Count every planned record once for its (sync_id, channel, attempt): inserted, updated, unchanged or
    rejected. ``changed`` is what the database said of schema-1 rows: campaign_id -> True if inserted, False
    if updated (absent: the stored row was as new). ``days`` is what writing the schema-2 records did: such a
    record is inserted when its campaign's row is new (the campaign's first record that wrote a day),
    updated when it added a day or changed one, else unchanged; its days count in ``rows`` and its
    restatements in ``restated``.

    Rejected records whose payload names no readable sync are not counted anywhere (only dead-lettered).
    """
    tallies: dict[SyncAttempt, Tally] = {}

    def tally_for(sync_id: str, channel: Channel, index: int, attempt: str | None = None) -> Tally:
        position = position_of(batch.records[index])
        found = tallies.get((sync_id, channel, attempt))
        if found is None:
            found = tallies[(sync_id, channel, attempt)] = Tally(position)
        elif position < found.first_record:
            found.first_record = position
        return found

    for campaign_id, index in plan.winners.items():
        row = batch.row(index)
        counts = tally_for(row[SYNC_ID], Channel(row[CHANNEL]), index)
        inserted = changed.get(campaign_id)
        if inserted is None:
            counts.unchanged += 1
        elif inserted:
            counts.inserted += 1
        else:
            counts.updated += 1
    days = days or DaysOutcome()
    for campaign_id, indices in plan.day_records.items():
        campaign_inserted = days.campaigns.get(campaign_id, False)
        for index in indices:
            record = batch.days(index)
            counts = tally_for(record.sync_id, Channel(record.channel), index, record.attempt)
            counts.rows += len(record.rows)
            counts.restated += days.restated[index]
            written = days.written.get(index)
            if not days.new_days(plan, index) and (written is None or not written.changed):
                counts.unchanged += 1
            elif campaign_inserted:
                counts.inserted += 1
                campaign_inserted = False
            else:
                counts.updated += 1
    for index in plan.superseded:
        row = batch.row(index)
        tally_for(row[SYNC_ID], Channel(row[CHANNEL]), index).unchanged += 1
    for index, rejection in plan.rejected.items():
        if rejection.sync_id is not None and rejection.channel is not None:
            tally_for(rejection.sync_id, rejection.channel, index, rejection.attempt).rejected += 1
    return tallies


def batch_totals(tallies: Mapping[SyncAttempt, Tally], plan: BatchPlan) -> LoadCounts:
    """The whole batch's counts; rejected includes the records no sync could be read from."""
    return LoadCounts(
        inserted=sum(t.inserted for t in tallies.values()),
        updated=sum(t.updated for t in tallies.values()),
        unchanged=sum(t.unchanged for t in tallies.values()),
        rejected=len(plan.rejected),
        rows=sum(t.rows for t in tallies.values()),
        restated=sum(t.restated for t in tallies.values()),
    )


def load_event_values(
    group_id: str, tallies: Mapping[SyncAttempt, Tally], now: dt.datetime
) -> list[EventValues]:
    """One ``load`` event per (sync_id, channel, attempt). Its id derives from the first record it counts,
    which is counted only once ever, so the id is stable across retries and unique across batches."""
    rows: list[EventValues] = []
    for (sync_id, channel, attempt), counts in sorted(tallies.items(), key=lambda item: item[1].first_record):
        event_id = deterministic_event_id(EventType.LOAD, group_id, *counts.first_record, sync_id, channel)
        payload = counts.counts(attempt).model_dump_json(exclude_none=True)
        rows.append((event_id, sync_id, channel.value, EventType.LOAD.value, payload, now))
    return rows
