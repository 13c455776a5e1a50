"""A private 3-node KRaft cluster for the fault tests, and the pipeline running on it.

The cluster is built by the local stack's own functions (deploy/local/stack.py: node configs, storage
format, command line) from the same Maven jars, on free ports, with its data under a temporary folder: the
shared single broker on 9092 and the stack's .state are never touched. One cluster serves every test of the
session (starting it costs ~10 s); before each test every node runs again and every partition of the test's
topics has all three replicas in sync, so a test finds the cluster whole whatever the previous one killed.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import suppress
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from demetra_common.contracts import ALL_CHANNELS
from demetra_common.topics import Topics
from demetra_testkit import ServiceGroup, eventually, free_port, private_topics

REPO = Path(__file__).resolve().parents[2]
STACK_PATH = REPO / "deploy" / "local" / "stack.py"
NODES = 3
START_TIMEOUT_S = 90.0
# A killed broker is fenced (its partitions get new leaders) once it misses heartbeats for this long;
# Kafka's 9 s default would make every test wait that long for each failover.
FAST_FAILOVER = {
    "broker.session.timeout.ms": "3000",
    "broker.heartbeat.interval.ms": "500",
    "replica.lag.time.max.ms": "5000",
}


def load_stack() -> ModuleType:
    spec = importlib.util.spec_from_file_location("demetra_local_stack_faults", STACK_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _die_with_parent() -> None:
    """In the child before exec: the kernel SIGKILLs the node if the test process dies without cleaning
    up (killed, or an interpreter crash), so no broker outlives its test session."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


PR_SET_PDEATHSIG = 1


class Cluster:
    """Three combined broker+controller nodes, each its own process group, killable and restartable."""

    def __init__(self, stack: ModuleType, root: Path) -> None:
        self.stack = stack
        self.nodes = [
            stack.KafkaNode(i, free_port(), free_port(), root / f"kafka-{i}", f"kafka-{i}")
            for i in range(1, NODES + 1)
        ]
        self.logs = root / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self._processes: dict[int, subprocess.Popen[bytes]] = {}
        cluster_id = stack.new_cluster_id()
        for node in self.nodes:
            stack.write_node_config(node, self.nodes, FAST_FAILOVER)
            stack.format_node_storage(node, cluster_id)

    @property
    def bootstrap(self) -> str:
        return str(self.stack.bootstrap_servers(self.nodes))

    def node(self, node_id: int) -> Any:
        return next(node for node in self.nodes if node.node_id == node_id)

    def running(self, node_id: int) -> bool:
        process = self._processes.get(node_id)
        return process is not None and process.poll() is None

    def start(self, node_id: int) -> None:
        if self.running(node_id):
            return
        node = self.node(node_id)
        with (self.logs / f"{node.name}.log").open("ab") as log:
            self._processes[node_id] = subprocess.Popen(
                self.stack.kafka_command(node, heap="-Xms128m -Xmx512m"),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )

    def kill(self, node_id: int) -> None:
        """SIGKILL: the node gets no chance to hand over leadership or flush anything."""
        process = self._processes.pop(node_id, None)
        if process is not None and process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)

    def kill_all(self) -> None:
        for node_id in list(self._processes):
            self.kill(node_id)

    def active_controller(self) -> int | None:
        return self.stack.active_controller(self.nodes)  # type: ignore[no-any-return]

    def log_tail(self, node_id: int, lines: int = 30) -> str:
        return str(self.stack.tail(self.logs / f"{self.node(node_id).name}.log", lines))


