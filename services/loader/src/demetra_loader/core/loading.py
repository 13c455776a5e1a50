"""Loading one batch of campaign.fetched records in one PostgreSQL transaction, retried until it commits.

Schema-1 records write their campaigns rows; schema-2 records their daily rows, the restatements of past
days they changed, and their campaigns' derived rows (``daily``). The partitions of the batch's months are
created before its transaction.

Exactly-once counting: the consumer_offsets table holds, per (group, topic, partition), the next offset to
apply, and is updated in the same transaction as the campaign rows and the ``load`` events. A record below
that offset was applied by an earlier delivery (the process died between the database commit and the Kafka
commit) and is skipped, so every message is counted once, in exactly one ``load`` event.

The core owns this transaction, not the edge: the pipeline commits it after the handler has returned.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from demetra_common.contracts import Channel, LoadCounts
from demetra_loader import metrics
from demetra_loader.core.batch import BatchPlan, CheckedBatch, plan_batch
from demetra_loader.core.daily import DaysOutcome, day_record_indices, write_days
from demetra_loader.core.dead_letters import DeadLetter, DeadLetterSink
from demetra_loader.core.partitions import DailyPartitions
from demetra_loader.core.records import CampaignDays, RecordPosition, RejectCode, Rejection, position_of
from demetra_loader.core.retry import RetryPolicy
from demetra_loader.core.storage import Database, Repository
from demetra_loader.core.tally import batch_totals, load_event_values, tally
from demetra_loader.repository import (
    CAMPAIGN_ID,
    CHANNEL,
    SYNC_ID,
    Partition,
    RejectedByDatabase,
    StoredRestatement,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What one committed batch did."""

    next_offsets: dict[Partition, int]
    totals: LoadCounts  # totals.rejected records were dead-lettered
    skipped: int
    seconds: float
    restatements: Sequence[StoredRestatement] = field(default=())  # recorded: to publish after commit
    loads: Sequence[tuple[str, str]] = field(default=())  # the (sync_id, channel) pairs it counted


class CampaignLoader:
    """Loads one batch of campaign.fetched records in one transaction, retrying until it commits."""

    def __init__(
        self,
        database: Database,
        dead_letters: DeadLetterSink,
        *,
        group_id: str,
        retry: RetryPolicy,
        partitions: DailyPartitions,
    ) -> None:
        self._database = database
        self._dead_letters = dead_letters
        self._group_id = group_id
        self._retry = retry
        self._partitions = partitions

    async def load(self, batch: CheckedBatch) -> BatchOutcome:
        began = time.perf_counter()
        sent: set[RecordPosition] = set()  # dead letters Kafka has, by an attempt that failed later
        async for attempt in self._retry.retrying("load batch"):
            with attempt:
                await self._partitions.ensure(batch.months)
                try:
                    outcome = await self._load_once(batch, sent, isolate_refused_rows=False)
                except RejectedByDatabase as exc:
                    # The transaction is gone; do it again, isolating the rows PostgreSQL refuses (after
                    # looking the partitions up again: a missing one refuses its days too).
                    logger.warning("PostgreSQL refused rows of a batch, isolating them: %s", exc)
                    self._partitions.forget()
                    await self._partitions.ensure(batch.months)
                    outcome = await self._load_once(batch, sent, isolate_refused_rows=True)
        outcome = dataclasses.replace(outcome, seconds=time.perf_counter() - began)
        metrics.record_batch(outcome.totals, outcome.skipped, outcome.seconds)
        return outcome

    async def _load_once(
        self, batch: CheckedBatch, sent: set[RecordPosition], *, isolate_refused_rows: bool
    ) -> BatchOutcome:
        """One attempt; ``sent`` gains the positions of the dead letters it published."""
        async with self._database.transaction() as repository:
            applied = await repository.lock_offsets(self._group_id, list(batch.next_offsets))
            if any(applied.get(partition, 0) > first for partition, first in batch.first_offsets.items()):
                plan = plan_batch(batch, applied)  # an earlier delivery applied some of these records
            else:
                plan = batch.plan
            if isolate_refused_rows:
                changed: dict[str, bool] = {}
                changed, refused = await _isolating_refused(
                    list(plan.winners.values()), _campaigns_writer(repository, batch), batch, changed
                )
                days, refused_days = await _isolating_refused(
                    day_record_indices(plan), _days_writer(repository, batch, plan), batch, DaysOutcome()
                )
                plan = plan.without({**refused, **refused_days})
            else:
                changed = await repository.write_campaigns(batch.rows(plan.winners.values()))
                days = await write_days(repository, batch, plan, day_record_indices(plan))
            tallies = tally(batch, plan, changed, days)
            letters = [
                DeadLetter(batch.records[index], rejection)
                for index, rejection in sorted(plan.rejected.items())
                if position_of(batch.records[index]) not in sent
            ]
            # Before the commit: a crash after it would otherwise lose them. A failed attempt after this
            # point does not send them twice (``sent``); a crash does, so the DLQ is at-least-once.
            await self._dead_letters.send(letters)
            sent.update(position_of(letter.record) for letter in letters)
            events = load_event_values(self._group_id, tallies, dt.datetime.now(dt.UTC))
            await repository.finish_batch(self._group_id, batch.next_offsets, events)
        return BatchOutcome(
            batch.next_offsets,
            batch_totals(tallies, plan),
            plan.skipped,
            seconds=0.0,
            restatements=days.restatements,
            loads=tuple(dict.fromkeys((sync_id, channel.value) for sync_id, channel, _ in tallies)),
        )


