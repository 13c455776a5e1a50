"""Composition root: settings -> asyncpg pool, Kafka broker, load pipeline, handlers, ops endpoints."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI
from faststream.kafka import KafkaBroker

from demetra_common.kafka import make_broker
from demetra_common.ops import ops_router
from demetra_loader.handlers import KafkaDeadLetters, register_handlers
from demetra_loader.repository import Database
from demetra_loader.service import CampaignLoader, EventRecorder, LoadPipeline, RetryPolicy
from demetra_loader.settings import LoaderSettings

logger = logging.getLogger(__name__)


@dataclass
class _Running:
    """What the lifespan built, for the readiness checks."""

    database: Database | None = None
    broker: KafkaBroker | None = None
    pipeline: LoadPipeline | None = None

    async def database_ready(self) -> bool:
        return self.database is not None and await self.database.ping()

    async def kafka_ready(self) -> bool:
        return self.broker is not None and await self.broker.ping(timeout=1.5)

    async def pipeline_ready(self) -> bool:
        return self.pipeline is not None and self.pipeline.healthy


@dataclass(frozen=True)
class Loader:
    """The loader's parts, wired but not connected: nothing here touches PostgreSQL or Kafka yet."""

    database: Database
    broker: KafkaBroker
    pipeline: LoadPipeline


def build_loader(settings: LoaderSettings) -> Loader:
    """The pool, the broker with its subscribers and dead-letter publisher declared, and the pipeline."""
    database = Database(
        settings.database_url,
        max_size=settings.db_pool_size + settings.db_max_overflow,
        connect_timeout_s=settings.db_pool_timeout_s,
    )
    broker = make_broker(
        settings,
        client_id="demetra-loader",
        graceful_timeout=settings.loader_shutdown_timeout_s,
        log_level=logging.DEBUG,  # FastStream's per-batch lines; the loader logs each commit itself
    )
    dead_letters = broker.publisher(
        settings.topics.campaign_fetched_dlq,
        schema=bytes,  # the rejected message's value as it came, often not even JSON
        title="loader: campaign.fetched.dlq",
        description="campaign.fetched messages that cannot be loaded, with the original key and value; "
        "headers: reason, reason_code, source_topic, source_partition, source_offset.",
    )
    retry = RetryPolicy(settings.loader_retry_initial_s, settings.loader_retry_max_s)
    loader = CampaignLoader(
        database, KafkaDeadLetters(dead_letters), group_id=settings.campaign_group, retry=retry
    )
    pipeline = LoadPipeline(loader, depth=settings.loader_pending_batches)
    register_handlers(broker, settings, pipeline, EventRecorder(database, settings.topics, retry=retry))
    return Loader(database, broker, pipeline)


def build_broker(settings: LoaderSettings) -> KafkaBroker:
    """The loader's broker as the service runs it (for the AsyncAPI document)."""
    return build_loader(settings).broker


def create_app(settings: LoaderSettings | None = None) -> FastAPI:
    settings = settings or LoaderSettings()
    running = _Running()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        loader = build_loader(settings)
        database, broker, pipeline = loader.database, loader.broker, loader.pipeline
        await database.open()
        pipeline.start()
        try:
            await broker.start()
            running.database, running.broker, running.pipeline = database, broker, pipeline
            logger.info("loading %s in group %s", settings.topics.campaign_fetched, settings.campaign_group)
            yield
        finally:
            # Queued batches commit (or roll back) while the consumer still exists to commit their offsets.
            await pipeline.stop(settings.loader_shutdown_timeout_s)
            await broker.stop()
            await database.close()
            logger.info("loader stopped")

    app = FastAPI(title="Demetra loader", version="0.1.0", lifespan=lifespan)
    app.include_router(
        ops_router(
            {
                "database": running.database_ready,
                "kafka": running.kafka_ready,
                "pipeline": running.pipeline_ready,
            }
        )
    )
    return app
