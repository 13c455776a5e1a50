"""A batch of campaign.fetched records: each checked (the rows it would write, or why it cannot be loaded),
and planned (what each record not applied by an earlier delivery does)."""

from __future__ import annotations

import asyncio
import datetime as dt
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Final, TypeAlias

from demetra_common.contracts import CampaignDaysFetched
from demetra_common.tables import DAILY_PARTITIONS
from demetra_loader.core.records import (
    CampaignDays,
    Rejection,
    SourceRecord,
    campaign_days,
    campaign_values,
    check_campaign_record,
    checked_fast,
)
from demetra_loader.repository import CAMPAIGN_ID, FETCHED_AT, CampaignValues, DailyValues, Partition

# What checking one record gives: the campaigns row (schema 1) or the daily rows (schema 2) it would write,
# or why it cannot be loaded.
CheckedRecord: TypeAlias = CampaignValues | CampaignDays | Rejection
DATE: Final = 1  # where the day sits in a DailyValues row
# What a checked record is when it is not a schema-1 row (a tuple: ``X | Y`` would build a union per call).
_NOT_A_ROW: Final = (Rejection, CampaignDays)


@dataclass(frozen=True)
class CheckedBatch:
    """Records as consumed, each with the row it would write or why it cannot be loaded (same order).

    The validated messages themselves are not kept: the row holds all the loader needs of them, and keeping
    a batch's ten thousand Pydantic models alive until its commit made every message cost the loader about
    40 % more CPU (bench/README.md, loader).
    """

    records: Sequence[SourceRecord]
    checked: Sequence[CheckedRecord]

    @cached_property
    def next_offsets(self) -> dict[Partition, int]:
        return self._offsets[1]

    @cached_property
    def first_offsets(self) -> dict[Partition, int]:
        return self._offsets[0]

    @cached_property
    def _offsets(self) -> tuple[dict[Partition, int], dict[Partition, int]]:
        return offset_bounds(self.records)

    @cached_property
    def plan(self) -> BatchPlan:
        """The plan when no record of the batch was applied before (nearly always): made while checking,
        so that the writer does not spend its time on it."""
        return plan_batch(self, {})

    @cached_property
    def months(self) -> frozenset[dt.date]:
        """The months of every day the batch's schema-2 records carry (their partitions must exist)."""
        months: set[dt.date] = set()
        for checked in self.checked:
            if isinstance(checked, CampaignDays):
                months.update(_months_of(checked.rows))
        return frozenset(months)

    def row(self, index: int) -> CampaignValues:
        """The row of a schema-1 record the plan kept (a winner or a superseded duplicate)."""
        row = self.checked[index]
        assert not isinstance(row, _NOT_A_ROW)
        return row

    def rows(self, indices: Iterable[int]) -> list[CampaignValues]:
        return [self.row(index) for index in indices]

    def days(self, index: int) -> CampaignDays:
        """The daily rows of a schema-2 record the plan kept."""
        days = self.checked[index]
        assert isinstance(days, CampaignDays)
        return days


def _months_of(rows: Sequence[DailyValues]) -> Iterator[dt.date]:
    """The months of these rows (in ascending date order, as a message's days are): one look per month,
    not per row."""
    index = 0
    while index < len(rows):
        month = DAILY_PARTITIONS.month_of(rows[index][DATE])
        yield month
        index = bisect_left(rows, DAILY_PARTITIONS.next_month(month), index, key=_date)


def _date(row: DailyValues) -> dt.date:
    return row[DATE]


def next_offsets(records: Sequence[SourceRecord]) -> dict[Partition, int]:
    """Per (topic, partition): the offset after the last of these records."""
    return offset_bounds(records)[1]


def first_offsets(records: Sequence[SourceRecord]) -> dict[Partition, int]:
    """Per (topic, partition): the offset of the first of these records."""
    return offset_bounds(records)[0]


def offset_bounds(records: Sequence[SourceRecord]) -> tuple[dict[Partition, int], dict[Partition, int]]:
    """``first_offsets`` and ``next_offsets`` in one pass."""
    first: dict[Partition, int] = {}
    after: dict[Partition, int] = {}
    for record in records:
        partition, offset = (record.topic, record.partition), record.offset
        if offset < first.get(partition, offset + 1):
            first[partition] = offset
        if offset >= after.get(partition, 0):
            after[partition] = offset + 1
    return first, after


def _check(record: SourceRecord) -> CheckedRecord:
    fast = checked_fast(record.value)
    if fast is not None:
        return fast
    verdict = check_campaign_record(record.value)
    if isinstance(verdict, Rejection):
        return verdict
    if isinstance(verdict, CampaignDaysFetched):
        return campaign_days(verdict)
    return campaign_values(verdict)


def check_batch(records: Sequence[SourceRecord]) -> CheckedBatch:
    return CheckedBatch(records, [_check(record) for record in records])


