"""Benchmark: one ingestor publishing 100k campaigns of one channel to Kafka with acks=all.

The ingestor is the real one, built by the composition root that ``python -m demetra_ingestor`` runs
(settings -> sources -> broker -> consumer group -> core -> publishers). A SyncRequested goes on a private
topic prefix; the clock runs from publishing it until its fetch.completed arrives on sync.events. The
number of campaign.fetched records on the topic is checked against fetch.completed's count.

    uv run python bench/ingestor/run.py [--campaigns 100000] [--page-size 500] [--batch-kb 512]

Figures: the mock source alone in this process (the ceiling of generating campaigns on one core) and the
ingestor end to end. The last line is ``ingestor_msgs_s=N source_msgs_s=M``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
import time
import uuid

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from demetra_common.contracts import Channel, SyncEvent, SyncEventType, SyncRequested, Trigger
from demetra_common.kafka import make_broker
from demetra_common.logging import configure_logging
from demetra_common.settings import CommonSettings
from demetra_common.topics import Topics
from demetra_ingestor.app import create_app
from demetra_ingestor.settings import IngestorSettings
from demetra_ingestor.sources.mock import MockSource
from demetra_testkit import private_topics

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
CHANNEL = Channel.FACEBOOK
DEFAULTS = IngestorSettings.model_fields


async def source_ceiling(campaigns: int, page_size: int) -> float:
    """Campaigns per second the mock source yields in this process (no Kafka)."""
    source = MockSource(CHANNEL, size=campaigns, page_size=page_size)
    as_of = dt.datetime.now(dt.UTC)
    began = time.perf_counter()
    cursor: str | None = None
    fetched = 0
    while True:
        page = await source.fetch_page(as_of, cursor)
        fetched += len(page.campaigns)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    return fetched / (time.perf_counter() - began)


async def records_on(topic: str) -> int:
    """Records on ``topic`` (sum of its partitions' end offsets; the topic is new)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    consumer = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP, enable_auto_commit=False)
    await consumer.start()
    try:
        [description] = await admin.describe_topics([topic])
        partitions = [TopicPartition(topic, p["partition"]) for p in description["partitions"]]
        return sum((await consumer.end_offsets(partitions)).values())
    finally:
        await consumer.stop()
        await admin.close()


async def wait_for_outcome(topics: Topics, sync_id: str, timeout_s: float) -> SyncEvent:
    """The fetch.completed (or fetch.failed) of ``sync_id``."""
    consumer = AIOKafkaConsumer(
        topics.sync_events, bootstrap_servers=BOOTSTRAP, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    event = SyncEvent.model_validate_json(record.value or b"")
                    if event.sync_id == sync_id and event.type is not SyncEventType.FETCH_STARTED:
                        return event
        raise TimeoutError(f"no outcome of {sync_id} within {timeout_s}s")
    finally:
        await consumer.stop()


async def ingestor_run(args: argparse.Namespace, topics: Topics) -> tuple[float, int, int]:
    settings = IngestorSettings(
        _env_file=None,
        kafka_bootstrap_servers=BOOTSTRAP,
        kafka_topic_prefix=topics.prefix,
        channel=CHANNEL,
        mock_campaigns_per_channel=args.campaigns,
        mock_page_size=args.page_size,
        kafka_max_batch_bytes=args.batch_kb * 1024,
        kafka_compression=args.compression,
        pages_in_flight=args.pages_in_flight,
    )
    app = create_app(settings)
    requester = make_broker(
        CommonSettings(_env_file=None, kafka_bootstrap_servers=BOOTSTRAP), client_id="bench"
    )
    async with app.router.lifespan_context(app):
        await requester.connect()
        try:
            request = SyncRequested(
                sync_id=f"bench-{uuid.uuid4().hex[:12]}", trigger=Trigger.MANUAL, channels=[CHANNEL]
            )
            outcome = asyncio.create_task(wait_for_outcome(topics, request.sync_id, timeout_s=600))
            began = time.perf_counter()
            await requester.publish(request, topics.sync_requested, key=request.sync_id.encode())
            event = await outcome
            elapsed = time.perf_counter() - began
        finally:
            await requester.stop()
    if event.type is not SyncEventType.FETCH_COMPLETED:
        raise SystemExit(f"fetch failed: {event.error}")
    return elapsed, event.count or 0, await records_on(topics.campaign_fetched)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--campaigns", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=DEFAULTS["mock_page_size"].default)
    parser.add_argument("--batch-kb", type=int, default=DEFAULTS["kafka_max_batch_bytes"].default // 1024)
    parser.add_argument("--compression", default=DEFAULTS["kafka_compression"].default)
    parser.add_argument("--pages-in-flight", type=int, default=DEFAULTS["pages_in_flight"].default)
    args = parser.parse_args()
    configure_logging("bench", "WARNING", "text")

    ceiling = await source_ceiling(args.campaigns, args.page_size)
    print(f"mock source alone, one core: {ceiling:,.0f} campaigns/s")

    async with private_topics(BOOTSTRAP, prefix="bench") as topics:
        elapsed, completed, on_topic = await ingestor_run(args, topics)

    rate = completed / elapsed
    print(
        f"ingestor: {completed:,} campaigns in {elapsed:.2f}s (fetch.completed count; {on_topic:,} records "
        f"on campaign.fetched); acks=all, batch<={args.batch_kb}KiB, compression={args.compression}, "
        f"pages_in_flight={args.pages_in_flight}"
    )
    print(f"ingestor: {rate:,.0f} messages/s")
    if not completed == on_topic == args.campaigns:
        sys.exit(f"count mismatch: asked {args.campaigns}, completed {completed}, on the topic {on_topic}")
    print(f"ingestor_msgs_s={rate:.0f} source_msgs_s={ceiling:.0f}")


if __name__ == "__main__":
    asyncio.run(main())