async def partitions(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """Each partition of ``topic`` as the cluster describes it (leader, replicas, isr)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap.split(","), request_timeout_ms=5000)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return list(described["partitions"]) if described["error_code"] == 0 else []


async def registered_brokers(bootstrap: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap.split(","), request_timeout_ms=5000)
    try:
        await admin.start()
        return len((await admin.describe_cluster())["brokers"])
    except Exception:  # no node answers yet
        return 0
    finally:
        await admin.close()


async def whole(cluster: Cluster, topics: Topics) -> bool:
    """Every node registered, and every partition of ``topics`` led and fully in sync."""
    try:
        for topic in topics.layout():
            described = await partitions(cluster.bootstrap, topic)
            if not described or any(
                len(p["replicas"]) != NODES or len(p["isr"]) < NODES or p["leader"] < 0 for p in described
            ):
                return False
    except Exception:  # a node still starting: not whole yet
        return False
    return True


@pytest.fixture(scope="session")
def kafka_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    stack = load_stack()
    try:
        stack.kafka_libs()
        stack.java()
    except stack.StackError as exc:
        pytest.skip(f"no Kafka jars or Java for the fault cluster: {exc}")
    cluster = Cluster(stack, tmp_path_factory.mktemp("kafka-cluster"))
    try:
        yield cluster
    finally:
        cluster.kill_all()


@pytest.fixture
async def cluster_topics(kafka_cluster: Cluster) -> AsyncIterator[Topics]:
    """Every node running, this test's private topic set created (RF 3, 2 in sync) and fully in sync."""
    for node in kafka_cluster.nodes:
        kafka_cluster.start(node.node_id)
    began = time.monotonic()

    async def all_registered() -> bool:
        return await registered_brokers(kafka_cluster.bootstrap) == NODES

    # Topics get their replication factor from the brokers registered when they are created.
    await eventually(all_registered, timeout=START_TIMEOUT_S, interval=0.5, what=f"{NODES} brokers up")
    async with private_topics(kafka_cluster.bootstrap, prefix="fault") as topics:
        for node in kafka_cluster.nodes:
            if not kafka_cluster.running(node.node_id):
                raise AssertionError(f"{node.name} exited:\n{kafka_cluster.log_tail(node.node_id)}")
        await eventually(
            lambda: whole(kafka_cluster, topics),
            timeout=START_TIMEOUT_S - (time.monotonic() - began),
            interval=0.5,
            what="every partition with 3 replicas in sync",
        )
        yield topics


API_KEY = "fault-test-key"


@pytest.fixture
def pipeline(
    kafka_cluster: Cluster, cluster_topics: Topics, database_url: str, tmp_path: Path
) -> Iterator[ServiceGroup]:
    """The services of a sync as processes on the cluster; every one stopped at the end of the test."""
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_cluster.bootstrap,
        "KAFKA_TOPIC_PREFIX": cluster_topics.prefix,
        "DATABASE_URL": database_url,
        "ENVIRONMENT": "test",
        "API_KEY": API_KEY,
        "LOG_FORMAT": "text",
        "LOG_LEVEL": "INFO",
    }
    running = ServiceGroup(env, tmp_path / "logs")
    try:
        yield running
    finally:
        running.close()


async def end_offsets(bootstrap: str, topic: str) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, request_timeout_ms=10_000)
    await consumer.start()
    try:
        assigned = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        if not assigned:
            await consumer._client.force_metadata_update()
            assigned = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return dict(await consumer.end_offsets(assigned))
    finally:
        await consumer.stop()


def consumer_groups(topics: Topics) -> dict[str, list[str]]:
    """Every consumer group of the pipeline and the topics it reads."""
    groups = {topics.group(f"ingestor.{channel.value}"): [topics.sync_requested] for channel in ALL_CHANNELS}
    groups[topics.group("loader")] = [topics.campaign_fetched]
    groups[topics.group("loader.events")] = [topics.sync_requested, topics.sync_events]
    return groups


async def lag(bootstrap: str, topics: Topics) -> dict[str, int]:
    """Records each consumer group has not committed yet, over the topics it reads."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap.split(","), request_timeout_ms=10_000)
    await admin.start()
    try:
        behind: dict[str, int] = {}
        for group, read in consumer_groups(topics).items():
            committed = await admin.list_consumer_group_offsets(group)
            total = 0
            for topic in read:
                for partition, end in (await end_offsets(bootstrap, topic)).items():
                    done = committed.get(partition)
                    total += end - (done.offset if done is not None and done.offset >= 0 else 0)
            behind[group] = total
        return behind
    finally:
        await admin.close()


async def until(check: Any, *, timeout: float, what: str) -> Any:
    """``eventually`` for checks that may fail while the cluster fails over: an error counts as not yet."""

    async def tolerant() -> Any:
        try:
            return await check()
        except Exception:
            return None

    return await eventually(tolerant, timeout=timeout, interval=0.5, what=what)
