"""CampaignLoader against an in-memory database: retries, refused rows, exactly-once counts.

The fake keeps what PostgreSQL guarantees the loader (transactions that commit whole or not at all, a
savepoint per upsert, the fetched_at version guard), so these tests need no PostgreSQL; the integration
tests hold the real repository to the same behaviour.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from demetra_common.contracts import CampaignFetched
from demetra_common.tables import CAMPAIGN_DATA_COLUMNS
from demetra_loader.core.batch import CheckedBatch, check_batch
from demetra_loader.core.dead_letters import DeadLetter
from demetra_loader.core.loading import CampaignLoader
from demetra_loader.core.records import RejectCode
from demetra_loader.core.retry import RetryPolicy
from demetra_loader.repository import (
    CAMPAIGN_ID,
    FETCHED_AT,
    CampaignValues,
    EventValues,
    Partition,
    RejectedByDatabase,
)

TOPIC = "campaign.fetched"
T = dt.datetime(2026, 11, 25, 14, tzinfo=dt.UTC)
NAME = CAMPAIGN_DATA_COLUMNS.index("name")
FAST_RETRY = RetryPolicy(initial_s=0.001, max_s=0.01)


@dataclass
class Tables:
    campaigns: dict[str, CampaignValues] = field(default_factory=dict)
    offsets: dict[tuple[str, str, int], int] = field(default_factory=dict)  # (group, topic, partition)
    events: dict[uuid.UUID, EventValues] = field(default_factory=dict)


class FakeRepository:
    """The statements of ``repository.py`` on a transaction's copy of the tables."""

    def __init__(self, database: FakeDatabase, tables: Tables) -> None:
        self._database = database
        self._tables = tables
        self._aborted = False

    def _statement(self, name: str) -> None:
        if self._aborted:
            raise RuntimeError("current transaction is aborted")  # PostgreSQL refuses every later statement
        self._database.statements.append(name)
        if name in self._database.fail_once:
            self._database.fail_once.remove(name)
            raise ConnectionError(f"connection lost during {name}")

    async def lock_offsets(self, group_id: str, partitions: Sequence[Partition]) -> dict[Partition, int]:
        self._statement("lock_offsets")
        offsets = self._tables.offsets
        return {(t, p): offsets.setdefault((group_id, t, p), 0) for t, p in partitions}

    async def write_campaigns(self, rows: Sequence[CampaignValues]) -> dict[str, bool]:
        self._statement("write_campaigns")
        if any(self._database.refuses(row) for row in rows):
            self._aborted = True
            raise RejectedByDatabase("CheckViolationError: refused")
        return self._apply(rows)

    async def upsert_campaigns(self, rows: Sequence[CampaignValues]) -> dict[str, bool]:
        self._statement("upsert_campaigns")
        if any(self._database.refuses(row) for row in rows):
            raise RejectedByDatabase("CheckViolationError: refused")  # its savepoint rolled back
        return self._apply(rows)

    def _apply(self, rows: Sequence[CampaignValues]) -> dict[str, bool]:
        changed: dict[str, bool] = {}
        for row in rows:
            stored = self._tables.campaigns.get(row[CAMPAIGN_ID])
            if stored is None or row[FETCHED_AT] > stored[FETCHED_AT]:
                self._tables.campaigns[row[CAMPAIGN_ID]] = row
                changed[row[CAMPAIGN_ID]] = stored is None
        return changed

    async def finish_batch(
        self, group_id: str, next_offsets: Mapping[Partition, int], events: Sequence[EventValues]
    ) -> None:
        self._statement("finish_batch")
        for (topic, partition), offset in next_offsets.items():
            key = (group_id, topic, partition)
            self._tables.offsets[key] = max(self._tables.offsets.get(key, 0), offset)
        await self.insert_events(events)

    async def insert_events(self, rows: Sequence[EventValues]) -> int:
        new = [row for row in rows if row[0] not in self._tables.events]
        self._tables.events.update((row[0], row) for row in new)
        return len(new)


@dataclass
class FakeDatabase:
    """Committed tables, and a fresh copy of them for every transaction (kept only if it commits)."""

    refuses: Callable[[CampaignValues], bool] = lambda row: False  # a CHECK constraint
    fail_once: list[str] = field(default_factory=list)  # statements that fail the next time they run
    tables: Tables = field(default_factory=Tables)
    statements: list[str] = field(default_factory=list)
    commits: int = 0

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[FakeRepository]:
        working = copy.deepcopy(self.tables)
        yield FakeRepository(self, working)
        self.tables = working
        self.commits += 1

    def load_counts(self) -> list[dict[str, int]]:
        return [json.loads(row[4]) for row in self.tables.events.values()]


class CollectingDeadLetters:
    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []

    async def send(self, letters: Sequence[DeadLetter]) -> None:
        self.letters.extend(letters)


