"""``demetra-topics create|describe``: make the Kafka topics of one deployment exist, from the code's layout.

The topic names, partition counts and configs come only from :mod:`demetra_common.topics`; this command is
what docker compose's ``kafka-init`` service, the Kubernetes topics Job and the local stack run, so every
environment gets the same layout. Replicas follow the cluster (``Replication.for_cluster``): one on a single
broker, three with ``min.insync.replicas=2`` from three brokers on, unless ``--replication-factor`` says.
It waits for the broker (with a deadline) before it gives up, creates what is missing, leaves what exists
alone and says when an existing topic has fewer partitions than the layout wants (the loader and ingestors
then cannot scale to their designed replica count).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from demetra_common.settings import CommonSettings
from demetra_common.topics import Replication, Topics

logger = logging.getLogger(__name__)

DEFAULT_DEADLINE_S = 60.0


class TopicAdminError(RuntimeError):
    """The broker did not answer in time, or refused to create a topic; the message says which."""


@dataclass(frozen=True, slots=True)
class TopicState:
    name: str
    wanted_partitions: int
    partitions: int | None  # None: the topic does not exist

    @property
    def under_partitioned(self) -> bool:
        return self.partitions is not None and self.partitions < self.wanted_partitions


@dataclass(frozen=True, slots=True)
class EnsureReport:
    created: list[str] = field(default_factory=list)
    existing: list[TopicState] = field(default_factory=list)

    @property
    def under_partitioned(self) -> list[TopicState]:
        return [state for state in self.existing if state.under_partitioned]


@asynccontextmanager
async def admin_client(
    bootstrap_servers: str, *, deadline_s: float = DEFAULT_DEADLINE_S
) -> AsyncIterator[AIOKafkaAdminClient]:
    """An admin client connected to the cluster, retrying the bootstrap until ``deadline_s`` passes."""
    client: AIOKafkaAdminClient | None = None
    try:
        async for attempt in AsyncRetrying(
            stop=stop_after_delay(deadline_s),
            wait=wait_exponential(multiplier=0.2, max=2.0),
            retry=retry_if_exception_type((TimeoutError, KafkaError, OSError)),
            reraise=True,
        ):
            with attempt:
                candidate = AIOKafkaAdminClient(
                    bootstrap_servers=bootstrap_servers.split(","), request_timeout_ms=10_000
                )
                try:
                    await candidate.start()
                    await candidate.list_topics()  # bootstrapping alone does not prove a usable broker
                except BaseException:
                    await candidate.close()
                    raise
                client = candidate
    except (TimeoutError, KafkaError, OSError) as exc:
        raise TopicAdminError(
            f"Kafka at {bootstrap_servers} did not answer within {deadline_s:.0f}s: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    assert client is not None
    try:
        yield client
    finally:
        await client.close()


async def _partition_counts(client: AIOKafkaAdminClient, names: Sequence[str]) -> dict[str, int]:
    """Partition count of each topic in ``names`` that exists."""
    existing = set(await client.list_topics())
    present = [name for name in names if name in existing]
    if not present:
        return {}
    return {
        described["topic"]: len(described["partitions"])
        for described in await client.describe_topics(present)
        if described["error_code"] == 0
    }


async def _until_visible(client: AIOKafkaAdminClient, names: Sequence[str], deadline_s: float) -> None:
    """Wait until new topics show in the cluster's metadata, so whoever runs next (a service, a describe)
    finds them: creation is acknowledged a moment before every broker lists the topic."""
    async for attempt in AsyncRetrying(
        stop=stop_after_delay(deadline_s),
        wait=wait_exponential(multiplier=0.05, max=1.0),
        retry=retry_if_exception_type(LookupError),
        reraise=True,
    ):
        with attempt:
            pending = set(names) - set(await _partition_counts(client, names))
            if pending:
                raise LookupError(f"topics not yet in metadata: {sorted(pending)}")


async def ensure_topics(
    bootstrap_servers: str,
    topics: Topics,
    *,
    replication_factor: int | None = None,
    deadline_s: float = DEFAULT_DEADLINE_S,
) -> EnsureReport:
    """Create every topic of ``topics.layout()`` that is missing, with its partitions and configs.

    ``replication_factor`` None: from the brokers the cluster lists now (``Replication.for_cluster``);
    ``min.insync.replicas`` is one less than the factor (at least 1).

    Safe to run again and from several processes at once: a topic that already exists, or that another
    process creates at the same moment, is reported as existing, never as an error.
    """
    layout = topics.layout()
    async with admin_client(bootstrap_servers, deadline_s=deadline_s) as client:
        counts = await _partition_counts(client, list(layout))
        missing = [name for name in layout if name not in counts]
        created: list[str] = []
        if missing:
            replication = (
                Replication.for_cluster(await _broker_count(client))
                if replication_factor is None
                else Replication.of(replication_factor)
            )
            response = await client.create_topics(
                [
                    NewTopic(
                        name,
                        layout[name],
                        replication.factor,
                        topic_configs=topics.configs(name, replication),
                    )
                    for name in missing
                ]
            )
            for name, code, message in _topic_errors(response):
                if code == 0:
                    created.append(name)
                elif code != TopicAlreadyExistsError.errno:
                    raise TopicAdminError(f"Kafka refused to create topic {name}: error {code} {message}")
            counts.update(await _partition_counts(client, [n for n in missing if n not in created]))
            try:
                await _until_visible(client, created, deadline_s)
            except LookupError as exc:
                message = f"created topics did not appear within {deadline_s:.0f}s: {exc}"
                raise TopicAdminError(message) from exc
    existing = [
        TopicState(name, layout[name], counts.get(name)) for name in layout if name not in set(created)
    ]
    report = EnsureReport(created=created, existing=existing)
    for state in report.under_partitioned:
        logger.warning(
            "topic %s has %s partitions, the layout wants %s",
            state.name,
            state.partitions,
            state.wanted_partitions,
        )
    return report


async def _broker_count(client: AIOKafkaAdminClient) -> int:
    return len((await client.describe_cluster())["brokers"])


def _topic_errors(response: Any) -> list[tuple[str, int, str | None]]:
    """(topic, error code, message) for each topic of a CreateTopics response (v0 has no message)."""
    return [(entry[0], entry[1], entry[2] if len(entry) > 2 else None) for entry in response.topic_errors]


async def describe(
    bootstrap_servers: str, topics: Topics, *, deadline_s: float = DEFAULT_DEADLINE_S
) -> list[TopicState]:
    """What the cluster has of the layout: each topic with its wanted and actual partition count."""
    layout = topics.layout()
    async with admin_client(bootstrap_servers, deadline_s=deadline_s) as client:
        counts = await _partition_counts(client, list(layout))
    return [TopicState(name, wanted, counts.get(name)) for name, wanted in layout.items()]


def main(argv: list[str] | None = None) -> int:
    settings = CommonSettings()
    parser = argparse.ArgumentParser(
        prog="demetra-topics", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("action", choices=["create", "describe"])
    parser.add_argument(
        "--bootstrap-servers",
        default=settings.kafka_bootstrap_servers,
        help="default: KAFKA_BOOTSTRAP_SERVERS",
    )
    parser.add_argument("--prefix", default=settings.kafka_topic_prefix, help="default: KAFKA_TOPIC_PREFIX")
    parser.add_argument(
        "--replication-factor",
        type=int,
        default=None,
        help="for topics it creates (default: 1 on one broker, 3 from three brokers on)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_DEADLINE_S,
        help=f"seconds to wait for the broker (default {DEFAULT_DEADLINE_S:.0f})",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    topics = Topics(args.prefix)
    try:
        if args.action == "create":
            report = asyncio.run(
                ensure_topics(
                    args.bootstrap_servers,
                    topics,
                    replication_factor=args.replication_factor,
                    deadline_s=args.timeout,
                )
            )
            for name in report.created:
                print(f"created  {name} ({topics.layout()[name]} partitions)")
            for state in report.existing:
                print(f"exists   {state.name} ({state.partitions} partitions)")
            return 0
        states = asyncio.run(describe(args.bootstrap_servers, topics, deadline_s=args.timeout))
    except TopicAdminError as exc:
        print(f"demetra-topics: error: {exc}", file=sys.stderr)
        return 1
    for state in states:
        have = "missing" if state.partitions is None else f"{state.partitions} partitions"
        print(f"{state.name:<40} wanted {state.wanted_partitions}, has {have}")
    return 0 if all(state.partitions is not None for state in states) else 2


if __name__ == "__main__":
    sys.exit(main())
