"""A sync id is one sync: duplicate requests, a crash mid-fetch, two schedulers and a retry, each service its
own process over real Kafka and PostgreSQL.

Every test checks the same exact counts per channel: ``loaded == fetched == the campaigns the mock says ran``
and ``inserted + updated + unchanged + rejected == loaded``, and that no status read while the sync ran
showed a channel with more loaded than fetched.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from demetra_common.contracts import ALL_CHANNELS, LAST_SLOT_KEY, Channel, LastSlot, SyncRequested, Trigger
from demetra_common.db import plain_dsn
from demetra_common.security import API_KEY_HEADER
from demetra_common.topics import Topics
from demetra_testkit import Service, ServiceProcess, eventually, read_topic
from demetra_testkit.syncs import publish_request, sync_status
from tests.e2e.pipeline import API_KEY, Pipeline
from tests.mock_expectations import ExpectedChannel, expected_sync

pytestmark = pytest.mark.slow

SIZE = 200
LOOKBACK_DAYS = 1
INGESTOR = {
    "CHANNEL": "all",
    "SYNC_LOOKBACK_DAYS": str(LOOKBACK_DAYS),
    "MOCK_CAMPAIGNS_PER_CHANNEL": str(SIZE),
}
# Slow pages (8 of 25 campaigns, 0.4 s each): a channel's fetch lasts seconds, long enough to act during it.
SLOW = {"MOCK_PAGE_SIZE": "25", "MOCK_LATENCY_MS": "400"}


async def published_campaigns(bootstrap: str, topics: Topics) -> int:
    """campaign.fetched records ever published (the sum of its partitions' end offsets)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        partitions = range(topics.layout()[topics.campaign_fetched])
        ends = await consumer.end_offsets([TopicPartition(topics.campaign_fetched, p) for p in partitions])
    finally:
        await consumer.stop()
    return sum(ends.values())


class Watcher:
    """Reads a sync's status, checking on every read that no count exceeds what was fetched."""

    def __init__(self, api: ServiceProcess, sync_id: str) -> None:
        self.api = api
        self.sync_id = sync_id
        self.reads = 0

    async def status(self) -> dict[str, Any] | None:
        status = await sync_status(self.api.url, self.sync_id)
        if status is not None:
            self.reads += 1
            for channel in status["channels"]:
                parts = sum(channel[k] for k in ("inserted", "updated", "unchanged", "rejected"))
                assert parts == channel["loaded"], channel
                if channel["fetched"] is not None:
                    assert channel["loaded"] <= channel["fetched"], channel
        return status

    async def until(self, condition: Any, what: str, timeout: float = 120.0) -> dict[str, Any]:
        async def check() -> dict[str, Any] | None:
            status = await self.status()
            return status if status is not None and condition(status) else None

        found: dict[str, Any] = await eventually(check, timeout=timeout, interval=0.25, what=what)
        return found


def exact(status: dict[str, Any], expected: dict[str, ExpectedChannel]) -> None:
    """Every channel completed with loaded == fetched == the mock's campaigns, and the sync's totals too."""
    assert status["status"] == "completed", status
    assert {
        c["channel"]: (c["status"], c["fetched"], c["loaded"], c["rows_fetched"]) for c in status["channels"]
    } == {name: ("completed", e.messages, e.messages, e.rows) for name, e in expected.items()}
    total = sum(e.messages for e in expected.values())
    counts = status["counts"]
    assert counts["fetched"] == counts["loaded"] == total, counts
    assert counts["inserted"] + counts["updated"] + counts["unchanged"] + counts["rejected"] == total, counts


def start_loader_and_api(pipeline: Pipeline, *others: Service) -> ServiceProcess:
    """The loader, the query API and ``others``, side by side; the query API."""
    pipeline.start_all(
        Service("demetra_loader", "loader"),
        Service("demetra_query_api", "query-api", {"MOCK_CAMPAIGNS_PER_CHANNEL": str(SIZE)}),
        *others,
    )
    return pipeline.services["query-api"]


def manual_request(sync_id: str) -> SyncRequested:
    return SyncRequested(sync_id=sync_id, trigger=Trigger.MANUAL, requested_at=dt.datetime.now(dt.UTC))


async def test_duplicates_before_during_and_after_the_first_fetch_are_skipped_and_counted_once(
    pipeline: Pipeline, kafka_bootstrap: str, topics: Topics
) -> None:
    api = start_loader_and_api(pipeline, Service("demetra_ingestor", "ingestor", {**INGESTOR, **SLOW}))
    request = manual_request("dup-e2e-1")
    expected = expected_sync(ALL_CHANNELS, request.as_of(), SIZE, LOOKBACK_DAYS)
    watch = Watcher(api, request.sync_id)

    await publish_request(kafka_bootstrap, topics, request)
    await publish_request(kafka_bootstrap, topics, request)  # before the first fetch began
    fetching = await watch.until(
        lambda s: any(c["status"] == "fetching" for c in s["channels"]), "a channel fetching"
    )
    await publish_request(kafka_bootstrap, topics, request)  # during it
    assert fetching["status"] == "running"
    status = await watch.until(lambda s: s["status"] != "running", "the sync finished")
    exact(status, expected)
    await publish_request(kafka_bootstrap, topics, request)  # after it

    status = await watch.until(
        lambda s: all(c["skipped"] == 3 for c in s["channels"]), "three duplicates skipped per channel"
    )
    exact(status, expected)
    assert {c["channel"]: (c["attempts"], c["inserted"]) for c in status["channels"]} == {
        name: (1, e.messages) for name, e in expected.items()
    }
    # The platform was asked once: campaign.fetched holds one fetch's records, no more.
    assert await published_campaigns(kafka_bootstrap, topics) == sum(e.messages for e in expected.values())
    assert watch.reads > 3


async def test_an_ingestor_killed_mid_fetch_ends_with_the_counts_of_the_complete_attempt(
    pipeline: Pipeline, kafka_bootstrap: str, topics: Topics, database_url: str
) -> None:
    api = start_loader_and_api(pipeline, Service("demetra_ingestor", "ingestor-killed", {**INGESTOR, **SLOW}))
    victim = pipeline.services["ingestor-killed"]
    request = manual_request("crash-e2e-1")
    expected = expected_sync(ALL_CHANNELS, request.as_of(), SIZE, LOOKBACK_DAYS)
    total = sum(e.messages for e in expected.values())
    watch = Watcher(api, request.sync_id)
    await publish_request(kafka_bootstrap, topics, request)

    async def some_published() -> int:
        return await published_campaigns(kafka_bootstrap, topics)

    await eventually(some_published, timeout=60, interval=0.1, what="part of the fetch published")
    victim.kill()
    partial = await published_campaigns(kafka_bootstrap, topics)
    assert 0 < partial < total, partial
    await watch.until(lambda s: any(c["loaded"] for c in s["channels"]), "the partial attempt loaded")

    pipeline.start("demetra_ingestor", "ingestor-restarted", **INGESTOR)
    status = await watch.until(lambda s: s["status"] != "running", "the sync finished", timeout=180)
    exact(status, expected)
    assert max(c["attempts"] for c in status["channels"]) == 2, status["channels"]
    assert await published_campaigns(kafka_bootstrap, topics) > total  # the partial attempt is in the topic
    connection = await asyncpg.connect(plain_dsn(database_url))
    try:
        assert await connection.fetchval("SELECT count(*) FROM campaigns") == total
    finally:
        await connection.close()


async def test_two_scheduler_replicas_on_a_seconds_cron_request_each_slot_once(
    pipeline: Pipeline, kafka_bootstrap: str, topics: Topics
) -> None:
    cron = {"SYNC_CRON": "*/10 * * * * *", "SYNC_MISFIRE_GRACE_S": "2"}
    api = start_loader_and_api(
        pipeline,
        Service("demetra_ingestor", "ingestor", INGESTOR),
        Service("demetra_scheduler", "scheduler-a", cron),
        Service("demetra_scheduler", "scheduler-b", cron),
    )

    async def a_completed_scheduled_sync() -> dict[str, Any] | None:
        async with httpx.AsyncClient(base_url=api.url, timeout=10) as client:
            page = (await client.get("/api/syncs", params={"trigger": "schedule"})).json()
        done = [s for s in page["items"] if s["status"] != "running"]
        return done[-1] if done else None

    sync = await eventually(a_completed_scheduled_sync, timeout=120, interval=1, what="a scheduled sync")
    as_of = dt.datetime.fromisoformat(sync["requested_at"])
    expected = expected_sync(ALL_CHANNELS, as_of, SIZE, LOOKBACK_DAYS)
    exact(sync, expected)
    # However many of the replicas requested the slot, one fetch per channel; every other copy skipped.
    requests = await read_topic(kafka_bootstrap, topics.sync_requested, count=1, idle_after=1.0)
    copies = sum(record.key == sync["sync_id"].encode() for record in requests)
    sync = await Watcher(api, sync["sync_id"]).until(
        lambda s: all(c["skipped"] == copies - 1 for c in s["channels"]), f"{copies - 1} copies skipped"
    )
    exact(sync, expected)
    assert {c["attempts"] for c in sync["channels"]} == {1}, sync["channels"]


async def test_retry_refetches_only_the_failed_channel_of_the_same_sync(
    pipeline: Pipeline, kafka_bootstrap: str, topics: Topics
) -> None:
    failing_env = {**INGESTOR, "MOCK_FAIL_CHANNELS": "tiktok"}
    api = start_loader_and_api(pipeline, Service("demetra_ingestor", "ingestor-failing", failing_env))
    failing = pipeline.services["ingestor-failing"]
    request = manual_request("retry-e2e-1")
    expected = expected_sync(ALL_CHANNELS, request.as_of(), SIZE, LOOKBACK_DAYS)
    watch = Watcher(api, request.sync_id)
    await publish_request(kafka_bootstrap, topics, request)
    status = await watch.until(lambda s: s["status"] != "running", "the first run finished")
    assert status["status"] == "partial", status
    assert [c["channel"] for c in status["channels"] if c["status"] == "failed"] == [Channel.TIKTOK.value]
    before = await published_campaigns(kafka_bootstrap, topics)
    failing.stop()
    pipeline.start("demetra_ingestor", "ingestor-healthy", **INGESTOR)

    async with httpx.AsyncClient(base_url=api.url, timeout=10, headers={API_KEY_HEADER: API_KEY}) as client:
        retried = await client.post(f"/api/syncs/{request.sync_id}/retry")
        assert retried.status_code == 202, retried.text
        assert retried.json()["channels"] == [Channel.TIKTOK.value]
        assert retried.json()["sync_id"] == request.sync_id
        status = await watch.until(lambda s: s["status"] == "completed", "the retried channel completed")
        exact(status, expected)
        assert (await client.post(f"/api/syncs/{request.sync_id}/retry")).status_code == 409
        assert (await client.post("/api/syncs/no-such-sync/retry")).status_code == 404
    # Only tiktok was fetched again.
    assert await published_campaigns(kafka_bootstrap, topics) == before + expected["tiktok"].messages


async def test_stale_requests_expire_but_the_newest_scheduled_slot_is_fetched(
    pipeline: Pipeline, kafka_bootstrap: str, topics: Topics
) -> None:
    api = start_loader_and_api(
        pipeline, Service("demetra_ingestor", "ingestor", {**INGESTOR, "SYNC_REQUEST_MAX_AGE": "3600"})
    )
    now = dt.datetime.now(dt.UTC)
    long_ago = now - dt.timedelta(hours=2)
    newest = now.replace(minute=0, second=0, microsecond=0)
    older = newest - dt.timedelta(hours=1)

    def scheduled(slot: dt.datetime) -> SyncRequested:
        sync_id = f"sched-e2e-{slot:%H%M}"
        return SyncRequested(sync_id=sync_id, trigger=Trigger.SCHEDULE, requested_at=slot, slot=slot)

    # The scheduler has requested `newest` (its last_slot on scheduler.state).
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        last = LastSlot(slot=newest, sync_id=scheduled(newest).sync_id)
        await producer.send_and_wait(
            topics.scheduler_state, last.model_dump_json().encode(), key=LAST_SLOT_KEY
        )
    finally:
        await producer.stop()
    stale_api = manual_request("stale-e2e-1")
    for request in (stale_api, scheduled(older), scheduled(newest)):
        await publish_request(kafka_bootstrap, topics, request, published_at=long_ago)

    fetched = await Watcher(api, scheduled(newest).sync_id).until(
        lambda s: s["status"] != "running", "the newest slot's sync finished"
    )
    exact(fetched, expected_sync(ALL_CHANNELS, newest, SIZE, LOOKBACK_DAYS))
    for sync_id in (stale_api.sync_id, scheduled(older).sync_id):
        status = await Watcher(api, sync_id).until(lambda s: s["status"] != "running", f"{sync_id} finished")
        assert status["status"] == "expired", status
        assert {(c["status"], c["fetched"], c["loaded"], c["attempts"]) for c in status["channels"]} == {
            ("expired", None, 0, 0)
        }
        assert all("SYNC_REQUEST_MAX_AGE" in c["error"] for c in status["channels"]), status
    total = sum(e.messages for e in expected_sync(ALL_CHANNELS, newest, SIZE, LOOKBACK_DAYS).values())
    assert await published_campaigns(kafka_bootstrap, topics) == total  # the expired ones fetched nothing