async def check_batch_in_turns(records: Sequence[SourceRecord], *, turn: int = 100) -> CheckedBatch:
    """``check_batch``, giving the event loop a turn every ``turn`` records. Checking a large batch takes
    tens of milliseconds; meanwhile the writer's database round trips for the previous batch must not wait,
    or PostgreSQL idles while Python validates (which made the whole load half as fast). The rows and the
    plan are made here too, so that the writer's own share of the CPU stays small."""
    checked: list[CheckedRecord] = []
    for start in range(0, len(records), turn):
        checked.extend(_check(record) for record in records[start : start + turn])
        await asyncio.sleep(0)
    batch = CheckedBatch(records, checked)
    _ = batch.next_offsets, batch.first_offsets, batch.months
    await asyncio.sleep(0)
    _ = batch.plan
    return batch


@dataclass(frozen=True, slots=True)
class BatchPlan:
    """What each record not yet applied does, by index into the batch.

    Schema 1 (campaigns rows): ``winners`` and ``superseded``. Schema 2 (daily rows): ``staged`` holds, per
    record, the days it wins (newest fetched_at per (campaign_id, date) in the batch, a later record winning
    a tie), every record of the campaigns in ``day_records`` is counted, a record winning no day changes
    nothing.
    """

    winners: Mapping[str, int] = field(default_factory=dict)  # campaign_id -> the newest record of it
    superseded: Sequence[int] = ()  # older duplicates of a winner: change nothing
    rejected: Mapping[int, Rejection] = field(default_factory=dict)
    skipped: int = 0  # applied by an earlier delivery
    day_records: Mapping[str, Sequence[int]] = field(default_factory=dict)  # campaign_id -> its records
    staged: Mapping[int, Sequence[DailyValues]] = field(default_factory=dict)  # record -> the days it wins

    def without(self, refused: Mapping[int, Rejection]) -> BatchPlan:
        """This plan with the ``refused`` records rejected instead (PostgreSQL refused their rows)."""
        if not refused:
            return self
        day_records = {
            campaign_id: kept
            for campaign_id, indices in self.day_records.items()
            if (kept := [index for index in indices if index not in refused])
        }
        return BatchPlan(
            winners={
                campaign_id: index for campaign_id, index in self.winners.items() if index not in refused
            },
            superseded=self.superseded,
            rejected={**self.rejected, **refused},
            skipped=self.skipped,
            day_records=day_records,
            staged={index: rows for index, rows in self.staged.items() if index not in refused},
        )


def plan_batch(batch: CheckedBatch, applied: Mapping[Partition, int]) -> BatchPlan:
    """Skip what an earlier delivery applied; collapse duplicates of a campaign (schema 1) or of a
    campaign's day (schema 2) to the newest fetched_at (a later record wins a tie)."""
    winners: dict[str, int] = {}
    superseded: list[int] = []
    rejected: dict[int, Rejection] = {}
    skipped = 0
    newest: dict[str, dt.datetime] = {}  # campaign_id -> fetched_at of its winner
    day_records: dict[str, list[int]] = {}
    for index, (record, row) in enumerate(zip(batch.records, batch.checked, strict=True)):
        if record.offset < applied.get((record.topic, record.partition), 0):
            skipped += 1
            continue
        if isinstance(row, Rejection):
            rejected[index] = row
            continue
        if isinstance(row, CampaignDays):
            day_records.setdefault(row.campaign_id, []).append(index)
            continue
        campaign_id, fetched_at = row[CAMPAIGN_ID], row[FETCHED_AT]
        current = newest.get(campaign_id)
        if current is None:
            newest[campaign_id] = fetched_at
            winners[campaign_id] = index
        elif fetched_at >= current:
            superseded.append(winners[campaign_id])
            newest[campaign_id] = fetched_at
            winners[campaign_id] = index
        else:
            superseded.append(index)
    staged = {
        index: rows for indices in day_records.values() for index, rows in _days_won(batch, indices).items()
    }
    return BatchPlan(winners, superseded, rejected, skipped, day_records, staged)


def _days_won(batch: CheckedBatch, indices: Sequence[int]) -> dict[int, Sequence[DailyValues]]:
    """Per record of one campaign, the days it wins: all of them when it is the campaign's only record in
    the batch (nearly always), else those where no later or newer record of the campaign has the day."""
    if len(indices) == 1:
        return {indices[0]: batch.days(indices[0]).rows}
    winner: dict[dt.date, tuple[dt.datetime, int, DailyValues]] = {}
    for index in indices:  # ascending: a later record wins a tie
        days = batch.days(index)
        for row in days.rows:
            current = winner.get(row[DATE])
            if current is None or days.fetched_at >= current[0]:
                winner[row[DATE]] = (days.fetched_at, index, row)
    won: dict[int, list[DailyValues]] = {}
    for _, index, row in winner.values():
        won.setdefault(index, []).append(row)
    return dict(won)
