"""Benchmark: one ingestor publishing a backfill of one channel's campaigns to Kafka with acks=all.

The ingestor is the real one, built by the composition root that ``python -m demetra_ingestor`` runs
(settings -> sources -> broker -> consumer group -> core -> publishers). A SyncRequested for the last
``--days`` days (a backfill ending today) goes on a private topic prefix; the clock runs from publishing it
until its fetch.completed arrives on sync.events. The number of campaign.fetched records on the topic is
checked against fetch.completed's count, and both counts against what the mock source reports.

    uv run python bench/ingestor/run.py [--campaigns 100000] [--days 1] [--page-size 500] [--batch-kb 512]

The default (100k running campaigns, today only) measures small messages; ``--campaigns 2000 --days 90`` is
one channel of the backfill the history benchmark asks for (messages of about 90 days each).

Figures: the mock source alone in this process (the ceiling of generating campaigns' days on one core) and
the ingestor end to end, in messages and in daily rows (campaign x day) per second. The last line is
``ingestor_msgs_s=N ingestor_rows_s=R source_msgs_s=M source_rows_s=S``.
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
OUTCOMES = (SyncEventType.FETCH_COMPLETED, SyncEventType.FETCH_FAILED)


async def source_ceiling(request: SyncRequested, campaigns: int, page_size: int) -> tuple[float, int, int]:
    """(seconds, campaigns, daily rows) of the mock source yielding ``request``'s days in this process."""
    assert request.date_from is not None and request.date_to is not None
    source = MockSource(CHANNEL, size=campaigns, page_size=page_size)
    began = time.perf_counter()
    cursor: str | None = None
    fetched = rows = 0
    while True:
        page = await source.fetch_page(request.as_of(), request.date_from, request.date_to, cursor)
        fetched += len(page.campaigns)
        rows += sum(len(c.days) for c in page.campaigns)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    return time.perf_counter() - began, fetched, rows


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
                    if event.sync_id == sync_id and event.type in OUTCOMES:
                        return event
        raise TimeoutError(f"no outcome of {sync_id} within {timeout_s}s")
    finally:
        await consumer.stop()


async def ingestor_run(
    args: argparse.Namespace, topics: Topics, request: SyncRequested
) -> tuple[float, SyncEvent, int]:
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
        backfill_max_days=max(args.days, DEFAULTS["backfill_max_days"].default),
    )
    app = create_app(settings)
    requester = make_broker(
        CommonSettings(_env_file=None, kafka_bootstrap_servers=BOOTSTRAP), client_id="bench"
    )
    async with app.router.lifespan_context(app):
        await requester.connect()
        try:
            outcome = asyncio.create_task(wait_for_outcome(topics, request.sync_id, timeout_s=600))
            began = time.perf_counter()
            await requester.publish(request, topics.sync_requested, key=request.sync_id.encode())
            event = await outcome
            elapsed = time.perf_counter() - began
        finally:
            await requester.stop()
    if event.type is not SyncEventType.FETCH_COMPLETED:
        raise SystemExit(f"fetch failed: {event.error}")
    return elapsed, event, await records_on(topics.campaign_fetched)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--campaigns", type=int, default=100_000, help="running at any moment")
    parser.add_argument("--days", type=int, default=1, help="backfill of this many days, ending today")
    parser.add_argument("--page-size", type=int, default=DEFAULTS["mock_page_size"].default)
    parser.add_argument("--batch-kb", type=int, default=DEFAULTS["kafka_max_batch_bytes"].default // 1024)
    parser.add_argument("--compression", default=DEFAULTS["kafka_compression"].default)
    parser.add_argument("--pages-in-flight", type=int, default=DEFAULTS["pages_in_flight"].default)
    args = parser.parse_args()
    configure_logging("bench", "WARNING", "text")

    today = dt.datetime.now(dt.UTC).date()
    request = SyncRequested(
        sync_id=f"bench-{uuid.uuid4().hex[:12]}",
        trigger=Trigger.MANUAL,
        channels=[CHANNEL],
        date_from=today - dt.timedelta(days=args.days - 1),
        date_to=today,
    )
    seconds, campaigns, rows = await source_ceiling(request, args.campaigns, args.page_size)
    print(
        f"mock source alone, one core: {campaigns:,} campaigns, {rows:,} daily rows in {seconds:.2f}s: "
        f"{campaigns / seconds:,.0f} campaigns/s, {rows / seconds:,.0f} rows/s "
        f"({seconds / rows * 1e6:.2f} us per campaign-day)"
    )

    async with private_topics(BOOTSTRAP, prefix="bench") as topics:
        elapsed, completed, on_topic = await ingestor_run(args, topics, request)

    count, published_rows = completed.count or 0, completed.rows or 0
    rate, rows_rate = count / elapsed, published_rows / elapsed
    print(
        f"ingestor: {count:,} campaign messages with {published_rows:,} daily rows ({args.days} days) in "
        f"{elapsed:.2f}s (fetch.completed; {on_topic:,} records on campaign.fetched); acks=all, "
        f"batch<={args.batch_kb}KiB, compression={args.compression}, pages_in_flight={args.pages_in_flight}"
    )
    print(f"ingestor: {rate:,.0f} messages/s, {rows_rate:,.0f} daily rows/s")
    if not count == on_topic == campaigns or published_rows != rows:
        sys.exit(
            f"count mismatch: the source reports {campaigns} campaigns with {rows} rows, fetch.completed "
            f"{count} with {published_rows}, the topic holds {on_topic}"
        )
    print(
        f"ingestor_msgs_s={rate:.0f} ingestor_rows_s={rows_rate:.0f} "
        f"source_msgs_s={campaigns / seconds:.0f} source_rows_s={rows / seconds:.0f}"
    )


if __name__ == "__main__":
    asyncio.run(main())
