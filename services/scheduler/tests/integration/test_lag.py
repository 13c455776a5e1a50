"""The lag exporter against the real broker: a group's committed offsets vs the partitions' ends, per
partition, measured while the group has no live consumer at all."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from prometheus_client import REGISTRY

from demetra_common.topics import Topics
from demetra_scheduler.lag import LagMonitor

pytestmark = pytest.mark.timeout(60)


async def produce(bootstrap: str, topic: str, partition: int, count: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for number in range(count):
            await producer.send(topic, f"m{number}".encode(), partition=partition)
        await producer.flush()
    finally:
        await producer.stop()


async def commit(bootstrap: str, group: str, offsets: dict[TopicPartition, int]) -> None:
    """Commit ``offsets`` for ``group`` as a consumer that then leaves (the group has no member after)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit({tp: OffsetAndMetadata(offset, "") for tp, offset in offsets.items()})
    finally:
        await consumer.stop()


def exported(group: str, topic: str, partition: int) -> float | None:
    return REGISTRY.get_sample_value(
        "demetra_consumer_lag", {"group": group, "topic": topic, "partition": str(partition)}
    )


async def test_lag_of_a_group_with_no_consumer_grows_with_every_message_produced(
    kafka_bootstrap: str, topics: Topics
) -> None:
    group, other = topics.group("loader"), topics.group("insights")
    fetched = topics.campaign_fetched
    await produce(kafka_bootstrap, fetched, 0, 10)
    await produce(kafka_bootstrap, fetched, 1, 4)
    await commit(kafka_bootstrap, group, {TopicPartition(fetched, 0): 7, TopicPartition(fetched, 1): 4})
    await commit(kafka_bootstrap, other, {TopicPartition(topics.channel_loaded, 0): 0})
    monitor = LagMonitor(kafka_bootstrap, topics, interval_s=0)

    lag = await monitor.measure()
    assert {key: value for key, value in lag.items() if key[0] == group} == {
        (group, fetched, 0): 3,
        (group, fetched, 1): 0,
    }
    assert lag[other, topics.channel_loaded, 0] == 0
    assert exported(group, fetched, 0) == 3 and exported(group, fetched, 1) == 0

    await produce(kafka_bootstrap, fetched, 1, 5)  # nobody consumes: the lag grows
    await monitor.measure()
    assert exported(group, fetched, 0) == 3 and exported(group, fetched, 1) == 5


async def test_groups_without_the_pipelines_prefix_are_not_measured(
    kafka_bootstrap: str, topics: Topics
) -> None:
    await produce(kafka_bootstrap, topics.sync_events, 0, 2)
    await commit(kafka_bootstrap, f"elsewhere-{topics.prefix}", {TopicPartition(topics.sync_events, 0): 0})
    await commit(kafka_bootstrap, topics.group("loader.events"), {TopicPartition(topics.sync_events, 0): 1})
    lag = await LagMonitor(kafka_bootstrap, topics, interval_s=0).measure()
    assert lag == {(topics.group("loader.events"), topics.sync_events, 0): 1}
