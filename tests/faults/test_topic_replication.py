"""Every Demetra topic gets its replicas from the cluster size: one on one broker, 3 (2 in sync) on three."""

from __future__ import annotations

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from demetra_common.topics import Replication, Topics
from tests.faults.conftest import Cluster, partitions


@pytest.mark.parametrize(("brokers", "factor", "min_insync"), [(1, 1, 1), (2, 2, 1), (3, 3, 2), (5, 3, 2)])
def test_replication_follows_the_cluster_up_to_three(brokers: int, factor: int, min_insync: int) -> None:
    assert Replication.for_cluster(brokers) == Replication(factor, min_insync)


def test_topic_configs_carry_min_insync_replicas_next_to_their_own() -> None:
    topics = Topics("t.")
    assert topics.configs(topics.scheduler_state, Replication.of(3)) == {
        "cleanup.policy": "compact",
        "min.insync.replicas": "2",
    }
    assert topics.configs(topics.campaign_fetched) == {}


@pytest.mark.slow
async def test_every_topic_on_the_cluster_has_three_replicas_and_needs_two_in_sync(
    kafka_cluster: Cluster, cluster_topics: Topics
) -> None:
    for topic in cluster_topics.layout():
        assert {len(p["replicas"]) for p in await partitions(kafka_cluster.bootstrap, topic)} == {3}
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_cluster.bootstrap.split(","))
    await admin.start()
    try:
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic) for topic in cluster_topics.layout()]
        )
    finally:
        await admin.close()
    min_insync = {
        resource[3]: value
        for response in responses
        for resource in response.resources
        for name, value, *_ in resource[4]
        if name == "min.insync.replicas"
    }
    assert min_insync == dict.fromkeys(cluster_topics.layout(), "2")
