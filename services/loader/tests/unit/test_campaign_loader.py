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
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from aiokafka import ConsumerRecord

from demetra_common.contracts import CampaignDaysFetched, CampaignFetched
from demetra_common.tables import CAMPAIGN_DATA_COLUMNS, DAILY_COLUMNS, DAILY_PARTITIONS
from demetra_loader.core.batch import CheckedBatch, check_batch
from demetra_loader.core.dead_letters import DeadLetter
from demetra_loader.core.loading import CampaignLoader
from demetra_loader.core.partitions import DailyPartitions
from demetra_loader.core.records import RejectCode
from demetra_loader.core.restatements import restatement_event_id
from demetra_loader.core.retry import RetryPolicy
from demetra_loader.repository import (
    CAMPAIGN_ID,
    FETCHED_AT,
    CampaignValues,
    DailyValues,
    DaysWritten,
    EventValues,
    MessageDays,
    Partition,
    RejectedByDatabase,
    RestatedDay,
    RestatementValues,
    StoredRestatement,
)

TOPIC = "campaign.fetched"
T = dt.datetime(2026, 11, 25, 14, tzinfo=dt.UTC)
NAME = CAMPAIGN_DATA_COLUMNS.index("name")
FAST_RETRY = RetryPolicy(initial_s=0.001, max_s=0.01)


METRICS = slice(3, 9)  # impressions .. revenue in a DailyValues row
DAY_FETCHED_AT = DAILY_COLUMNS.index("fetched_at")


