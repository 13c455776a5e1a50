"""Consumer lag of every Demetra consumer group, measured from the cluster in one place: the scheduler.

A consumer's own lag gauge goes stale exactly when the consumer stalls or dies. The scheduler consumes no
Demetra data topic, so it keeps measuring while any consumer is down: every ``CONSUMER_LAG_INTERVAL_S`` it
lists the cluster's groups (those with ``KAFKA_TOPIC_PREFIX`` when one is set), reads their committed
offsets on the Demetra topics (``Topics.layout()``) and the partitions' end offsets, and exports
``demetra_consumer_lag{group,topic,partition}`` = end offset - committed offset. A group that never committed
on a Demetra topic has no series; a group whose members are all gone keeps its committed offsets (Kafka keeps
them for ``offsets.retention.minutes``), so its lag keeps growing with every message produced.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import Gauge

from demetra_common.aio import cancel_all
from demetra_common.topics import Topics

logger = logging.getLogger(__name__)

LAG = Gauge(
    "demetra_consumer_lag",
    "Messages a consumer group has yet to consume, per partition (end offset - committed offset), measured "
    "by the scheduler from the cluster, so it is exported while the group's consumers are down.",
    ["group", "topic", "partition"],
)
MEASURED_AT = Gauge(
    "demetra_consumer_lag_measured_timestamp_seconds",
    "When demetra_consumer_lag was last measured (Unix time); stale when the measurement fails.",
)

GroupLag = dict[tuple[str, str, int], int]


class LagMonitor:
    """Measures the lag of every Demetra group periodically (``start`` / ``stop``) or once (``measure``)."""

    def __init__(self, bootstrap_servers: str, topics: Topics, *, interval_s: float) -> None:
        self._bootstrap = bootstrap_servers
        self._topics = topics
        self._demetra_topics = frozenset(topics.layout())
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    async def measure(self) -> GroupLag:
        """One measurement, exported (series of groups or partitions that disappeared are removed)."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap)
        ends = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, group_id=None, enable_auto_commit=False)
        await admin.start()
        try:
            await ends.start()
            try:
                lag = await self._measure(admin, ends)
            finally:
                await ends.stop()
        finally:
            await admin.close()
        _export(lag)
        return lag

    async def _measure(self, admin: AIOKafkaAdminClient, ends: AIOKafkaConsumer) -> GroupLag:
        groups = [
            group_id
            for group_id, *_ in await admin.list_consumer_groups()
            if group_id.startswith(self._topics.prefix)
        ]
        committed_per_group = await asyncio.gather(
            *(admin.list_consumer_group_offsets(group) for group in groups)
        )
        committed: dict[tuple[str, TopicPartition], int] = {
            (group, partition): meta.offset
            for group, offsets in zip(groups, committed_per_group, strict=True)
            for partition, meta in offsets.items()
            if partition.topic in self._demetra_topics and meta.offset >= 0
        }
        partitions = {partition for _, partition in committed}
        end_offsets = await ends.end_offsets(list(partitions)) if partitions else {}
        return {
            (group, partition.topic, partition.partition): max(end_offsets[partition] - offset, 0)
            for (group, partition), offset in committed.items()
            if partition in end_offsets
        }

    def start(self) -> None:
        if self._interval_s > 0:
            self._task = asyncio.create_task(self._measure_forever(), name="consumer-lag")

    async def stop(self) -> None:
        await cancel_all([self._task])
        self._task = None

    async def _measure_forever(self) -> None:
        while True:
            try:
                await self.measure()
            except Exception as exc:  # Kafka unreachable: the timestamp goes stale, an alert can see it
                logger.warning("measuring consumer lag failed: %r", exc)
            await asyncio.sleep(self._interval_s)


def _export(lag: GroupLag) -> None:
    # No await between clear and set: a scrape (same event loop) never sees a half-written measurement.
    LAG.clear()
    for (group, topic, partition), value in lag.items():
        LAG.labels(group, topic, str(partition)).set(value)
    MEASURED_AT.set(time.time())
