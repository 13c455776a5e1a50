"""A per-process micro-cache for GET responses: a body computed for a URL serves that URL for ``ttl_s``.

Dashboards poll the same few URLs (the first page, today's summary, the sync list), and the data changes
only when a sync loads. Serving a response up to ``ttl_s`` old (1 s by default) turns N identical requests
per second into one query per second, and concurrent identical misses share one computation (single
flight), so a burst never stampedes PostgreSQL. ``RESPONSE_CACHE_TTL_S=0`` turns it off: every request then
queries the database.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Rendered:
    """A response body and its entity tag, computed once (cached with it, so a hit does not hash again)."""

    body: bytes
    etag: str

    @classmethod
    def of(cls, body: bytes) -> Rendered:
        """The body with a weak ETag from its hash: two equal bodies have the same tag whoever computed
        them (any worker, any time), and it stays valid for the gzip/brotli encodings of the body."""
        # SHA-256 (hardware-accelerated on x86 and ARM: ~1 us per KiB), 128 bits of it.
        return cls(body, f'W/"{hashlib.sha256(body).hexdigest()[:32]}"')


class ResponseCache(Generic[T]):
    """Values of type ``T`` by key (the read routes store a rendered body with its ETag)."""

    def __init__(self, ttl_s: float, *, max_entries: int = 2048) -> None:
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._entries: dict[bytes, tuple[float, T]] = {}
        self._inflight: dict[bytes, asyncio.Task[T]] = {}

    @property
    def enabled(self) -> bool:
        return self._ttl_s > 0

    async def get(self, key: bytes, compute: Callable[[], Awaitable[T]]) -> T:
        """The cached value for ``key``, else ``compute()``'s (stored; errors are not cached)."""
        if not self.enabled:
            return await compute()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        task = self._inflight.get(key)
        if task is None:
            # A task of its own: a client hanging up must not cancel the computation others wait for.
            task = asyncio.ensure_future(compute())
            self._inflight[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        return await asyncio.shield(task)

    def _finished(self, key: bytes, task: asyncio.Task[T]) -> None:
        self._inflight.pop(key, None)
        if task.cancelled() or task.exception() is not None:
            return
        if len(self._entries) >= self._max_entries:
            now = time.monotonic()
            for stale in [k for k, (expires, _) in self._entries.items() if expires <= now]:
                del self._entries[stale]
            while len(self._entries) >= self._max_entries:
                del self._entries[next(iter(self._entries))]  # oldest first
        self._entries[key] = (time.monotonic() + self._ttl_s, task.result())