@dataclass
class Tables:
    campaigns: dict[str, CampaignValues] = field(default_factory=dict)
    offsets: dict[tuple[str, str, int], int] = field(default_factory=dict)  # (group, topic, partition)
    events: dict[uuid.UUID, EventValues] = field(default_factory=dict)
    daily: dict[tuple[str, dt.date], DailyValues] = field(default_factory=dict)
    restatements: dict[uuid.UUID, StoredRestatement] = field(default_factory=dict)
    published: set[int] = field(default_factory=set)
    partitions: set[dt.date] = field(default_factory=set)


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

    async def known_campaigns(self, campaign_ids: Sequence[str]) -> set[str]:
        self._statement("known_campaigns")
        return set(campaign_ids) & set(self._tables.campaigns)

    async def copy_days(self, days: Sequence[MessageDays]) -> None:
        rows = [row for _, message_rows in days for row in message_rows]
        if not rows:
            return
        self._statement("copy_days")
        if any(self._database.refuses_day(row) or (row[0], row[1]) in self._tables.daily for row in rows):
            self._aborted = True
            raise RejectedByDatabase("CheckViolationError: refused")
        await self._upsert_days(days)

    async def upsert_days(self, days: Sequence[MessageDays]) -> dict[int, DaysWritten]:
        if not any(rows for _, rows in days):
            return {}
        self._statement("upsert_days")
        return await self._upsert_days(days)

    async def _upsert_days(self, days: Sequence[MessageDays]) -> dict[int, DaysWritten]:
        rows = [row for _, message_rows in days for row in message_rows]
        if any(self._database.refuses_day(row) for row in rows):
            raise RejectedByDatabase("CheckViolationError: refused")
        if any(DAILY_PARTITIONS.month_of(row[1]) not in self._tables.partitions for row in rows):
            raise RejectedByDatabase("CheckViolationError: no partition of relation found for row")
        written: dict[int, DaysWritten] = {}
        for index, message_rows in days:
            for row in message_rows:
                stored = self._tables.daily.get((row[0], row[1]))
                if stored is None:
                    self._tables.daily[(row[0], row[1])] = row
                    continue
                before = written.get(index, DaysWritten())
                newer = row[DAY_FETCHED_AT] > stored[DAY_FETCHED_AT]
                changed = newer and stored[METRICS] != row[METRICS]
                restated = list(before.restated)
                if changed and row[1] < row[DAY_FETCHED_AT].astimezone(dt.UTC).date():
                    old = tuple(float(value) for value in stored[METRICS])
                    new = tuple(float(value) for value in row[METRICS])
                    restated.append(RestatedDay(row[1], stored[DAY_FETCHED_AT], old, new))
                if newer:
                    self._tables.daily[(row[0], row[1])] = row
                written[index] = DaysWritten(
                    before.existing + 1, before.rewritten + newer, before.changed + changed, restated
                )
        return written

    async def derive_campaigns(
        self,
        campaigns: Sequence[tuple[str, str, str]],
        days_within: Sequence[tuple[dt.date, dt.date]] | None = None,
    ) -> dict[str, bool]:
        if not campaigns:
            return {}  # no statement, as the repository's
        self._statement("derive_campaigns" if days_within is None else "derive_new_campaigns")
        changed: dict[str, bool] = {}
        bounds = days_within or [(dt.date.min, dt.date.max)] * len(campaigns)
        for (campaign_id, name, sync_id), (first, last) in zip(campaigns, bounds, strict=True):
            days = [
                row
                for (owner, date), row in self._tables.daily.items()
                if owner == campaign_id and first <= date <= last  # as PostgreSQL reads them: only these
            ]
            clicks, cost = sum(r[4] for r in days), sum(r[6] for r in days)
            revenue = sum(r[8] for r in days)
            row: CampaignValues = (
                campaign_id,
                days[0][2],
                name,
                max(r[1] for r in days),
                sum(r[3] for r in days),
                clicks,
                sum(r[5] for r in days),
                Decimal(cost),
                min(1.0, sum(r[7] for r in days) / clicks) if clicks else 0.0,
                (revenue - float(cost)) / float(cost) if cost else 0.0,
                max(r[DAY_FETCHED_AT] for r in days),
                sync_id,
            )
            stored = self._tables.campaigns.get(campaign_id)
            if stored is None or row[FETCHED_AT] >= stored[FETCHED_AT]:
                self._tables.campaigns[campaign_id] = row
                changed[campaign_id] = stored is None
        return changed

    async def insert_restatements(self, rows: Sequence[RestatementValues]) -> list[StoredRestatement]:
        self._statement("insert_restatements")
        new = []
        for values in rows:
            if values[0] not in self._tables.restatements:
                stored = StoredRestatement(len(self._tables.restatements) + 1, values)
                self._tables.restatements[values[0]] = stored
                new.append(stored)
        return new

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        saved = copy.deepcopy(self._tables)
        try:
            yield
        except BaseException:
            self._tables.__dict__.update(saved.__dict__)
            raise

    async def unpublished_restatements(self, older_than: dt.timedelta, limit: int) -> list[StoredRestatement]:
        pending = self._tables.restatements.values()
        return [row for row in pending if row.id not in self._tables.published][:limit]

    async def mark_published(self, ids: Sequence[int]) -> None:
        self._tables.published.update(ids)

    async def partition_months(self) -> set[dt.date]:
        self._statement("partition_months")
        return set(self._tables.partitions)

    async def create_partitions(self, months: Iterable[dt.date]) -> None:
        self._statement("create_partitions")
        self._tables.partitions.update(months)

    async def drop_partitions(self, months: Iterable[dt.date]) -> None:
        self._tables.partitions.difference_update(months)
        self._tables.daily = {
            key: row for key, row in self._tables.daily.items() if key[1].replace(day=1) not in months
        }

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
    refuses_day: Callable[[DailyValues], bool] = lambda row: False
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
    partitions = DailyPartitions(database, retention_days=0)
    loader = CampaignLoader(
        database, dead_letters, group_id="loader", retry=FAST_RETRY, partitions=partitions
    )
    return loader, dead_letters


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


def encoded(messages: Sequence[CampaignFetched | CampaignDaysFetched]) -> list[bytes]:
    return [message.model_dump_json().encode() for message in messages]


POISON = b'{"sync_id": "s", "channel": "facebook"}'  # names its sync, but is no campaign.fetched
NONE = {"inserted": 0, "updated": 0, "unchanged": 0, "rejected": 0, "rows": 0, "restated": 0}


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
    assert database.load_counts() == [{**NONE, "inserted": 5, "rejected": 1}]
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
    assert database.load_counts() == [{**NONE, "inserted": 6, "rejected": 2}]
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
    assert database.statements == ["lock_offsets", "write_campaigns", "finish_batch"]  # no partitions


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


