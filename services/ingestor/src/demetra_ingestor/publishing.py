"""The Kafka side of ``SyncSink``: declared FastStream publishers (they document the contracts).

Campaigns go out as record batches per partition and page (``publish_batch``), which costs about half of
sending them one by one. Each record still lands on the partition the default partitioner would pick for
its key (murmur2 of the campaign_id, as in every Kafka client), so "keyed by campaign_id" holds exactly.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Sequence

from aiokafka.partitioner import DefaultPartitioner
from faststream.kafka import KafkaBroker, KafkaPublishMessage
from faststream.kafka.publisher import BatchPublisher, DefaultPublisher

from demetra_common.contracts import CampaignDaysFetched, SyncEvent
from demetra_common.topics import CAMPAIGN_FETCHED, SYNC_EVENTS, Topics
from demetra_ingestor.service import Delivery

# CampaignDaysFetched's fields are bounded (ids 128, name 255 characters, at most 100 days): its JSON stays
# under ENVELOPE_BYTES + DAY_BYTES per day. A record batch is filled up to the producer's batch size by these
# bounds (a record larger than the batch goes out alone).
ENVELOPE_BYTES = 1024
DAY_BYTES = 224
METADATA_TTL_S = 60.0


def declare_publishers(broker: KafkaBroker, topics: Topics) -> tuple[BatchPublisher, DefaultPublisher]:
    """(campaign.fetched, sync.events) publishers of ``broker``."""
    campaigns = broker.publisher(
        topics.campaign_fetched,
        batch=True,
        schema=CampaignDaysFetched,
        title=CAMPAIGN_FETCHED,
        description="Every campaign an ingestor fetched in a sync with its days (schema 2), one record per "
        "campaign and chunk of at most 100 days, keyed by campaign_id.",
    )
    events = broker.publisher(
        topics.sync_events,
        schema=SyncEvent,
        title=SYNC_EVENTS,
        description="Progress of each channel's fetch (fetch.started with its days, fetch.progress after "
        "each chunk of days, fetch.completed, fetch.failed), keyed by sync_id.",
    )
    return campaigns, events


class KafkaSyncSink:
    """Campaigns are handed over without waiting for acks (the returned delivery does); events wait.

    The correlation id of every message is its sync_id, so the messages of one sync can be traced together
    and a re-run sync republishes identical records (value, key and headers; with tracing on, the
    ``traceparent`` header differs, as it names the publishing span).
    """

    def __init__(
        self,
        broker: KafkaBroker,
        campaigns: BatchPublisher,
        events: DefaultPublisher,
        *,
        max_batch_bytes: int,
    ) -> None:
        self._broker = broker
        self._campaigns = campaigns
        self._events = events
        self._max_batch_bytes = max_batch_bytes
        self._partitioner = DefaultPartitioner()
        self._partitions: list[int] = []
        self._partitions_read_at = -METADATA_TTL_S

    async def publish_campaigns(self, messages: Sequence[CampaignDaysFetched]) -> Delivery:
        partitions = await self._campaign_partitions()
        by_partition: dict[int, list[list[KafkaPublishMessage]]] = defaultdict(lambda: [[]])
        filled: dict[int, int] = defaultdict(int)
        for message in messages:
            key = message.campaign_id.encode()
            partition = self._partitioner(key, partitions, partitions)
            size = ENVELOPE_BYTES + DAY_BYTES * len(message.days)
            batches = by_partition[partition]
            if batches[-1] and filled[partition] + size > self._max_batch_bytes:
                batches.append([])
                filled[partition] = 0
            batches[-1].append(KafkaPublishMessage(message, key=key))
            filled[partition] += size
        acks = []
        for partition, batches in by_partition.items():
            for records in batches:
                ack = await self._campaigns.publish(
                    *records,
                    partition=partition,
                    correlation_id=messages[0].sync_id,
                    no_confirm=True,
                )
                # FastStream's in-memory TestKafkaBroker delivers at once and hands back nothing to wait on.
                if ack is not None:
                    acks.append(ack)
        return asyncio.gather(*acks)

    async def publish_event(self, event: SyncEvent) -> None:
        await self._events.publish(event, key=event.sync_id.encode(), correlation_id=event.sync_id)

    async def _campaign_partitions(self) -> list[int]:
        """The topic's partitions, from the cluster (re-read every minute, so added partitions are used)."""
        if time.monotonic() - self._partitions_read_at > METADATA_TTL_S or not self._partitions:
            [topic] = await self._broker.config.admin_client.describe_topics([self._campaigns.topic])
            if topic["error_code"] or not topic["partitions"]:
                raise LookupError(f"no partitions for {self._campaigns.topic}: error {topic['error_code']}")
            self._partitions = sorted(p["partition"] for p in topic["partitions"])
            self._partitions_read_at = time.monotonic()
        return self._partitions
