"""The scheduler's durable state on the compacted ``scheduler.state`` topic.

Two records, each under its own key so that writers never overwrite each other's facts:
``paused`` (whether scheduled syncs are paused) and ``last_slot`` (the newest slot a sync was requested for).
At startup the topic is read to its end before the cron starts; afterwards it is followed, so a pause sent
to one replica pauses every replica.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from faststream.kafka import KafkaBroker
from faststream.kafka.publisher.usecase import DefaultPublisher
from pydantic import ValidationError

from demetra_common.aio import cancel_all
from demetra_common.contracts import LAST_SLOT_KEY, LastSlot
from demetra_common.topics import SCHEDULER_STATE
from demetra_scheduler.service import PausedState

logger = logging.getLogger(__name__)

PAUSED_KEY = b"paused"


class KafkaStateStore:
    """Writes through declared FastStream publishers; reads with a plain consumer (no group)."""

    def __init__(self, broker: KafkaBroker, topic: str, *, partitions: int, bootstrap_servers: str) -> None:
        self._topic = topic
        self._partitions = partitions
        self._bootstrap = bootstrap_servers
        self._paused_publisher, self._slot_publisher = declare_state_publishers(broker, topic)
        self._consumer: AIOKafkaConsumer | None = None
        self._follower: asyncio.Task[None] | None = None

    async def save_paused(self, state: PausedState) -> None:
        await self._paused_publisher.publish(state, key=PAUSED_KEY)

    async def save_last_slot(self, state: LastSlot) -> None:
        await self._slot_publisher.publish(state, key=LAST_SLOT_KEY)

    async def load(
        self,
        on_paused: Callable[[PausedState], None],
        on_last_slot: Callable[[LastSlot], None],
        *,
        timeout_s: float,
    ) -> None:
        """Apply every record up to the topic's current end, then keep following it in the background."""

        def apply(record: ConsumerRecord[bytes, bytes]) -> None:
            try:
                if record.key == PAUSED_KEY and record.value:
                    on_paused(PausedState.model_validate_json(record.value))
                elif record.key == LAST_SLOT_KEY and record.value:
                    on_last_slot(LastSlot.model_validate_json(record.value))
            except ValidationError as exc:
                logger.warning("ignoring invalid %s record at offset %s: %s", self._topic, record.offset, exc)

        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap, enable_auto_commit=False, group_id=None
        )
        await consumer.start()
        self._consumer = consumer
        deadline = time.monotonic() + timeout_s
        assigned = [TopicPartition(self._topic, p) for p in range(self._partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        ends = await consumer.end_offsets(assigned)
        while [tp for tp in assigned if await consumer.position(tp) < ends[tp]]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self._topic} not read to its end within {timeout_s:g}s")
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    apply(record)
        self._follower = asyncio.create_task(self._follow(consumer, apply), name="scheduler-state-follower")

    @staticmethod
    async def _follow(
        consumer: AIOKafkaConsumer, apply: Callable[[ConsumerRecord[bytes, bytes]], None]
    ) -> None:
        while True:
            try:
                batch = await consumer.getmany(timeout_ms=1000)
            except asyncio.CancelledError:
                raise
            except Exception:  # keep following through broker trouble
                logger.exception("reading scheduler state failed; retrying")
                await asyncio.sleep(1)
                continue
            for records in batch.values():
                for record in records:
                    apply(record)

    async def close(self) -> None:
        await cancel_all([self._follower])
        if self._consumer is not None:
            await self._consumer.stop()


def declare_state_publishers(broker: KafkaBroker, topic: str) -> tuple[DefaultPublisher, DefaultPublisher]:
    paused = broker.publisher(
        topic,
        schema=PausedState,
        title=f"{SCHEDULER_STATE}:paused",
        description="Key `paused`: whether scheduled syncs are paused. Compacted; the latest record wins.",
    )
    last_slot = broker.publisher(
        topic,
        schema=LastSlot,
        title=f"{SCHEDULER_STATE}:last_slot",
        description="Key `last_slot`: the newest slot a scheduled sync was requested for. Compacted.",
    )
    return paused, last_slot
