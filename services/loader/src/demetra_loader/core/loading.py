"""Loading one batch of campaign.fetched records in one PostgreSQL transaction, retried until it commits.

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
from collections.abc import Iterable
from dataclasses import dataclass

from demetra_common.contracts import Channel, LoadCounts
from demetra_loader import metrics
from demetra_loader.core.batch import CheckedBatch, plan_batch
from demetra_loader.core.dead_letters import DeadLetter, DeadLetterSink
from demetra_loader.core.records import RecordPosition, RejectCode, Rejection, position_of
from demetra_loader.core.retry import RetryPolicy
from demetra_loader.core.storage import Database, Repository
from demetra_loader.core.tally import batch_totals, load_event_values, tally
from demetra_loader.repository import CAMPAIGN_ID, CHANNEL, SYNC_ID, Partition, RejectedByDatabase

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What one committed batch did."""

    next_offsets: dict[Partition, int]
    totals: LoadCounts  # totals.rejected records were dead-lettered
    skipped: int
    seconds: float


class CampaignLoader:
    """Loads one batch of campaign.fetched records in one transaction, retrying until it commits."""

    def __init__(
        self, database: Database, dead_letters: DeadLetterSink, *, group_id: str, retry: RetryPolicy
    ) -> None:
        self._database = database
        self._dead_letters = dead_letters
        self._group_id = group_id
        self._retry = retry

    async def load(self, batch: CheckedBatch) -> BatchOutcome:
        began = time.perf_counter()
        sent: set[RecordPosition] = set()  # dead letters Kafka has, by an attempt that failed later
        async for attempt in self._retry.retrying("load batch"):
            with attempt:
                try:
                    outcome = await self._load_once(batch, sent, isolate_refused_rows=False)
                except RejectedByDatabase as exc:
                    # The transaction is gone; do it again, isolating the rows PostgreSQL refuses.
                    logger.warning("PostgreSQL refused rows of a batch, isolating them: %s", exc)
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
                changed, refused = await _upsert_isolating_refused(repository, batch, plan.winners.values())
                plan = plan.without(refused)
            else:
                changed = await repository.write_campaigns(batch.rows(plan.winners.values()))
            tallies = tally(batch, plan, changed)
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
        return BatchOutcome(batch.next_offsets, batch_totals(tallies, plan), plan.skipped, seconds=0.0)


async def _upsert_isolating_refused(
    repository: Repository, batch: CheckedBatch, indices: Iterable[int]
) -> tuple[dict[str, bool], dict[int, Rejection]]:
    """Upsert the rows of these records; the rows PostgreSQL refuses are found by halving, each half in its
    own savepoint, so that the good rows around them still load. Returns what changed (as the repository
    says it) and the refused records, by index, each with its REJECTED_BY_DATABASE rejection."""
    changed: dict[str, bool] = {}
    refused: dict[int, Rejection] = {}
    pending = [list(indices)]
    while pending:
        part = pending.pop()
        try:
            changed.update(await repository.upsert_campaigns(batch.rows(part)))
        except RejectedByDatabase as exc:
            if len(part) == 1:
                row = batch.row(part[0])
                campaign_id, sync_id, channel = row[CAMPAIGN_ID], row[SYNC_ID], Channel(row[CHANNEL])
                refused[part[0]] = Rejection(
                    RejectCode.REJECTED_BY_DATABASE, str(exc)[:1000], sync_id, channel
                )
                logger.warning("PostgreSQL refused %s: %s", campaign_id, exc)
            else:
                middle = len(part) // 2
                pending.extend((part[middle:], part[:middle]))
    return changed, refused