# ------------------------------------------------------------------------------ schema 2: daily rows

DAY_1 = dt.date(2026, 11, 20)


def days_loader(database: FakeDatabase) -> tuple[CampaignLoader, Callable[..., Any]]:
    """A loader on ``database`` and ``load(*messages)``: each call one batch, at the next offsets."""
    loader, _ = loader_on(database)
    offsets = iter(range(1_000_000))

    async def load(*messages: CampaignDaysFetched | CampaignFetched) -> Any:
        records = [kafka_record_of(next(offsets), value) for value in encoded(messages)]
        return await loader.load(check_batch(records))

    return loader, load


def kafka_record_of(offset: int, value: bytes) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(TOPIC, 0, offset, 0, 0, None, value, None, 0, len(value), ())


async def test_schema_2_days_land_and_the_campaign_is_derived_from_them(make_days: Any) -> None:
    database = FakeDatabase()
    _, load = days_loader(database)
    message = make_days("fb_1", sync_id="s", first=DAY_1, count=4)

    outcome = await load(message)

    assert (outcome.totals.inserted, outcome.totals.rows, outcome.totals.restated) == (1, 4, 0)
    assert database.load_counts() == [{**NONE, "inserted": 1, "rows": 4}]
    assert sorted(date for _, date in database.tables.daily) == [DAY_1 + dt.timedelta(n) for n in range(4)]
    campaign = database.tables.campaigns["fb_1"]
    assert campaign[4] == 1000 + 1001 + 1002 + 1003  # impressions: the sum of the days
    assert campaign[3] == DAY_1 + dt.timedelta(3)  # the latest day
    assert database.tables.partitions == {dt.date(2026, 11, 1)}  # created before the batch


async def test_a_redelivered_or_replayed_message_changes_nothing(make_days: Any) -> None:
    database = FakeDatabase()
    _, load = days_loader(database)
    message = make_days("fb_1", sync_id="s", first=DAY_1, count=4)
    await load(message)
    tables = copy.deepcopy(database.tables)

    again = await load(message)

    assert (again.totals.unchanged, again.totals.updated, again.totals.rows) == (1, 0, 4)
    assert database.tables.daily == tables.daily and database.tables.campaigns == tables.campaigns
    assert not database.tables.restatements


async def test_a_newer_fetch_restates_exactly_the_changed_metrics_of_past_days(make_days: Any) -> None:
    database = FakeDatabase()
    _, load = days_loader(database)
    t1 = dt.datetime(2026, 11, 23, 10, tzinfo=dt.UTC)
    t2 = t1 + dt.timedelta(days=1)
    await load(make_days("fb_1", sync_id="s1", fetched_at=t1, first=DAY_1, count=4))
    late = {
        DAY_1 + dt.timedelta(1): {"conversions": 2.5, "revenue": 45.0},
        DAY_1 + dt.timedelta(3): {"cost": 13},
    }

    outcome = await load(make_days("fb_1", sync_id="s2", fetched_at=t2, first=DAY_1, count=4, changes=late))

    assert (outcome.totals.updated, outcome.totals.restated) == (1, 3)
    restated = sorted((values[3], values[4], values[5], values[6]) for values in _restatements(database))
    assert restated == [
        (DAY_1 + dt.timedelta(1), "conversions", 1.5, 2.5),
        (DAY_1 + dt.timedelta(1), "revenue", 30.0, 45.0),
        (DAY_1 + dt.timedelta(3), "cost", 12.5, 13.0),
    ]
    (first, *_) = _restatements(database)
    assert first[0] == restatement_event_id("fb_1", first[3], first[4], t2)
    assert (first[7], first[8], first[9]) == ("s2", t2, t1)
    assert [row.values for row in outcome.restatements] == _restatements(database)  # to publish
    assert database.load_counts()[-1] == {**NONE, "updated": 1, "rows": 4, "restated": 3}