def loader_on(database: FakeDatabase) -> tuple[CampaignLoader, CollectingDeadLetters]:
    dead_letters = CollectingDeadLetters()
    return CampaignLoader(database, dead_letters, group_id="loader", retry=FAST_RETRY), dead_letters


def cursed(row: CampaignValues) -> bool:
    """The rows a CHECK (name <> 'cursed') refuses."""
    return row[NAME] == "cursed"


def messages_of(make_fetched: Any, count: int, *, cursed_at: Sequence[int] = ()) -> list[CampaignFetched]:
    """``count`` messages of sync "s"; those at ``cursed_at`` are campaign "bad-<index>", named "cursed"."""
    return [
        make_fetched(f"bad-{index}", sync_id="s", name="cursed")
        if index in cursed_at
        else make_fetched(sync_id="s")
        for index in range(count)
    ]


def batch_of(kafka_record: Any, values: Sequence[bytes]) -> CheckedBatch:
    return check_batch([kafka_record(TOPIC, 0, offset, value) for offset, value in enumerate(values)])


def encoded(messages: Sequence[CampaignFetched]) -> list[bytes]:
    return [message.model_dump_json().encode() for message in messages]


POISON = b'{"sync_id": "s", "channel": "facebook"}'  # names its sync, but is no campaign.fetched


@pytest.mark.parametrize("failing", ["lock_offsets", "write_campaigns", "finish_batch"])
async def test_a_transient_error_is_retried_and_the_batch_commits_once_with_exact_counts(
    failing: str, make_fetched: Any, kafka_record: Any
) -> None:
    database = FakeDatabase(fail_once=[failing])
    loader, dead_letters = loader_on(database)
    values = encoded(messages_of(make_fetched, 5))
    batch = batch_of(kafka_record, [*values[:2], POISON, *values[2:]])

    outcome = await loader.load(batch)

    assert database.statements.count(failing) == 2  # failed once, then succeeded
    assert database.commits == 1
    assert (outcome.totals.inserted, outcome.totals.rejected, outcome.skipped) == (5, 1, 0)
    assert database.load_counts() == [{"inserted": 5, "updated": 0, "unchanged": 0, "rejected": 1}]
    assert len(database.tables.campaigns) == 5
    assert database.tables.offsets == {("loader", TOPIC, 0): 6}
    assert [letter.record.offset for letter in dead_letters.letters] == [2]  # sent once, not per attempt


async def test_a_row_postgresql_refuses_is_dead_lettered_and_the_others_load(
    make_fetched: Any, kafka_record: Any
) -> None:
    database = FakeDatabase(refuses=cursed)
    loader, dead_letters = loader_on(database)
    messages = messages_of(make_fetched, 7, cursed_at=[4])
    batch = batch_of(kafka_record, [*encoded(messages), POISON])

    outcome = await loader.load(batch)

    assert database.commits == 1
    assert (outcome.totals.inserted, outcome.totals.unchanged, outcome.totals.rejected) == (6, 0, 2)
    assert database.load_counts() == [{"inserted": 6, "updated": 0, "unchanged": 0, "rejected": 2}]
    assert "bad-4" not in database.tables.campaigns and len(database.tables.campaigns) == 6
    assert [(letter.record.offset, letter.rejection.code) for letter in dead_letters.letters] == [
        (4, RejectCode.REJECTED_BY_DATABASE),
        (7, RejectCode.INVALID_MESSAGE),
    ]
    refused = dead_letters.letters[0].rejection
    assert (refused.sync_id, refused.channel) == ("s", messages[4].channel)
    assert "refused" in refused.detail
    assert "bad-4" in batch.plan.winners  # the batch's own plan is left as it was made


async def test_a_batch_postgresql_accepts_takes_the_fast_path_only(
    make_fetched: Any, kafka_record: Any
) -> None:
    database = FakeDatabase()
    loader, _ = loader_on(database)
    batch = batch_of(kafka_record, encoded([make_fetched() for _ in range(3)]))

    assert (await loader.load(batch)).totals.inserted == 3
    assert database.statements == ["lock_offsets", "write_campaigns", "finish_batch"]


async def test_refused_rows_in_a_partly_redelivered_batch_are_counted_once(
    make_fetched: Any, kafka_record: Any
) -> None:
    database = FakeDatabase(refuses=cursed)
    loader, dead_letters = loader_on(database)
    values = encoded(messages_of(make_fetched, 6, cursed_at=[1, 4]))

    first = await loader.load(batch_of(kafka_record, values[:3]))
    again = await loader.load(batch_of(kafka_record, values))  # redelivered, and further

    assert (first.totals.inserted, first.totals.rejected) == (2, 1)
    assert (again.totals.inserted, again.totals.rejected, again.skipped) == (2, 1, 3)
    assert [letter.record.offset for letter in dead_letters.letters] == [1, 4]
    totals = [counts["inserted"] + counts["rejected"] for counts in database.load_counts()]
    assert sum(totals) == 6
