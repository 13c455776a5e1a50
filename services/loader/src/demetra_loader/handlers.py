"""FastStream edges: campaign.fetched batches into the load pipeline, sync events into the events table.

Both subscribers use ``AckPolicy.MANUAL``: FastStream never commits; a Kafka offset is committed only after
the PostgreSQL transaction holding its records committed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.publisher.usecase import BatchPublisher, DefaultPublisher
from faststream.message import StreamMessage
from faststream.middlewares import AckPolicy
from faststream.params import NoCast

from demetra_common.contracts import ChannelLoaded, MetricRestated
from demetra_common.telemetry import BatchTraces, batch_traces, tracing_enabled
from demetra_loader.core.announcements import ChannelAnnouncer
from demetra_loader.core.batch import check_batch_in_turns, first_offsets, next_offsets
from demetra_loader.core.dead_letters import DeadLetter
from demetra_loader.core.events import EventRecorder
from demetra_loader.core.loading import BatchOutcome
from demetra_loader.core.pipeline import LoadPipeline
from demetra_loader.core.records import SourceRecord
from demetra_loader.repository import Partition
from demetra_loader.settings import LoaderSettings

logger = logging.getLogger(__name__)

Records = NoCast[tuple[ConsumerRecord[bytes, bytes], ...]]


async def raw_records(message: StreamMessage[Any]) -> Any:
    """Hand the handler the consumed records untouched: the core validates the raw bytes against the
    contract itself, so FastStream's JSON decoding would be wasted work."""
    return message.raw_message


class KafkaDeadLetters:
    """Publishes rejected records to campaign.fetched.dlq: original key and value, reason in the headers."""

    def __init__(self, publisher: DefaultPublisher | BatchPublisher) -> None:
        self._publisher = publisher

    async def send(self, letters: Sequence[DeadLetter]) -> None:
        await asyncio.gather(*(self._send(letter) for letter in letters))

    async def _send(self, letter: DeadLetter) -> None:
        headers = letter.headers()
        try:
            await self._publisher.publish(letter.record.value or b"", key=letter.record.key, headers=headers)
        except MessageSizeTooLargeError:
            # The reason headers pushed a message that was just under the limit over it: keep the reason
            # and the source position (enough to find the original), drop the value.
            headers["value_dropped"] = "too large for the dead-letter topic with these headers"
            await self._publisher.publish(b"", key=letter.record.key, headers=headers)


class KafkaRestatements:
    """Publishes MetricRestated events on metric.restated, keyed by campaign_id (acks=all: the broker's)."""

    def __init__(self, publisher: DefaultPublisher | BatchPublisher) -> None:
        self._publisher = publisher

    async def send(self, events: Sequence[MetricRestated]) -> None:
        await asyncio.gather(
            *(self._publisher.publish(event, key=event.campaign_id.encode()) for event in events)
        )


class KafkaAnnouncements:
    """Publishes ChannelLoaded events on channel.loaded, keyed by sync_id."""

    def __init__(self, publisher: DefaultPublisher | BatchPublisher) -> None:
        self._publisher = publisher

    async def send(self, events: Sequence[ChannelLoaded]) -> None:
        await asyncio.gather(
            *(self._publisher.publish(event, key=event.sync_id.encode()) for event in events)
        )