async def test_todays_changing_day_is_updated_but_not_restated(make_days: Any) -> None:
    database = FakeDatabase()
    _, load = days_loader(database)
    morning = dt.datetime(2026, 11, 23, 8, tzinfo=dt.UTC)
    await load(make_days("fb_1", fetched_at=morning, count=2))
    today = morning.date()

    outcome = await load(
        make_days(
            "fb_1", fetched_at=morning + dt.timedelta(hours=6), count=2, changes={today: {"clicks": 40}}
        )
    )

    assert (outcome.totals.updated, outcome.totals.restated) == (1, 0)
    assert database.tables.daily[("fb_1", today)][4] == 40
    assert database.tables.campaigns["fb_1"][5] == 50  # clicks of both days


async def test_an_older_fetch_changes_nothing(make_days: Any) -> None:
    database = FakeDatabase()
    _, load = days_loader(database)
    await load(make_days("fb_1", first=DAY_1, count=3, fetched_at=T))
    tables = copy.deepcopy(database.tables)

    outcome = await load(
        make_days(
            "fb_1", first=DAY_1, count=3, fetched_at=T - dt.timedelta(days=1), changes={DAY_1: {"clicks": 1}}
        )
    )

    assert (outcome.totals.unchanged, outcome.totals.restated) == (1, 0)
    assert database.tables.daily == tables.daily and database.tables.campaigns == tables.campaigns


async def test_two_messages_of_a_campaign_in_one_batch_newest_fetch_wins_each_day(make_days: Any) -> None:
    database = FakeDatabase()
    _, load = days_loader(database)
    newer = make_days(
        "fb_1", sync_id="s2", fetched_at=T, first=DAY_1, count=2, changes={DAY_1: {"clicks": 20}}
    )
    older = make_days("fb_1", sync_id="s1", fetched_at=T - dt.timedelta(hours=1), first=DAY_1, count=3)
    chunk = make_days("fb_1", sync_id="s2", fetched_at=T, first=DAY_1 - dt.timedelta(3), count=3)

    outcome = await load(newer, older, chunk)

    assert database.tables.daily[("fb_1", DAY_1)][4] == 20  # newer's, though older came later
    assert (
        database.tables.daily[("fb_1", DAY_1 + dt.timedelta(2))][9] == older.fetched_at
    )  # only older has it
    assert len(database.tables.daily) == 6
    assert (outcome.totals.inserted, outcome.totals.updated, outcome.totals.rows) == (1, 2, 8)
    assert database.tables.campaigns["fb_1"][11] == "s2"  # the newest message's sync
    assert database.tables.campaigns["fb_1"][4] == sum(row[3] for row in database.tables.daily.values())


async def test_schema_1_and_schema_2_messages_load_in_one_batch(make_fetched: Any, make_days: Any) -> None:
    database = FakeDatabase()
    _, load = days_loader(database)

    outcome = await load(make_fetched("snap", sync_id="s"), make_days("days", sync_id="s", count=2))

    assert database.load_counts() == [{**NONE, "inserted": 2, "rows": 2}]
    assert set(database.tables.campaigns) == {"snap", "days"}
    assert outcome.totals.inserted == 2


async def test_a_daily_row_postgresql_refuses_rejects_only_its_message(make_days: Any) -> None:
    database = FakeDatabase(refuses_day=lambda row: row[0] == "bad")
    loader, dead_letters = loader_on(database)
    messages = [make_days("ok-1", sync_id="s"), make_days("bad", sync_id="s"), make_days("ok-2", sync_id="s")]
    batch = check_batch([kafka_record_of(offset, value) for offset, value in enumerate(encoded(messages))])

    outcome = await loader.load(batch)

    assert (outcome.totals.inserted, outcome.totals.rejected, outcome.totals.rows) == (2, 1, 6)
    assert {campaign_id for campaign_id, _ in database.tables.daily} == {"ok-1", "ok-2"}
    assert "bad" not in database.tables.campaigns
    assert [(letter.record.offset, letter.rejection.code) for letter in dead_letters.letters] == [
        (1, RejectCode.REJECTED_BY_DATABASE)
    ]


