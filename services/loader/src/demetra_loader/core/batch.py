"""A batch of campaign.fetched records: each checked (the row it would write, or why it cannot be loaded),
and planned (what each record not applied by an earlier delivery does)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TypeAlias

from demetra_loader.core.records import Rejection, SourceRecord, campaign_values, check_campaign_record
from demetra_loader.repository import CAMPAIGN_ID, FETCHED_AT, CampaignValues, Partition

# What checking one record gives: the row it would write, or why it cannot be loaded.
CheckedRecord: TypeAlias = CampaignValues | Rejection


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
        return next_offsets(self.records)

    @cached_property
    def first_offsets(self) -> dict[Partition, int]:
        return first_offsets(self.records)

    @cached_property
    def plan(self) -> BatchPlan:
        """The plan when no record of the batch was applied before (nearly always): made while checking,
        so that the writer does not spend its time on it."""
        return plan_batch(self, {})

    def row(self, index: int) -> CampaignValues:
        """The row of a record the plan kept (a winner or a superseded duplicate), never a rejected one."""
        row = self.checked[index]
        assert not isinstance(row, Rejection)
        return row

    def rows(self, indices: Iterable[int]) -> list[CampaignValues]:
        return [self.row(index) for index in indices]


def next_offsets(records: Sequence[SourceRecord]) -> dict[Partition, int]:
    """Per (topic, partition): the offset after the last of these records."""
    partitions: dict[Partition, int] = {}
    for record in records:
        partition = (record.topic, record.partition)
        partitions[partition] = max(partitions.get(partition, 0), record.offset + 1)
    return partitions


def first_offsets(records: Sequence[SourceRecord]) -> dict[Partition, int]:
    """Per (topic, partition): the offset of the first of these records."""
    partitions: dict[Partition, int] = {}
    for record in records:
        partition = (record.topic, record.partition)
        partitions[partition] = min(partitions.get(partition, record.offset), record.offset)
    return partitions


def _check(record: SourceRecord) -> CheckedRecord:
    verdict = check_campaign_record(record.value)
    return verdict if isinstance(verdict, Rejection) else campaign_values(verdict)


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
    _ = batch.next_offsets, batch.first_offsets
    await asyncio.sleep(0)
    _ = batch.plan
    return batch


@dataclass(frozen=True, slots=True)
class BatchPlan:
    """What each record not yet applied does, by index into the batch."""

    winners: Mapping[str, int] = field(default_factory=dict)  # campaign_id -> the newest record of it
    superseded: Sequence[int] = ()  # older duplicates of a winner: change nothing
    rejected: Mapping[int, Rejection] = field(default_factory=dict)
    skipped: int = 0  # applied by an earlier delivery

    def without(self, refused: Mapping[int, Rejection]) -> BatchPlan:
        """This plan with the ``refused`` winners rejected instead (PostgreSQL refused their rows)."""
        if not refused:
            return self
        return BatchPlan(
            winners={
                campaign_id: index for campaign_id, index in self.winners.items() if index not in refused
            },
            superseded=self.superseded,
            rejected={**self.rejected, **refused},
            skipped=self.skipped,
        )


def plan_batch(batch: CheckedBatch, applied: Mapping[Partition, int]) -> BatchPlan:
    """Skip what an earlier delivery applied; collapse duplicates of a campaign to the newest fetched_at
    (a later record wins a tie)."""
    winners: dict[str, int] = {}
    superseded: list[int] = []
    rejected: dict[int, Rejection] = {}
    skipped = 0
    newest: dict[str, dt.datetime] = {}  # campaign_id -> fetched_at of its winner
    for index, (record, row) in enumerate(zip(batch.records, batch.checked, strict=True)):
        if record.offset < applied.get((record.topic, record.partition), 0):
            skipped += 1
            continue
        if isinstance(row, Rejection):
            rejected[index] = row
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
    return BatchPlan(winners, superseded, rejected, skipped)
