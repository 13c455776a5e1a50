"""The micro-cache: serves within its TTL, shares one computation between concurrent misses, no errors."""

import asyncio

import pytest

from demetra_query_api.cache import ResponseCache


class Counter:
    def __init__(self, gate: asyncio.Event | None = None) -> None:
        self.calls = 0
        self.gate = gate

    async def __call__(self) -> bytes:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        return f"body {self.calls}".encode()


async def test_a_body_is_served_again_within_the_ttl() -> None:
    cache, compute = ResponseCache(60), Counter()
    assert await cache.get(b"/a", compute) == b"body 1"
    assert await cache.get(b"/a", compute) == b"body 1"
    assert await cache.get(b"/b", compute) == b"body 2"
    assert compute.calls == 2


async def test_a_zero_ttl_computes_every_time() -> None:
    cache, compute = ResponseCache(0), Counter()
    await cache.get(b"/a", compute)
    await cache.get(b"/a", compute)
    assert compute.calls == 2 and not cache.enabled


async def test_an_expired_body_is_computed_again() -> None:
    cache, compute = ResponseCache(0.05), Counter()
    await cache.get(b"/a", compute)
    await asyncio.sleep(0.06)  # the TTL itself is what is tested
    assert await cache.get(b"/a", compute) == b"body 2"


async def test_concurrent_misses_share_one_computation() -> None:
    gate = asyncio.Event()
    cache, compute = ResponseCache(60), Counter(gate)
    waiters = [asyncio.create_task(cache.get(b"/a", compute)) for _ in range(20)]
    await asyncio.sleep(0)
    gate.set()
    assert set(await asyncio.gather(*waiters)) == {b"body 1"}
    assert compute.calls == 1


async def test_a_cancelled_client_does_not_cancel_the_shared_computation() -> None:
    gate = asyncio.Event()
    cache, compute = ResponseCache(60), Counter(gate)
    first = asyncio.create_task(cache.get(b"/a", compute))
    second = asyncio.create_task(cache.get(b"/a", compute))
    await asyncio.sleep(0)
    first.cancel()
    gate.set()
    assert await second == b"body 1"


async def test_errors_are_not_cached() -> None:
    cache = ResponseCache(60)
    calls = 0

    async def failing() -> bytes:
        nonlocal calls
        calls += 1
        raise LookupError("not found")

    for _ in range(2):
        with pytest.raises(LookupError):
            await cache.get(b"/a", failing)
    assert calls == 2


async def test_the_cache_keeps_at_most_max_entries() -> None:
    cache, compute = ResponseCache(60, max_entries=3), Counter()
    for key in (b"/1", b"/2", b"/3", b"/4"):
        await cache.get(key, compute)
    assert await cache.get(b"/1", compute) == b"body 5"  # the oldest was dropped
