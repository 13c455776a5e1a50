"""The loader's core: judge each campaign.fetched record, load a batch in one PostgreSQL transaction, record
sync events. No FastStream and no FastAPI here; Kafka records arrive as anything shaped like ``SourceRecord``.

Exactly-once counting: the consumer_offsets table holds, per (group, topic, partition), the next offset to
apply, and is updated in the same transaction as the campaign rows and the ``load`` events. A record below
that offset was applied by an earlier delivery (the process died between the database commit and the Kafka
commit) and is skipped, so every message is counted once, in exactly one ``load`` event.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from functools import cached_property
from typing import Any, Protocol, TypeAlias

import orjson
from pydantic import ValidationError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    wait_exponential,
    wait_random,
)

from demetra_common.contracts import (
    CampaignFetched,
    Channel,
    EventType,
    LoadCounts,
    SyncEvent,
    SyncRequested,
    deterministic_event_id,
)
from demetra_common.topics import Topics
from demetra_loader import metrics
from demetra_loader.repository import (
    CAMPAIGN_ID,
    CHANNEL,
    FETCHED_AT,
    SYNC_ID,
    CampaignValues,
    Database,
    EventValues,
    LoaderRepository,
    Position,
    RejectedByDatabase,
)

logger = logging.getLogger(__name__)

# What campaigns can store beyond what the contract checks: numeric(14, 2) and bigint.
MAX_COST = 999_999_999_999.99
MAX_BIGINT = 2**63 - 1


class SourceRecord(Protocol):
    """A Kafka record as the core sees it (aiokafka's ConsumerRecord has this shape)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def timestamp(self) -> int: ...  # milliseconds since the epoch
    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


class RejectCode(StrEnum):
    INVALID_JSON = "invalid_json"
    INVALID_MESSAGE = "invalid_message"
    UNKNOWN_SCHEMA_VERSION = "unknown_schema_version"
    REJECTED_BY_DATABASE = "rejected_by_database"


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a record cannot be loaded, and whose sync it belonged to when the payload says so."""

    code: RejectCode
    detail: str
    sync_id: str | None = None
    channel: Channel | None = None


Verdict: TypeAlias = CampaignFetched | Rejection


# ------------------------------------------------------------------------------------------ judging records


def check_campaign_record(value: bytes | None) -> Verdict:
    """The validated message, or why it cannot be loaded. Pure and cheap: runs for every record."""
    if not value:
        return Rejection(RejectCode.INVALID_JSON, "empty message")
    try:
        message = CampaignFetched.model_validate_json(value)
    except ValidationError as exc:
        return _rejection_from(exc, value)
    if problem := _unstorable(message):
        return Rejection(RejectCode.INVALID_MESSAGE, problem, message.sync_id, message.channel)
    return message


def _rejection_from(exc: ValidationError, value: bytes) -> Rejection:
    errors = exc.errors(include_url=False, include_input=False)
    if any(error["type"] == "json_invalid" for error in errors):
        return Rejection(RejectCode.INVALID_JSON, _describe(errors))
    sync_id, channel = _owner(value)
    if any(error["loc"] == ("schema_version",) for error in errors):
        return Rejection(RejectCode.UNKNOWN_SCHEMA_VERSION, _describe(errors), sync_id, channel)
    return Rejection(RejectCode.INVALID_MESSAGE, _describe(errors), sync_id, channel)


def _describe(errors: Sequence[Any]) -> str:
    parts = [
        f"{'.'.join(str(part) for part in error['loc']) or 'message'}: {error['msg']}" for error in errors
    ]
    return "; ".join(parts)[:1000]


def _owner(value: bytes) -> tuple[str | None, Channel | None]:
    """(sync_id, channel) of an invalid message when both can be read, so it is counted as rejected."""
    try:
        payload = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(payload, dict):
        return None, None
    sync_id, channel = payload.get("sync_id"), payload.get("channel")
    if (
        not isinstance(sync_id, str)
        or not 0 < len(sync_id) <= 64
        or channel not in Channel._value2member_map_
    ):
        return None, None
    return sync_id, Channel(str(channel))


def _unstorable(message: CampaignFetched) -> str | None:
    campaign = message.campaign
    if not campaign.cost <= MAX_COST:  # also false for NaN and infinity
        return f"campaign.cost: {campaign.cost} cannot be stored (at most {MAX_COST})"
    if max(campaign.impressions, campaign.clicks, campaign.engagement) > MAX_BIGINT:
        return "campaign: a count exceeds 2^63 - 1"
    if "\x00" in campaign.name:
        return "campaign.name: contains a NUL character"
    return None


# What checking one record gives: the row it would write, or why it cannot be loaded.
Checked: TypeAlias = CampaignValues | Rejection


@dataclass(frozen=True)
class CheckedBatch:
    """Records as consumed, each with the row it would write or why it cannot be loaded (same order).

    The validated messages themselves are not kept: the row holds all the loader needs of them, and keeping
    a batch's ten thousand Pydantic models alive until its commit made every message cost the loader about
    40 % more CPU (bench/README.md, loader).
    """

    records: Sequence[SourceRecord]
    checked: Sequence[Checked]

    @cached_property
    def next_offsets(self) -> dict[Position, int]:
        return next_offsets(self.records)

    @cached_property
    def first_offsets(self) -> dict[Position, int]:
        """Per (topic, partition): the offset of the first record of this batch."""
        positions: dict[Position, int] = {}
        for record in self.records:
            position = (record.topic, record.partition)
            positions[position] = min(positions.get(position, record.offset), record.offset)
        return positions

    @cached_property
    def plan(self) -> BatchPlan:
        """The plan when no record of the batch was applied before (nearly always): made while checking,
        so that the writer does not spend its time on it."""
        return plan_batch(self, {})


def next_offsets(records: Sequence[SourceRecord]) -> dict[Position, int]:
    """Per (topic, partition): the offset after the last of these records."""
    positions: dict[Position, int] = {}
    for record in records:
        position = (record.topic, record.partition)
        positions[position] = max(positions.get(position, 0), record.offset + 1)
    return positions


def _check(record: SourceRecord) -> Checked:
    verdict = check_campaign_record(record.value)
    return verdict if isinstance(verdict, Rejection) else campaign_values(verdict)


def check_batch(records: Sequence[SourceRecord]) -> CheckedBatch:
    return CheckedBatch(records, [_check(record) for record in records])


async def check_batch_in_turns(records: Sequence[SourceRecord], *, turn: int = 100) -> CheckedBatch:
    """``check_batch``, giving the event loop a turn every ``turn`` records. Checking a large batch takes
    tens of milliseconds; meanwhile the writer's database round trips for the previous batch must not wait,
    or PostgreSQL idles while Python validates (which made the whole load half as fast). The rows and the
    plan are made here too, so that the writer's own share of the CPU stays small."""
    checked: list[Checked] = []
    for start in range(0, len(records), turn):
        checked.extend(_check(record) for record in records[start : start + turn])
        await asyncio.sleep(0)
    batch = CheckedBatch(records, checked)
    _ = batch.next_offsets, batch.first_offsets
    await asyncio.sleep(0)
    _ = batch.plan
    return batch


# ------------------------------------------------------------------------------------------ planning a batch


@dataclass(slots=True)
class BatchPlan:
    """What each record not yet applied does, by index into the batch."""

    winners: dict[str, int] = field(default_factory=dict)  # campaign_id -> the newest record of it
    superseded: list[int] = field(default_factory=list)  # older duplicates of a winner: change nothing
    rejected: dict[int, Rejection] = field(default_factory=dict)
    skipped: int = 0  # applied by an earlier delivery


def plan_batch(batch: CheckedBatch, applied: Mapping[Position, int]) -> BatchPlan:
    """Skip what an earlier delivery applied; collapse duplicates of a campaign to the newest fetched_at
    (a later record wins a tie)."""
    plan = BatchPlan()
    newest: dict[str, dt.datetime] = {}  # campaign_id -> fetched_at of its winner
    for index, (record, row) in enumerate(zip(batch.records, batch.checked, strict=True)):
        if record.offset < applied.get((record.topic, record.partition), 0):
            plan.skipped += 1
            continue
        if isinstance(row, Rejection):
            plan.rejected[index] = row
            continue
        campaign_id, fetched_at = row[CAMPAIGN_ID], row[FETCHED_AT]
        current = newest.get(campaign_id)
        if current is None:
            newest[campaign_id] = fetched_at
            plan.winners[campaign_id] = index
        elif fetched_at >= current:
            plan.superseded.append(plan.winners[campaign_id])
            newest[campaign_id] = fetched_at
            plan.winners[campaign_id] = index
        else:
            plan.superseded.append(index)
    return plan


def campaign_values(message: CampaignFetched) -> CampaignValues:
    """The row to write. ``cost`` goes as the Decimal of its shortest repr ("18526.01"): a float would be sent
    as its exact binary expansion (some fifty digits), which costs both sides more to encode and parse."""
    c = message.campaign
    return (
        c.campaign_id,
        c.channel.value,
        c.name,
        c.date,
        c.impressions,
        c.clicks,
        c.engagement,
        Decimal(repr(c.cost)),
        c.conversion_rate,
        c.roi,
        message.fetched_at,
        message.sync_id,
    )


@dataclass(slots=True)
class Tally:
    """LoadCounts being summed for one (sync_id, channel), plus the first record counted in it."""

    first: tuple[str, int, int]  # lowest (topic, partition, offset) counted: identifies this load event
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0

    def counts(self) -> LoadCounts:
        return LoadCounts(
            inserted=self.inserted, updated=self.updated, unchanged=self.unchanged, rejected=self.rejected
        )


SyncChannel = tuple[str, Channel]


def tally(batch: CheckedBatch, plan: BatchPlan, changed: Mapping[str, bool]) -> dict[SyncChannel, Tally]:
    """Count every planned record once for its (sync_id, channel): inserted, updated, unchanged or rejected.

    Rejected records whose payload names no readable sync are not counted anywhere (only dead-lettered).
    """
    tallies: dict[SyncChannel, Tally] = {}

    def tally_for(sync_id: str, channel: Channel, index: int) -> Tally:
        record = batch.records[index]
        position = (record.topic, record.partition, record.offset)
        found = tallies.get((sync_id, channel))
        if found is None:
            found = tallies[(sync_id, channel)] = Tally(position)
        elif position < found.first:
            found.first = position
        return found

    for campaign_id, index in plan.winners.items():
        row = _row(batch, index)
        counts = tally_for(row[SYNC_ID], Channel(row[CHANNEL]), index)
        inserted = changed.get(campaign_id)
        if inserted is None:
            counts.unchanged += 1
        elif inserted:
            counts.inserted += 1
        else:
            counts.updated += 1
    for index in plan.superseded:
        row = _row(batch, index)
        tally_for(row[SYNC_ID], Channel(row[CHANNEL]), index).unchanged += 1
    for index, rejection in plan.rejected.items():
        if rejection.sync_id is not None and rejection.channel is not None:
            tally_for(rejection.sync_id, rejection.channel, index).rejected += 1
    return tallies


def load_event_values(
    group_id: str, tallies: Mapping[SyncChannel, Tally], now: dt.datetime
) -> list[EventValues]:
    """One ``load`` event per (sync_id, channel). Its id derives from the first record it counts, which is
    counted only once ever, so the id is stable across retries and unique across batches."""
    rows: list[EventValues] = []
    for (sync_id, channel), counts in sorted(tallies.items(), key=lambda item: item[1].first):
        event_id = deterministic_event_id(EventType.LOAD, group_id, *counts.first, sync_id, channel)
        payload = counts.counts().model_dump_json()
        rows.append((event_id, sync_id, channel.value, EventType.LOAD.value, payload, now))
    return rows


# ------------------------------------------------------------------------------------------ dead letters


@dataclass(frozen=True, slots=True)
class DeadLetter:
    record: SourceRecord
    rejection: Rejection

    def headers(self) -> dict[str, str]:
        """The original headers plus why and where from (``reason``, ``source_*``)."""
        headers = {name: value.decode(errors="replace") for name, value in self.record.headers}
        headers.update(
            reason=f"{self.rejection.code.value}: {self.rejection.detail}",
            reason_code=self.rejection.code.value,
            source_topic=self.record.topic,
            source_partition=str(self.record.partition),
            source_offset=str(self.record.offset),
        )
        return headers


class DeadLetterSink(Protocol):
    async def send(self, letters: Sequence[DeadLetter]) -> None:
        """Publish every letter and wait until Kafka has them all (raise otherwise)."""


# ------------------------------------------------------------------------------------------ retries


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retry until success with capped exponential backoff: a batch is never dropped because PostgreSQL or
    Kafka is away; only shutdown (cancellation) ends the retries."""

    initial_s: float = 0.2
    max_s: float = 10.0

    def retrying(self, what: str) -> AsyncRetrying:
        def before_sleep(state: RetryCallState) -> None:
            metrics.RETRIES.labels(what).inc()
            error = state.outcome.exception() if state.outcome else None
            logger.warning(
                "%s failed (attempt %d), retrying in %.1fs: %r",
                what,
                state.attempt_number,
                state.next_action.sleep if state.next_action else 0.0,
                error,
            )

        return AsyncRetrying(
            retry=retry_if_exception_type(Exception),
            wait=wait_exponential(multiplier=self.initial_s, max=self.max_s) + wait_random(0, self.initial_s),
            before_sleep=before_sleep,
            reraise=True,
        )


# ------------------------------------------------------------------------------------------ loading


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What one committed batch did."""

    next_offsets: dict[Position, int]
    totals: LoadCounts
    skipped: int
    dead_letters: int
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
        sent: set[tuple[str, int, int]] = set()
        async for attempt in self._retry.retrying("load batch"):
            with attempt:
                try:
                    outcome = await self._load_once(batch, sent, careful=False)
                except RejectedByDatabase as exc:
                    # The transaction is gone; do it again, isolating the rows PostgreSQL refuses.
                    logger.warning("PostgreSQL refused rows of a batch, isolating them: %s", exc)
                    outcome = await self._load_once(batch, sent, careful=True)
        outcome = BatchOutcome(
            outcome.next_offsets,
            outcome.totals,
            outcome.skipped,
            outcome.dead_letters,
            time.perf_counter() - began,
        )
        metrics.record_batch(outcome.totals, outcome.dead_letters, outcome.skipped, outcome.seconds)
        return outcome

    async def _load_once(
        self, batch: CheckedBatch, sent: set[tuple[str, int, int]], *, careful: bool
    ) -> BatchOutcome:
        async with self._database.transaction() as repository:
            applied = await repository.lock_offsets(self._group_id, list(batch.next_offsets))
            if careful or any(
                applied.get(position, 0) > first for position, first in batch.first_offsets.items()
            ):
                plan = plan_batch(batch, applied)  # a fresh plan: the careful path changes it
            else:
                plan = batch.plan
            if careful:
                changed = await self._upsert_isolating_refused(repository, batch, plan)
            else:
                changed = await repository.write_campaigns(_rows(batch, plan.winners.values()))
            tallies = tally(batch, plan, changed)
            letters = [
                DeadLetter(batch.records[index], rejection)
                for index, rejection in sorted(plan.rejected.items())
                if _where(batch.records[index]) not in sent
            ]
            # Before the commit: a crash after it would otherwise lose them. A failed attempt after this
            # point does not send them twice (``sent``); a crash does, so the DLQ is at-least-once.
            await self._dead_letters.send(letters)
            sent.update(_where(letter.record) for letter in letters)
            events = load_event_values(self._group_id, tallies, dt.datetime.now(dt.UTC))
            await repository.finish_batch(self._group_id, batch.next_offsets, events)
        totals = LoadCounts(
            inserted=sum(t.inserted for t in tallies.values()),
            updated=sum(t.updated for t in tallies.values()),
            unchanged=sum(t.unchanged for t in tallies.values()),
            rejected=len(plan.rejected),
        )
        return BatchOutcome(batch.next_offsets, totals, plan.skipped, len(plan.rejected), 0.0)

    async def _upsert_isolating_refused(
        self, repository: LoaderRepository, batch: CheckedBatch, plan: BatchPlan
    ) -> dict[str, bool]:
        """Upsert the winners; the rows PostgreSQL refuses are found by halving, each half in its own
        savepoint, moved to ``plan.rejected`` and dead-lettered. The good rows around them still load."""
        changed: dict[str, bool] = {}
        pending = [list(plan.winners.values())]
        while pending:
            part = pending.pop()
            try:
                changed.update(await repository.upsert_campaigns(_rows(batch, part)))
            except RejectedByDatabase as exc:
                if len(part) == 1:
                    row = _row(batch, part[0])
                    campaign_id, sync_id, channel = row[CAMPAIGN_ID], row[SYNC_ID], Channel(row[CHANNEL])
                    plan.rejected[part[0]] = Rejection(
                        RejectCode.REJECTED_BY_DATABASE, str(exc)[:1000], sync_id, channel
                    )
                    del plan.winners[campaign_id]
                    logger.warning("PostgreSQL refused %s: %s", campaign_id, exc)
                else:
                    middle = len(part) // 2
                    pending.extend((part[middle:], part[:middle]))
        return changed


def _row(batch: CheckedBatch, index: int) -> CampaignValues:
    """The row of a record the plan kept (a winner or a superseded duplicate), never a rejected one."""
    row = batch.checked[index]
    assert not isinstance(row, Rejection)
    return row


def _rows(batch: CheckedBatch, indices: Iterable[int]) -> list[CampaignValues]:
    return [_row(batch, index) for index in indices]


def _where(record: SourceRecord) -> tuple[str, int, int]:
    return (record.topic, record.partition, record.offset)


OnCommitted = Callable[[BatchOutcome], Awaitable[None]]


@dataclass(slots=True)
class _Pending:
    batch: CheckedBatch
    on_committed: OnCommitted


class LoadPipeline:
    """Writes checked batches in order in one background task, so PostgreSQL works on batch N while the
    consumer fetches and checks batch N+1. ``submit`` blocks while ``depth`` batches wait (backpressure).

    Each batch's ``on_committed`` (the Kafka offset commit) runs after its transaction committed, in order,
    in a second task, so that the writer goes on with the next batch meanwhile.
    """

    def __init__(self, loader: CampaignLoader, *, depth: int = 1) -> None:
        self._loader = loader
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue(maxsize=depth)
        self._committed: asyncio.Queue[tuple[OnCommitted, BatchOutcome]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._accepting = False

    def start(self) -> None:
        self._accepting = True
        self._tasks = [
            asyncio.create_task(self._write_forever(), name="loader-writer"),
            asyncio.create_task(self._confirm_forever(), name="loader-committer"),
        ]

    @property
    def healthy(self) -> bool:
        return bool(self._tasks) and not any(task.done() for task in self._tasks)

    async def submit(self, batch: CheckedBatch, on_committed: OnCommitted) -> bool:
        """Queue a batch; False once shutting down (the batch is then neither written nor committed)."""
        if not self._accepting or not self.healthy:
            return False
        await self._queue.put(_Pending(batch, on_committed))
        return True

    async def stop(self, timeout: float) -> None:
        """Stop accepting, let queued batches commit for up to ``timeout`` seconds, then abandon the rest
        (their transactions roll back; Kafka redelivers them after restart)."""
        self._accepting = False
        if not self._tasks:
            return
        try:
            async with asyncio.timeout(timeout):
                await self._queue.join()
                await self._committed.join()
        except TimeoutError:
            logger.warning("abandoning %d uncommitted batch(es) at shutdown", self._queue.qsize() + 1)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _write_forever(self) -> None:
        while True:
            pending = await self._queue.get()
            try:
                outcome = await self._loader.load(pending.batch)
                self._committed.put_nowait((pending.on_committed, outcome))
            except Exception:
                # load() retries every error itself; reaching here is a bug. Stop writing (nothing after
                # this batch is committed, so nothing is lost) and let /ready report it.
                logger.exception("the load pipeline stopped")
                self._accepting = False
                raise
            finally:
                self._queue.task_done()

    async def _confirm_forever(self) -> None:
        while True:
            on_committed, outcome = await self._committed.get()
            try:
                await on_committed(outcome)
            except Exception:
                logger.exception("after-commit step failed (the batch itself is committed)")
            finally:
                self._committed.task_done()


# ------------------------------------------------------------------------------------------ sync events


def event_values(record: SourceRecord, topics: Topics) -> EventValues | Rejection:
    """The events-table row for a sync.requested or sync.events record.

    A message published by hand may omit event_id and its time (the contract would then invent a random id
    and the current time): the id is derived from the record's position and the time is the record's Kafka
    timestamp instead, so that a redelivery is recognised as the same event.
    """
    try:
        payload = orjson.loads(record.value or b"")
    except orjson.JSONDecodeError as exc:
        return Rejection(RejectCode.INVALID_JSON, str(exc))
    if not isinstance(payload, dict):
        return Rejection(RejectCode.INVALID_MESSAGE, "not a JSON object")
    payload.setdefault("event_id", str(deterministic_event_id(record.topic, record.partition, record.offset)))
    published_at = dt.datetime.fromtimestamp(record.timestamp / 1000, dt.UTC).isoformat()
    try:
        if record.topic == topics.sync_requested:
            payload.setdefault("requested_at", published_at)
            requested = SyncRequested.model_validate(payload)
            return (
                requested.event_id,
                requested.sync_id,
                None,
                EventType.SYNC_REQUESTED.value,
                requested.model_dump_json(),
                requested.requested_at,
            )
        payload.setdefault("occurred_at", published_at)
        event = SyncEvent.model_validate(payload)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        code = (
            RejectCode.UNKNOWN_SCHEMA_VERSION
            if any(error["loc"] == ("schema_version",) for error in errors)
            else RejectCode.INVALID_MESSAGE
        )
        return Rejection(code, _describe(errors))
    return (
        event.event_id,
        event.sync_id,
        event.channel.value,
        event.type.value,
        event.model_dump_json(),
        event.occurred_at,
    )


class EventRecorder:
    """Writes sync.requested and sync.events messages into the events table, idempotent on event_id."""

    def __init__(self, database: Database, topics: Topics, *, retry: RetryPolicy) -> None:
        self._database = database
        self._topics = topics
        self._retry = retry

    async def record(self, records: Sequence[SourceRecord]) -> int:
        """Insert the valid ones in one transaction (retried until it commits); returns how many were new.
        Invalid messages are logged and skipped: they never block the partition."""
        rows: list[EventValues] = []
        for record in records:
            verdict = event_values(record, self._topics)
            if isinstance(verdict, Rejection):
                metrics.EVENTS.labels("rejected").inc()
                logger.warning(
                    "skipping invalid message at %s[%d]@%d: %s: %s",
                    record.topic,
                    record.partition,
                    record.offset,
                    verdict.code.value,
                    verdict.detail,
                )
            else:
                rows.append(verdict)
        inserted = 0
        async for attempt in self._retry.retrying("record events"):
            with attempt:
                async with self._database.transaction() as repository:
                    inserted = await repository.insert_events(rows)
        metrics.EVENTS.labels("recorded").inc(inserted)
        metrics.EVENTS.labels("duplicate").inc(len(rows) - inserted)
        return inserted