def register_handlers(
    broker: KafkaBroker,
    settings: LoaderSettings,
    pipeline: LoadPipeline,
    recorder: EventRecorder,
    announcer: ChannelAnnouncer,
) -> None:
    topics = settings.topics
    # Off, no per-record work: one check per batch. On, each batch adds a span to the trace of every sync it
    # carries (see BatchTraces), ended once the batch committed.
    traced = tracing_enabled()

    @broker.subscriber(
        topics.campaign_fetched,
        batch=True,
        group_id=settings.campaign_group,
        max_records=settings.loader_batch_size,
        batch_timeout_ms=settings.loader_batch_max_wait_ms,
        max_partition_fetch_bytes=8 * 1024 * 1024,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.MANUAL,
        decoder=raw_records,
        title="loader: campaign.fetched",
        description="Schema 1 (CampaignFetched) upserts the campaign; schema 2 (CampaignDaysFetched) upserts "
        "its daily rows, records the past days whose metrics a newer fetch changed (published on "
        "metric.restated after commit) and re-derives the campaign's totals. Newest fetched_at wins; one "
        "transaction and one load event per sync and channel per batch; invalid messages go to "
        "campaign.fetched.dlq.",
    )
    async def load_campaigns(records: Records, message: KafkaMessage) -> None:
        consumer: AIOKafkaConsumer = message.consumer
        traces = batch_traces("load campaigns", records, time.time_ns()) if traced else None
        try:
            batch = await check_batch_in_turns(records)
            queued = await pipeline.submit(batch, partial(_after_commit, consumer, traces))
        except BaseException:
            _rewind(consumer, records)
            raise
        if not queued:  # shutting down: leave these records for the next delivery, without spinning
            _rewind(consumer, records)
            await asyncio.sleep(settings.loader_batch_max_wait_ms / 1000)

    @broker.subscriber(
        topics.sync_requested,
        topics.sync_events,
        batch=True,
        group_id=settings.events_group,
        max_records=1000,
        batch_timeout_ms=settings.loader_batch_max_wait_ms,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.MANUAL,
        decoder=raw_records,
        title="loader: sync.requested, sync.events",
        description="Records every sync request and fetch progress event in the events table.",
    )
    async def record_sync_events(records: Records, message: KafkaMessage) -> None:
        consumer: AIOKafkaConsumer = message.consumer
        traces = batch_traces("record sync events", records, time.time_ns()) if traced else None
        try:
            await recorder.record(records)
        except BaseException:
            _rewind(consumer, records)
            raise
        await _commit(consumer, next_offsets(records))
        if traces is not None:
            traces.end()
        completed = recorder.completed_pairs(records)
        if completed:
            try:
                await announcer.announce(completed)
            except Exception:  # recorded already; the announcer's periodic pass makes up for it
                logger.exception("announcing %d loaded channel(s) failed", len(completed))


async def _after_commit(
    consumer: AIOKafkaConsumer, traces: BatchTraces | None, outcome: BatchOutcome
) -> None:
    """After the batch's transaction committed: commit its offsets to Kafka, end its syncs' spans."""
    await _commit(consumer, outcome.next_offsets)
    totals = outcome.totals
    if traces is not None:
        traces.end()
    logger.info(
        "batch committed in %.3fs: inserted=%d updated=%d unchanged=%d rejected=%d skipped=%d rows=%d "
        "restated=%d",
        outcome.seconds,
        totals.inserted,
        totals.updated,
        totals.unchanged,
        totals.rejected,
        outcome.skipped,
        totals.rows,
        totals.restated,
    )


async def _commit(
    consumer: AIOKafkaConsumer, next_offsets: Mapping[Partition, int]
) -> dict[TopicPartition, int]:
    """Commit offsets of partitions this consumer still owns. A failed commit only means redelivery, which
    the loader recognises (consumer_offsets / event_id), so it is logged, not raised."""
    assigned = consumer.assignment()
    offsets = {
        partition: offset
        for (topic, number), offset in next_offsets.items()
        if (partition := TopicPartition(topic, number)) in assigned
    }
    if offsets:
        try:
            await consumer.commit(offsets)
        except KafkaError as exc:
            logger.warning("Kafka offset commit failed, records will be redelivered and skipped: %r", exc)
    return offsets


def _rewind(consumer: AIOKafkaConsumer, records: Sequence[SourceRecord]) -> None:
    """Seek back to the first record of the batch, so a batch that was not loaded is consumed again
    instead of being silently passed by the next commit."""
    assigned = consumer.assignment()
    for (topic, number), offset in first_offsets(records).items():
        if (partition := TopicPartition(topic, number)) in assigned:
            consumer.seek(partition, offset)
