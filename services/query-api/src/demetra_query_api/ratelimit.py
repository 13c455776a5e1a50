"""Rate limit on sync creation, with the ``limits`` library (moving window, per client address).

Counters live where ``RATE_LIMIT_STORAGE_URI`` says: ``memory://`` keeps them per process (each uvicorn
worker and replica counts on its own), ``redis://host:6379`` shares them across all of them.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string


class RateLimited(Exception):
    """The client used up its allowance; it may try again after ``retry_after_s`` seconds."""

    def __init__(self, limit: str, retry_after_s: int) -> None:
        super().__init__(f"rate limit exceeded ({limit})")
        self.limit = limit
        self.retry_after_s = retry_after_s


class SyncRateLimiter:
    def __init__(self, limit: str, storage_uri: str) -> None:
        self._item: RateLimitItem = parse(limit)
        uri = storage_uri if storage_uri.startswith("async+") else f"async+{storage_uri}"
        self._limiter = MovingWindowRateLimiter(storage_from_string(uri))

    async def hit(self, client: str) -> None:
        """Count one sync creation by ``client``; raise ``RateLimited`` if over the limit."""
        if await self._limiter.hit(self._item, "sync-create", client):
            return
        stats = await self._limiter.get_window_stats(self._item, "sync-create", client)
        raise RateLimited(str(self._item), max(1, math.ceil(stats.reset_time - time.time())))
