"""The Kafka side of ``Completions`` and ``Slots``: what the ingestor reads to judge a request.

``KafkaCompletions``: the compacted sync.fetched topic, one record per (sync, channel) fetched completely.
``KafkaSlots``: the scheduler's newest requested slot, its ``last_slot`` record on scheduler.state (read only
when a stale scheduled request must be judged).

Written through a declared FastStream publisher (``acks=all``) after the fetch's fetch.completed and before
the request's offset is committed; read with a plain consumer (no group) that is caught up to the topic's
current end before every request is judged, so a record another replica wrote before committing is seen by
whichever consumer reads the duplicate next, across rebalances and restarts.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from typing import TypeAlias

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from faststream.kafka import KafkaBroker
from faststream.kafka.publisher import DefaultPublisher
from pydantic import ValidationError

from demetra_common.contracts import LAST_SLOT_KEY, Channel, ChannelFetched, LastSlot, fetched_key
from demetra_common.topics import SYNC_FETCHED

Record: TypeAlias = ConsumerRecord[bytes, bytes]


def declare_completions_publisher(broker: KafkaBroker, topic: str) -> DefaultPublisher:
    return broker.publisher(
        topic,
        schema=ChannelFetched,
        title=SYNC_FETCHED,
        description="The (sync, channel) pairs an ingestor fetched completely, keyed `<sync_id>/<channel>`; "
        "compacted. Written before the request's offset is committed; a request for a pair found here is "
        "not fetched again (fetch.skipped).",
    )


class TopicReader:
    """Reads every partition of a topic from its beginning, and on ``catch_up`` up to its current end."""

    def __init__(self, topic: str, *, partitions: int, bootstrap_servers: str, timeout_s: float) -> None:
        self._topic = topic
        self._bootstrap = bootstrap_servers
        self._timeout_s = timeout_s
        self._consumer: AIOKafkaConsumer | None = None
        self._partitions = [TopicPartition(topic, p) for p in range(partitions)]
        self._lock = asyncio.Lock()

    async def catch_up(self, apply: Callable[[Record], None]) -> None:
        """Apply every record written before this call (acknowledged by Kafka) that was not applied yet."""
        async with self._lock:
            consumer = await self._started()
            deadline = time.monotonic() + self._timeout_s
            ends = await consumer.end_offsets(self._partitions)
            while [tp for tp in self._partitions if await consumer.position(tp) < ends[tp]]:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{self._topic} not read to its end within {self._timeout_s:g}s")
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    for record in records:
                        apply(record)

    async def _started(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self._bootstrap, enable_auto_commit=False, group_id=None
            )
            await consumer.start()
            consumer.assign(self._partitions)
            await consumer.seek_to_beginning(*self._partitions)
            self._consumer = consumer
        return self._consumer

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None


class KafkaCompletions:
    """``Completions`` over sync.fetched: an index of every record read, caught up before each lookup."""

    def __init__(self, publisher: DefaultPublisher, reader: TopicReader) -> None:
        self._publisher = publisher
        self._reader = reader
        self._fetched: dict[bytes, ChannelFetched] = {}

    async def completed(self, sync_id: str, channel: Channel) -> ChannelFetched | None:
        await self._reader.catch_up(self._apply)
        return self._fetched.get(fetched_key(sync_id, channel))

    async def record(self, fetched: ChannelFetched) -> None:
        key = fetched_key(fetched.sync_id, fetched.channel)
        await self._publisher.publish(fetched, key=key, correlation_id=fetched.sync_id)
        self._fetched[key] = fetched

    def _apply(self, record: Record) -> None:
        if record.key is None or not record.value:
            return
        try:
            self._fetched[record.key] = ChannelFetched.model_validate_json(record.value)
        except ValidationError:
            return  # not a record of ours: it cannot make a request a duplicate

    async def close(self) -> None:
        await self._reader.close()


class KafkaSlots:
    """``Slots`` over scheduler.state: its ``last_slot`` record, caught up on each question."""

    def __init__(self, reader: TopicReader) -> None:
        self._reader = reader
        self._last: LastSlot | None = None

    async def newest_slot(self) -> dt.datetime | None:
        await self._reader.catch_up(self._apply)
        return self._last.slot if self._last else None

    def _apply(self, record: Record) -> None:
        if record.key != LAST_SLOT_KEY or not record.value:
            return
        try:
            self._last = LastSlot.model_validate_json(record.value)
        except ValidationError:
            return

    async def close(self) -> None:
        await self._reader.close()