class _Result(Protocol):
    def update(self, other: Any, /) -> None: ...


R = TypeVar("R", bound=_Result)


async def _isolating_refused(
    indices: list[int], write: Callable[[list[int]], Awaitable[R]], batch: CheckedBatch, result: R
) -> tuple[R, dict[int, Rejection]]:
    """Write these records (``write`` of a part of them, which writes nothing if PostgreSQL refuses any of
    its rows); the records PostgreSQL refuses are found by halving, each half on its own, so that the good
    rows around them still load. Returns ``result`` updated with what the accepted parts did, and the
    refused records, by index, each with its REJECTED_BY_DATABASE rejection."""
    refused: dict[int, Rejection] = {}
    pending = [indices] if indices else []
    while pending:
        part = pending.pop()
        try:
            result.update(await write(part))
        except RejectedByDatabase as exc:
            if len(part) == 1:
                refused[part[0]] = _refusal(batch, part[0], exc)
            else:
                middle = len(part) // 2
                pending.extend((part[middle:], part[:middle]))
    return result, refused


def _campaigns_writer(
    repository: Repository, batch: CheckedBatch
) -> Callable[[list[int]], Awaitable[dict[str, bool]]]:
    async def write(part: list[int]) -> dict[str, bool]:
        return await repository.upsert_campaigns(batch.rows(part))  # in a savepoint of its own

    return write


def _days_writer(
    repository: Repository, batch: CheckedBatch, plan: BatchPlan
) -> Callable[[list[int]], Awaitable[DaysOutcome]]:
    async def write(part: list[int]) -> DaysOutcome:
        async with repository.savepoint():
            return await write_days(repository, batch, plan, part, fast=False)

    return write


def _refusal(batch: CheckedBatch, index: int, exc: RejectedByDatabase) -> Rejection:
    checked = batch.checked[index]
    attempt = None
    if isinstance(checked, CampaignDays):
        campaign_id, sync_id, channel = checked.campaign_id, checked.sync_id, Channel(checked.channel)
        attempt = checked.attempt
    else:
        row = batch.row(index)
        campaign_id, sync_id, channel = row[CAMPAIGN_ID], row[SYNC_ID], Channel(row[CHANNEL])
    logger.warning("PostgreSQL refused %s: %s", campaign_id, exc)
    return Rejection(RejectCode.REJECTED_BY_DATABASE, str(exc)[:1000], sync_id, channel, attempt)
