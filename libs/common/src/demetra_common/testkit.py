"""Helpers for tests across the workspace: wait on a condition with a deadline, read a topic.

Shipped with demetra_common so every package's tests use the same two tools instead of sleeps.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRecord

T = TypeVar("T")


async def eventually(
    check: Callable[[], Awaitable[T]],
    *,
    timeout: float = 30.0,
    interval: float = 0.1,
    what: str = "condition",
) -> T:
    """Poll ``check`` until it returns something truthy (which is returned) or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = await check()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not met within {timeout:.0f}s (last value: {last!r})")
        await asyncio.sleep(interval)


async def read_topic(
    bootstrap: str,
    topic: str,
    *,
    count: int,
    timeout: float = 30.0,
    idle_after: float | None = None,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Read ``topic`` from the beginning until ``count`` records arrived (AssertionError at ``timeout``).

    With ``idle_after``, keep reading after ``count`` until no record arrives for that many seconds, so a
    test can assert that nothing *more* than expected was published.
    """
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    deadline = time.monotonic() + timeout
    try:
        while len(records) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{topic}: {len(records)} of {count} records within {timeout:.0f}s")
            batch = await consumer.getmany(timeout_ms=int(min(remaining, 1.0) * 1000))
            for partition_records in batch.values():
                records.extend(partition_records)
        if idle_after:
            while batch := await consumer.getmany(timeout_ms=int(idle_after * 1000)):
                for partition_records in batch.values():
                    records.extend(partition_records)
    finally:
        await consumer.stop()
    return records
