"""Composition root: settings -> asyncpg pool, Kafka broker, the service, handlers, ops endpoints."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI
from faststream.kafka import KafkaBroker

from demetra_common.aio import cancel_all
from demetra_common.kafka import make_broker
from demetra_common.ops import ReadinessCheck, ops_router, service_app
from demetra_insights.handlers import declare_publishers, register_handlers
from demetra_insights.repository import PostgresDatabase
from demetra_insights.service import InsightsService
from demetra_insights.settings import InsightsSettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Insights:
    """The service's parts, wired but not connected: nothing here touches PostgreSQL or Kafka yet."""

    settings: InsightsSettings
    database: PostgresDatabase
    broker: KafkaBroker
    service: InsightsService

    def readiness_checks(self) -> dict[str, ReadinessCheck]:
        return {"database": self.database.ping, "kafka": self._kafka_ready}

    async def _kafka_ready(self) -> bool:
        return await self.broker.ping(timeout=1.5)

    async def publish_pending_forever(self) -> None:
        """The outbox pass: versions a crash left unpublished, at start and every interval."""
        while True:
            try:
                await self.service.publish_pending()
            except Exception:
                logger.exception("publishing pending insights failed; again in a while")
            await asyncio.sleep(self.settings.insights_outbox_interval_s)


def build_insights(settings: InsightsSettings) -> Insights:
    """The pool, the broker with its subscribers (channel.loaded, metric.restated) and publishers
    (insight.detected, insight.resolved) declared, and the service between them."""
    database = PostgresDatabase(
        settings.database_url,
        max_size=settings.db_pool_size + settings.db_max_overflow,
        connect_timeout_s=settings.db_pool_timeout_s,
    )
    broker = make_broker(settings, client_id="demetra-insights")
    service = InsightsService(
        database,
        declare_publishers(broker, settings),
        retry_initial_s=settings.insights_retry_initial_s,
        retry_max_s=settings.insights_retry_max_s,
    )
    register_handlers(broker, settings, service)
    return Insights(settings, database, broker, service)


def build_broker(settings: InsightsSettings) -> KafkaBroker:
    """The service's broker as it runs (for the AsyncAPI document)."""
    return build_insights(settings).broker


def create_app(settings: InsightsSettings) -> FastAPI:
    parts = build_insights(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await parts.database.open()
        outbox: asyncio.Task[None] | None = None
        try:
            await parts.broker.start()
            outbox = asyncio.create_task(parts.publish_pending_forever(), name="insights-outbox")
            logger.info("analysing %s in group %s", settings.topics.channel_loaded, settings.group)
            yield
        finally:
            await cancel_all([outbox])
            await parts.broker.stop()
            await parts.database.close()
            logger.info("insights stopped")

    app = service_app(title="Demetra insights", version="0.1.0", lifespan=lifespan)
    app.include_router(ops_router(parts.readiness_checks()))
    return app
