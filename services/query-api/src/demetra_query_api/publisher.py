"""Publishes SyncRequested on ``sync.requested`` (keyed by sync_id) through the FastStream broker.

The API must keep serving reads while Kafka is down: a failed connection at start-up is retried on the next
publish, and a publish that cannot complete within ``timeout_s`` becomes ``BrokerUnavailable`` (503).
"""

from __future__ import annotations

import asyncio
import logging

from faststream.kafka import KafkaBroker

from demetra_common.contracts import SyncRequested
from demetra_common.logging import sync_context

logger = logging.getLogger(__name__)


class BrokerUnavailable(RuntimeError):
    """Kafka did not acknowledge in time."""


class SyncRequestPublisher:
    def __init__(self, broker: KafkaBroker, topic: str, *, timeout_s: float) -> None:
        self._broker = broker
        self._timeout_s = timeout_s
        self._publisher = broker.publisher(
            topic,
            schema=SyncRequested,
            title="query-api: sync.requested",
            description="Ad-hoc syncs requested through POST /api/syncs (trigger=api), keyed by sync_id.",
        )
        self._started = False
        self._lock = asyncio.Lock()
        self._reconnect: asyncio.Task[bool] | None = None

    @property
    def broker(self) -> KafkaBroker:
        """The broker, with this publisher declared on it (not connected until ``start``)."""
        return self._broker

    async def start(self) -> bool:
        async with self._lock:
            if self._started:
                return True
            try:
                await asyncio.wait_for(self._broker.start(), self._timeout_s)
            except Exception as exc:  # Kafka down: serve reads anyway, retry on the next publish
                logger.warning("Kafka unavailable, will retry: %s", exc)
                await self._stop_quietly()
                return False
            except asyncio.CancelledError:
                await self._stop_quietly()
                raise
            self._started = True
            return True

    async def publish(self, request: SyncRequested) -> None:
        """Publish ``request`` keyed by its sync_id, with the sync_id as correlation id (the messages, logs
        and spans of one sync carry the same id), inside the current trace: the HTTP request's."""
        with sync_context(request.sync_id):
            if not await self.start():
                raise BrokerUnavailable("Kafka is unreachable")
            try:
                await asyncio.wait_for(
                    self._publisher.publish(
                        request, key=request.sync_id.encode(), correlation_id=request.sync_id
                    ),
                    self._timeout_s,
                )
            except Exception as exc:
                logger.warning("publishing %s failed: %s", request.sync_id, exc)
                raise BrokerUnavailable(f"Kafka did not acknowledge within {self._timeout_s:g} s") from exc

    async def ping(self, timeout_s: float = 1.0) -> bool:
        """Whether Kafka answers; while disconnected, starts one reconnection attempt in the background."""
        if not self._started:
            if self._reconnect is None or self._reconnect.done():
                self._reconnect = asyncio.create_task(self.start())
            return False
        return await self._broker.ping(timeout=timeout_s)

    async def stop(self) -> None:
        if self._reconnect is not None:
            self._reconnect.cancel()
        async with self._lock:
            await self._stop_quietly()
            self._started = False

    async def _stop_quietly(self) -> None:
        try:
            await self._broker.stop()
        except Exception as exc:
            logger.debug("stopping the broker: %s", exc)