async def test_partitions_are_looked_up_once_and_created_only_when_missing(make_days: Any) -> None:
    database = FakeDatabase()
    _, load = days_loader(database)
    await load(make_days(first=dt.date(2026, 10, 30), count=3))  # October and November
    await load(make_days(first=dt.date(2026, 11, 2), count=3))

    assert database.tables.partitions == {dt.date(2026, 10, 1), dt.date(2026, 11, 1)}
    assert database.statements.count("partition_months") == 1
    assert database.statements.count("create_partitions") == 1


def _restatements(database: FakeDatabase) -> list[RestatementValues]:
    return [row.values for row in database.tables.restatements.values()]


async def test_a_partition_dropped_behind_the_loaders_back_is_created_again(make_days: Any) -> None:
    database = FakeDatabase()
    _, load = days_loader(database)
    await load(make_days(first=DAY_1, count=2))
    database.tables.partitions.clear()  # dropped by another loader's retention, say

    outcome = await load(make_days(first=DAY_1, count=2))

    assert (outcome.totals.inserted, outcome.totals.rejected) == (1, 0)
    assert database.tables.partitions == {dt.date(2026, 11, 1)}


async def test_new_campaigns_days_are_copied_and_known_campaigns_days_upserted(make_days: Any) -> None:
    database = FakeDatabase()
    _, load = days_loader(database)
    await load(make_days("fb_1", first=DAY_1, fetched_at=T))
    assert "copy_days" in database.statements and "upsert_days" not in database.statements
    database.statements.clear()

    await load(make_days("fb_1", first=DAY_1, fetched_at=T + dt.timedelta(hours=1)), make_days("fb_2"))

    assert database.statements.count("upsert_days") == 1 and database.statements.count("copy_days") == 1
    assert {campaign_id for campaign_id, _ in database.tables.daily} == {"fb_1", "fb_2"}


async def test_a_new_campaign_stored_by_another_writer_since_the_lookup_is_derived_from_all_its_days(
    make_days: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A rebalance's old owner of the partition stored fb_1 (its row and other days) after this batch looked
    # it up: the batch takes it for new, and its row then comes from all its days, not only the batch's.
    database = FakeDatabase()
    _, load = days_loader(database)
    await load(make_days("fb_1", first=DAY_1, count=3, fetched_at=T))

    async def looked_up_before_the_other_writer(
        self: FakeRepository, campaign_ids: Sequence[str]
    ) -> set[str]:
        self._statement("known_campaigns")
        return set()

    monkeypatch.setattr(FakeRepository, "known_campaigns", looked_up_before_the_other_writer)
    database.statements.clear()
    later = make_days("fb_1", first=DAY_1 + dt.timedelta(3), count=2, fetched_at=T + dt.timedelta(hours=1))
    await load(later)

    assert database.statements.count("derive_new_campaigns") == 1
    assert database.statements.count("derive_campaigns") == 1  # again, from all its days
    assert database.tables.campaigns["fb_1"][4] == sum(
        row[3] for (owner, _), row in database.tables.daily.items() if owner == "fb_1"
    )  # all five days


async def test_a_new_campaign_is_derived_within_its_batchs_days_and_a_known_one_from_all_its_days(
    make_days: Any,
) -> None:
    # The fake reads only the days within the bounds given, as PostgreSQL's pruned derive does: a bound that
    # left out a stored day would show in the totals.
    database = FakeDatabase()
    _, load = days_loader(database)
    await load(make_days("fb_1", first=DAY_1, count=3, fetched_at=T))
    assert "derive_new_campaigns" in database.statements and "derive_campaigns" not in database.statements
    database.statements.clear()

    later = make_days("fb_1", first=DAY_1 + dt.timedelta(3), count=2, fetched_at=T + dt.timedelta(hours=1))
    await load(later, make_days("fb_2", first=DAY_1, count=2))

    assert (
        database.statements.count("derive_campaigns"),
        database.statements.count("derive_new_campaigns"),
    ) == (
        1,
        1,
    )
    assert database.tables.campaigns["fb_1"][4] == sum(
        row[3] for (owner, _), row in database.tables.daily.items() if owner == "fb_1"
    )  # all five days, three of them from the first batch
    assert database.tables.campaigns["fb_1"][3] == DAY_1 + dt.timedelta(4)
    assert database.tables.campaigns["fb_2"][4] == 1000 + 1001
