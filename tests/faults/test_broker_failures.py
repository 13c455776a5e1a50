"""A broker or the KRaft controller dies in the middle of a 4 x ~25,500 campaign sync: nothing is lost or
doubled.

Each test runs the services as processes on a private 3-node cluster (conftest.py), kills a node with
SIGKILL while campaigns flow, restarts it later, and then checks the whole result against the mock's public
API for the sync's as-of (tests/mock_expectations.py): every channel fetched and loaded exactly the
campaigns that ran in its window once (25,000 run at any moment, a few hundred more over a one-day
lookback), with exactly their daily rows and nothing restated, the campaigns table holds exactly them, no
consumer group is left behind and the dead-letter topic is empty.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any

import asyncpg
import pytest

from demetra_common.contracts import ALL_CHANNELS
from demetra_common.db import plain_dsn
from demetra_common.topics import Topics
from demetra_testkit import Service, ServiceGroup, ServiceProcess, eventually
from demetra_testkit.syncs import finished_status, request_sync, sync_as_of, sync_status
from tests.faults.conftest import API_KEY, Cluster, end_offsets, lag, partitions, until
from tests.mock_expectations import expected_messages, expected_sync

pytestmark = pytest.mark.slow
logger = logging.getLogger(__name__)

SIZE = 25_000  # campaigns running per channel at any moment
TOTAL = SIZE * len(ALL_CHANNELS)  # a little less than a sync's messages: the milestones to kill at
LOOKBACK_DAYS = 1  # yesterday and today so far: ~25,500 messages a channel, at most two days each
SYNC_TIMEOUT_S = 150.0


def start_pipeline(pipeline: ServiceGroup, size: int = SIZE, **ingestor_env: str) -> ServiceProcess:
    """A loader, one ingestor for all four channels (``size`` campaigns each, a one-day lookback) and the
    query API, started side by side."""
    ingestor = {
        "CHANNEL": "all",
        "MOCK_CAMPAIGNS_PER_CHANNEL": str(size),
        "SYNC_LOOKBACK_DAYS": str(LOOKBACK_DAYS),
        **ingestor_env,
    }
    *_, api = pipeline.start_all(
        Service("demetra_loader", "loader"),
        Service("demetra_ingestor", "ingestor", ingestor),
        Service("demetra_query_api", "query-api", {"SYNC_RATE_LIMIT": "100/minute"}),
    )
    return api


async def loaded(api: ServiceProcess, sync_id: str) -> int:
    status = await sync_status(api.url, sync_id)
    return int(status["counts"]["loaded"]) if status else 0


async def loaded_at_least(api: ServiceProcess, sync_id: str, count: int, what: str) -> int:
    async def reached() -> int | None:
        now = await loaded(api, sync_id)
        return now if now >= count else None

    return int(await until(reached, timeout=SYNC_TIMEOUT_S, what=what))


async def leaders(cluster: Cluster, topic: str) -> Counter[int]:
    """How many partitions of ``topic`` each node leads."""
    return Counter(p["leader"] for p in await partitions(cluster.bootstrap, topic))


async def wait_finished(api: ServiceProcess, sync_id: str) -> dict[str, Any]:
    return dict(
        await until(
            lambda: finished_status(api.url, sync_id), timeout=SYNC_TIMEOUT_S, what=f"sync {sync_id} finished"
        )
    )


async def campaigns_per_channel(database_url: str) -> dict[str, tuple[int, int]]:
    """(rows, distinct campaign ids) per channel of the campaigns table."""
    connection = await asyncpg.connect(plain_dsn(database_url))
    try:
        rows = await connection.fetch(
            "SELECT channel, count(*) AS n, count(DISTINCT campaign_id) AS ids"
            " FROM campaigns GROUP BY channel"
        )
    finally:
        await connection.close()
    return {row["channel"]: (row["n"], row["ids"]) for row in rows}


async def fetch_events(database_url: str, sync_id: str) -> list[tuple[str, str, Any]]:
    """(channel, type, count) of every fetch event the loader recorded for ``sync_id``."""
    connection = await asyncpg.connect(plain_dsn(database_url))
    try:
        rows = await connection.fetch(
            "SELECT channel, type, (payload->>'count')::int AS count FROM events"
            " WHERE sync_id = $1 AND type LIKE 'fetch.%' ORDER BY id",
            sync_id,
        )
    finally:
        await connection.close()
    return [(row["channel"], row["type"], row["count"]) for row in rows]


async def assert_exactly_once(
    cluster: Cluster,
    topics: Topics,
    api: ServiceProcess,
    sync_id: str,
    database_url: str,
    size: int = SIZE,
) -> None:
    """The sync completed with every channel fetched and loaded exactly the campaigns the mock says ran in
    its window at its as-of, with exactly their daily rows and nothing restated; the table holds exactly
    those campaigns, every consumer group caught up and nothing was dead-lettered.

    A channel whose fetch was re-run (a produce that failed) counts its complete attempt alone: every
    campaign of it is loaded once, those an earlier partial attempt had written as ``unchanged``; a channel
    fetched once inserted every campaign.
    """
    status = await wait_finished(api, sync_id)
    logger.info("sync %s finished: %s", sync_id, status["counts"])
    assert status["status"] == "completed", status
    expected = await asyncio.to_thread(expected_sync, ALL_CHANNELS, sync_as_of(status), size, LOOKBACK_DAYS)
    per_channel = {
        c["channel"]: (
            c["status"],
            c["fetched"],
            c["loaded"],
            c["inserted"] + c["unchanged"],
            c["rows_fetched"],
            c["rows_loaded"],
            c["restated"],
        )
        for c in status["channels"]
    }
    assert per_channel == {
        name: ("completed", e.messages, e.messages, e.messages, e.rows, e.rows, 0)
        for name, e in expected.items()
    }
    for channel in status["channels"]:
        if channel["attempts"] == 1:
            assert channel["unchanged"] == 0, channel
    total = sum(e.messages for e in expected.values())
    counts = status["counts"]
    assert (counts["fetched"], counts["loaded"], counts["inserted"] + counts["unchanged"]) == (
        total,
        total,
        total,
    ), counts
    assert counts["updated"] == counts["rejected"] == counts["restated"] == 0, counts
    assert counts["rows_fetched"] == counts["rows_loaded"] == sum(e.rows for e in expected.values()), counts

    assert await campaigns_per_channel(database_url) == {
        name: (e.messages, e.messages) for name, e in expected.items()
    }
    events = await fetch_events(database_url, sync_id)
    completed = sorted((channel, count) for channel, kind, count in events if kind == "fetch.completed")
    assert completed == sorted((name, e.messages) for name, e in expected.items()), events
    assert not [event for event in events if event[1] == "fetch.failed"], events

    assert sum((await end_offsets(cluster.bootstrap, topics.campaign_fetched_dlq)).values()) == 0
    behind = await until(
        lambda: _caught_up(cluster, topics), timeout=60, what="every consumer group caught up"
    )
    assert set(behind.values()) == {0}


async def _caught_up(cluster: Cluster, topics: Topics) -> dict[str, int] | None:
    behind = await lag(cluster.bootstrap, topics)
    return behind if not any(behind.values()) else None


async def test_sigkill_of_a_campaign_fetched_leader_mid_sync_loads_every_campaign_once(
    kafka_cluster: Cluster, cluster_topics: Topics, pipeline: ServiceGroup, database_url: str
) -> None:
    api = start_pipeline(pipeline)
    controller = kafka_cluster.active_controller()
    led = await leaders(kafka_cluster, cluster_topics.campaign_fetched)
    # A leader that is not also the controller: this test is about a broker, the next about the controller.
    victim = max((node for node in led if node != controller), key=lambda node: led[node])
    sync_id = await request_sync(api.url, API_KEY)

    at_kill = await loaded_at_least(api, sync_id, TOTAL // 10, "a tenth of the sync loaded")
    kafka_cluster.kill(victim)
    logger.info("killed node %s (leader of %s partitions) at %d loaded", victim, led[victim], at_kill)
    assert at_kill < TOTAL, "the sync finished before the broker could be killed"

    async def failed_over() -> bool:
        return victim not in await leaders(kafka_cluster, cluster_topics.campaign_fetched)

    await until(failed_over, timeout=30, what=f"campaign.fetched leaders moved off node {victim}")
    moved_on = await loaded_at_least(api, sync_id, at_kill + SIZE // 5, "the sync went on without it")
    kafka_cluster.start(victim)
    logger.info("restarted node %s at %d loaded", victim, moved_on)

    await assert_exactly_once(kafka_cluster, cluster_topics, api, sync_id, database_url)


async def test_sigkill_of_the_active_controller_mid_sync_loads_every_campaign_once(
    kafka_cluster: Cluster, cluster_topics: Topics, pipeline: ServiceGroup, database_url: str
) -> None:
    api = start_pipeline(pipeline)
    sync_id = await request_sync(api.url, API_KEY)

    at_kill = await loaded_at_least(api, sync_id, TOTAL // 10, "a tenth of the sync loaded")
    victim = kafka_cluster.active_controller()
    assert victim is not None
    kafka_cluster.kill(victim)
    logger.info("killed the controller, node %s, at %d loaded", victim, at_kill)
    assert at_kill < TOTAL, "the sync finished before the controller could be killed"

    async def new_controller() -> int | None:
        elected = kafka_cluster.active_controller()
        return elected if elected not in (None, victim) else None

    elected = await eventually(new_controller, timeout=30, interval=0.2, what=f"a controller, not {victim}")
    moved_on = await loaded_at_least(api, sync_id, at_kill + SIZE // 5, "the sync moved on, new controller")
    kafka_cluster.start(victim)
    logger.info("node %s controls; restarted node %s at %d loaded", elected, victim, moved_on)

    await assert_exactly_once(kafka_cluster, cluster_topics, api, sync_id, database_url)


async def test_a_produce_short_of_min_insync_replicas_fails_loudly_and_never_completes_short(
    kafka_cluster: Cluster, cluster_topics: Topics, pipeline: ServiceGroup, database_url: str
) -> None:
    """Two of three nodes die: no partition can have the 2 in-sync replicas ``acks=all`` needs (nor can the
    quorum move a leader), so the ingestor's produce times out. It must say so and retry, never report
    the fetch completed with what did get through; once the nodes return, the sync completes exactly.

    The retry re-runs the whole fetch as a new attempt, so the campaigns acknowledged before the failure
    reach the loader twice; the sync's status counts the complete attempt alone (``loaded == fetched``),
    the campaigns the partial attempt wrote as ``unchanged``.
    """
    size = 5_000  # slow pages keep the fetch running long enough to lose the brokers in its middle
    api = start_pipeline(pipeline, size, MOCK_PAGE_SIZE="250", MOCK_LATENCY_MS="250")
    ingestor_log = pipeline.log_dir / "ingestor.log"
    sync_id = await request_sync(api.url, API_KEY)

    at_kill = await loaded_at_least(api, sync_id, 1_000, "the first campaigns loaded")
    survivor = kafka_cluster.nodes[0].node_id
    victims = [node.node_id for node in kafka_cluster.nodes if node.node_id != survivor]
    for victim in victims:
        kafka_cluster.kill(victim)
    logger.info("killed nodes %s at %d loaded", victims, at_kill)

    async def failed_loudly() -> bool:
        return "fetch not published; will retry" in ingestor_log.read_text(errors="replace")

    await eventually(failed_loudly, timeout=90, interval=0.5, what="the ingestor saying the produce failed")
    started = await sync_status(api.url, sync_id)
    assert started is not None
    messages = expected_messages(sync_as_of(started), size, LOOKBACK_DAYS)
    events = await fetch_events(database_url, sync_id)
    assert not [e for e in events if e[1] == "fetch.completed" and e[2] != messages], events
    for victim in victims:
        kafka_cluster.start(victim)
    logger.info("restarted nodes %s; %d loaded", victims, await loaded(api, sync_id))

    await assert_exactly_once(kafka_cluster, cluster_topics, api, sync_id, database_url, size)
