"""Redelivery (a crash between the PostgreSQL commit and the Kafka commit) never counts a message twice.

These drive the core directly with records shaped like Kafka's, against the real database, so that the
exact redelivered ranges are under the test's control.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

import asyncpg

from demetra_common.contracts import Channel, SyncEvent, SyncEventType, SyncRequested, Trigger
from demetra_common.topics import Topics
from demetra_loader.core.batch import check_batch
from demetra_loader.core.dead_letters import DeadLetter
from demetra_loader.core.events import EventRecorder
from demetra_loader.core.loading import CampaignLoader
from demetra_loader.core.partitions import DailyPartitions
from demetra_loader.core.retry import RetryPolicy
from demetra_loader.repository import PostgresDatabase

TOPIC = "campaign.fetched"


class CollectingDeadLetters:
    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []

    async def send(self, letters: Sequence[DeadLetter]) -> None:
        self.letters.extend(letters)


def records(kafka_record: Any, messages: Sequence[Any], partition: int = 0) -> list[Any]:
    return [
        kafka_record(TOPIC, partition, offset, m.model_dump_json().encode(), m.campaign.campaign_id.encode())
        for offset, m in enumerate(messages)
    ]


async def test_a_redelivered_batch_is_skipped_and_counted_once(
    database: PostgresDatabase, db: asyncpg.Connection, make_fetched: Any, kafka_record: Any, load_counts: Any
) -> None:
    dead_letters = CollectingDeadLetters()
    loader = CampaignLoader(
        database,
        dead_letters,
        group_id="loader",
        retry=RetryPolicy(0.01, 0.1),
        partitions=DailyPartitions(database, retention_days=0),
    )
    stream = records(kafka_record, [make_fetched(sync_id="s") for _ in range(150)], partition=2)
    stream[40] = kafka_record(TOPIC, 2, 40, b'{"sync_id": "s", "channel": "facebook"}')  # poison

    first = await loader.load(check_batch(stream[:100]))
    again = await loader.load(check_batch(stream[:100]))  # the same delivery, once more
    overlapping = await loader.load(check_batch(stream[50:]))  # a redelivery that runs further

    assert (first.totals.inserted, first.totals.rejected, first.skipped) == (99, 1, 0)
    assert (again.totals.inserted, again.totals.unchanged, again.totals.rejected, again.skipped) == (
        0,
        0,
        0,
        100,
    )
    assert (overlapping.totals.inserted, overlapping.skipped) == (50, 50)
    assert [letter.record.offset for letter in dead_letters.letters] == [40]
    assert await db.fetchval("SELECT count(*) FROM events WHERE type = 'load'") == 2
    assert (await load_counts(db))[("s", "facebook")] == Counter(inserted=149, rejected=1)
    assert await db.fetchval("SELECT count(*) FROM campaigns") == 149
    next_offset = await db.fetchval(
        "SELECT next_offset FROM consumer_offsets WHERE group_id = 'loader' AND topic = $1 AND partition = 2",
        TOPIC,
    )
    assert next_offset == 150


async def test_offsets_are_kept_per_group_topic_and_partition(
    database: PostgresDatabase, db: asyncpg.Connection, make_fetched: Any, kafka_record: Any
) -> None:
    loader = CampaignLoader(
        database,
        CollectingDeadLetters(),
        group_id="loader",
        retry=RetryPolicy(),
        partitions=DailyPartitions(database, retention_days=0),
    )
    other_group = CampaignLoader(
        database,
        CollectingDeadLetters(),
        group_id="replay",
        retry=RetryPolicy(),
        partitions=DailyPartitions(database, retention_days=0),
    )
    messages = [make_fetched(sync_id="s", channel=Channel.TIKTOK) for _ in range(10)]
    batch = check_batch(records(kafka_record, messages[:5], 0) + records(kafka_record, messages[5:], 1))

    assert (await loader.load(batch)).totals.inserted == 10
    # Another group (say, a deliberate replay from offset 0) is counted on its own: as unchanged rows.
    replay = await other_group.load(batch)
    assert (replay.totals.unchanged, replay.skipped) == (10, 0)
    rows = await db.fetch("SELECT group_id, partition, next_offset FROM consumer_offsets ORDER BY 1, 2")
    assert [tuple(row) for row in rows] == [
        ("loader", 0, 5),
        ("loader", 1, 5),
        ("replay", 0, 5),
        ("replay", 1, 5),
    ]


async def test_sync_events_are_recorded_once_each_even_when_redelivered(
    database: PostgresDatabase, db: asyncpg.Connection, kafka_record: Any
) -> None:
    topics = Topics()
    requested = SyncRequested(sync_id="api-1", trigger=Trigger.API, channels=[Channel.FACEBOOK])
    started = SyncEvent(sync_id="api-1", channel=Channel.FACEBOOK, type=SyncEventType.FETCH_STARTED)
    completed = SyncEvent(
        sync_id="api-1", channel=Channel.FACEBOOK, type=SyncEventType.FETCH_COMPLETED, count=3
    )
    failed = SyncEvent(
        sync_id="api-1", channel=Channel.FACEBOOK, type=SyncEventType.FETCH_FAILED, error="503"
    )
    by_hand = b'{"sync_id": "manual-1", "trigger": "manual"}'  # no event_id, as someone typed it in kcat
    batch = [
        kafka_record(topics.sync_requested, 0, 0, requested.model_dump_json().encode(), b"api-1"),
        kafka_record(topics.sync_requested, 1, 0, by_hand, b"manual-1"),
        kafka_record(topics.sync_requested, 1, 1, b"not json", b"junk"),
        kafka_record(topics.sync_events, 2, 0, started.model_dump_json().encode(), b"api-1"),
        kafka_record(topics.sync_events, 2, 1, completed.model_dump_json().encode(), b"api-1"),
        kafka_record(topics.sync_events, 2, 2, failed.model_dump_json().encode(), b"api-1"),
        kafka_record(topics.sync_events, 2, 3, b'{"sync_id": "api-1", "channel": "facebook"}', b"api-1"),
    ]
    recorder = EventRecorder(database, topics, retry=RetryPolicy())

    assert await recorder.record(batch) == 5
    assert await recorder.record(batch) == 0  # redelivered: nothing new

    rows = await db.fetch(
        "SELECT event_id, sync_id, channel, type, payload, occurred_at FROM events ORDER BY id"
    )
    assert [(r["sync_id"], r["channel"], r["type"]) for r in rows] == [
        ("api-1", None, "sync.requested"),
        ("manual-1", None, "sync.requested"),
        ("api-1", "facebook", "fetch.started"),
        ("api-1", "facebook", "fetch.completed"),
        ("api-1", "facebook", "fetch.failed"),
    ]
    assert rows[0]["event_id"] == requested.event_id
    assert rows[0]["occurred_at"] == requested.requested_at
    assert json.loads(rows[0]["payload"])["channels"] == ["facebook"]
    assert json.loads(rows[1]["payload"])["channels"] == ["facebook", "instagram", "google_ads", "tiktok"]
    assert json.loads(rows[3]["payload"])["count"] == 3
    assert json.loads(rows[4]["payload"])["error"] == "503"
