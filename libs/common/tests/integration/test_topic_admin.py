"""``demetra-topics``: creates the code's topic layout on a real broker, idempotently, and fails clearly."""

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from demetra_common.admin import TopicAdminError, describe, ensure_topics
from demetra_common.topics import PARTITIONS, SCHEDULER_STATE, Topics
from demetra_testkit import eventually


@pytest.fixture
async def private_topics(kafka_bootstrap: str) -> AsyncIterator[Topics]:
    """A prefix nobody else uses; whatever the test created under it is deleted afterwards."""
    topics = Topics(prefix=f"adm{uuid.uuid4().hex[:10]}.")
    yield topics
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        mine = [name for name in await admin.list_topics() if name.startswith(topics.prefix)]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()


async def _partitions_and_cleanup_policy(bootstrap: str, topics: Topics) -> dict[str, tuple[int, str]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics.layout()))
        configs = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in topics.layout()]
        )
    finally:
        await admin.close()
    policy = {
        resource[3]: dict((entry[0], entry[1]) for entry in resource[4])["cleanup.policy"]
        for response in configs
        for resource in response.resources
    }
    return {d["topic"]: (len(d["partitions"]), policy[d["topic"]]) for d in described if d["error_code"] == 0}


async def test_create_makes_every_topic_of_the_layout_with_its_partitions_and_configs(
    kafka_bootstrap: str, private_topics: Topics
) -> None:
    report = await ensure_topics(kafka_bootstrap, private_topics)

    assert sorted(report.created) == sorted(private_topics.layout())
    found = await _partitions_and_cleanup_policy(kafka_bootstrap, private_topics)
    assert {name: partitions for name, (partitions, _) in found.items()} == private_topics.layout()
    assert found[private_topics.scheduler_state][1] == "compact"
    assert found[private_topics.campaign_fetched][1] == "delete"


async def test_second_run_creates_nothing_and_reports_what_exists(
    kafka_bootstrap: str, private_topics: Topics
) -> None:
    await ensure_topics(kafka_bootstrap, private_topics)

    again = await ensure_topics(kafka_bootstrap, private_topics)

    assert again.created == []
    assert {state.name: state.partitions for state in again.existing} == private_topics.layout()
    assert again.under_partitioned == []


async def test_concurrent_runs_create_each_topic_once_and_neither_fails(
    kafka_bootstrap: str, private_topics: Topics
) -> None:
    first, second = await asyncio.gather(
        ensure_topics(kafka_bootstrap, private_topics), ensure_topics(kafka_bootstrap, private_topics)
    )

    created = first.created + second.created
    assert sorted(created) == sorted(private_topics.layout())
    states = await describe(kafka_bootstrap, private_topics)
    assert all(state.partitions == state.wanted_partitions for state in states)


async def test_existing_topic_with_fewer_partitions_is_reported_not_changed(
    kafka_bootstrap: str, private_topics: Topics
) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(private_topics.campaign_fetched, 2, 1)])

        async def visible() -> bool:  # metadata reaches every listener a moment after creation
            return private_topics.campaign_fetched in set(await admin.list_topics())

        await eventually(visible, timeout=15, what="new topic in metadata")
    finally:
        await admin.close()

    report = await ensure_topics(kafka_bootstrap, private_topics)

    assert private_topics.campaign_fetched not in report.created
    [short] = report.under_partitioned
    assert (short.name, short.partitions, short.wanted_partitions) == (
        private_topics.campaign_fetched,
        2,
        PARTITIONS["campaign.fetched"],
    )


async def test_unreachable_broker_fails_with_a_clear_error_at_the_deadline() -> None:
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    began = time.monotonic()

    with pytest.raises(TopicAdminError, match=rf"127\.0\.0\.1:{port} did not answer within 2s"):
        await ensure_topics(f"127.0.0.1:{port}", Topics("never."), deadline_s=2)

    assert time.monotonic() - began < 15


def test_cli_creates_the_layout_and_describe_reports_it(kafka_bootstrap: str, private_topics: Topics) -> None:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "KAFKA_TOPIC_PREFIX": private_topics.prefix,
    }
    command = [sys.executable, "-m", "demetra_common.admin"]

    before = subprocess.run([*command, "describe"], env=env, capture_output=True, text=True, timeout=60)
    created = subprocess.run([*command, "create"], env=env, capture_output=True, text=True, timeout=60)
    after = subprocess.run([*command, "describe"], env=env, capture_output=True, text=True, timeout=60)

    assert before.returncode == 2, before.stderr
    assert "missing" in before.stdout
    assert created.returncode == 0, created.stderr
    assert f"created  {private_topics.prefix}{SCHEDULER_STATE} (1 partitions)" in created.stdout
    assert after.returncode == 0, after.stderr
    assert "missing" not in after.stdout
