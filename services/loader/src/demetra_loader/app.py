"""Composition root: settings -> asyncpg pool, Kafka broker, load pipeline, handlers, ops endpoints."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI
from faststream.kafka import KafkaBroker

from demetra_common.contracts import ChannelLoaded, MetricRestated
from demetra_common.kafka import make_broker
from demetra_common.ops import ReadinessCheck, ops_router, service_app
from demetra_loader.core.announcements import ChannelAnnouncer
from demetra_loader.core.events import EventRecorder
from demetra_loader.core.loading import CampaignLoader
from demetra_loader.core.maintenance import Maintenance, PeriodicJob
from demetra_loader.core.partitions import DailyPartitions
from demetra_loader.core.pipeline import LoadPipeline
from demetra_loader.core.restatements import RestatementOutbox
from demetra_loader.core.retry import RetryPolicy
from demetra_loader.handlers import (
    KafkaAnnouncements,
    KafkaDeadLetters,
    KafkaRestatements,
    register_handlers,
)
from demetra_loader.repository import PostgresDatabase
from demetra_loader.settings import LoaderSettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Loader:
    """The loader's parts, wired but not connected: nothing here touches PostgreSQL or Kafka yet."""

    database: PostgresDatabase
    broker: KafkaBroker
    pipeline: LoadPipeline
    maintenance: Maintenance

    def readiness_checks(self) -> dict[str, ReadinessCheck]:
        """The checks of /ready: each fails until the lifespan has started its part, and after it stopped."""
        return {"database": self.database.ping, "kafka": self._kafka_ready, "pipeline": self._pipeline_ready}

    async def _kafka_ready(self) -> bool:
        return await self.broker.ping(timeout=1.5)

    async def _pipeline_ready(self) -> bool:
        return self.pipeline.healthy


def build_loader(settings: LoaderSettings) -> Loader:
    """The pool, the broker with its subscribers and publishers (dead letters, restatements, channel.loaded)
    declared, the pipeline and the periodic jobs (retention, unpublished restatements, unannounced
    loaded channels)."""
    database = PostgresDatabase(
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
    restated = broker.publisher(
        settings.topics.metric_restated,
        schema=MetricRestated,
        title="loader: metric.restated",
        description="A past day's metric that a newer fetch changed, one event per (campaign, day, metric, "
        "fetched_at), published after the transaction that recorded it committed; keyed by campaign_id. "
        "At least once: consumers dedup on event_id.",
    )
    announcements = broker.publisher(
        settings.topics.channel_loaded,
        schema=ChannelLoaded,
        title="loader: channel.loaded",
        description="A sync's channel is completely loaded (its loads reached the fetch.completed count), "
        "published after the commit that completed it; keyed by sync_id, event_id derived from (sync_id, "
        "channel). At least once (replicas, restarts): consumers dedup on event_id or are idempotent.",
    )
    retry = RetryPolicy(settings.loader_retry_initial_s, settings.loader_retry_max_s)
    partitions = DailyPartitions(database, retention_days=settings.history_retention_days)
    loader = CampaignLoader(
        database,
        KafkaDeadLetters(dead_letters),
        group_id=settings.campaign_group,
        retry=retry,
        partitions=partitions,
    )
    outbox = RestatementOutbox(database, KafkaRestatements(restated))
    announcer = ChannelAnnouncer(
        database,
        KafkaAnnouncements(announcements),
        lookback=dt.timedelta(seconds=settings.loader_announce_lookback_s),
    )
    pipeline = LoadPipeline(loader, outbox, depth=settings.loader_pending_batches, announcer=announcer)
    recorder = EventRecorder(database, settings.topics, retry=retry)
    register_handlers(broker, settings, pipeline, recorder, announcer)
    maintenance = Maintenance(
        [
            PeriodicJob("retention", settings.history_retention_interval_s, partitions.apply_retention),
            PeriodicJob("restatement outbox", settings.loader_outbox_interval_s, outbox.publish_pending),
            PeriodicJob("announcements", settings.loader_announce_interval_s, announcer.announce_pending),
        ]
    )
    return Loader(database, broker, pipeline, maintenance)


def build_broker(settings: LoaderSettings) -> KafkaBroker:
    """The loader's broker as the service runs it (for the AsyncAPI document)."""
    return build_loader(settings).broker


def create_app(settings: LoaderSettings) -> FastAPI:
    parts = build_loader(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await parts.database.open()
        parts.pipeline.start()
        try:
            await parts.broker.start()
            parts.maintenance.start()  # after the broker: the outbox publishes through it
            logger.info("loading %s in group %s", settings.topics.campaign_fetched, settings.campaign_group)
            yield
        finally:
            await parts.maintenance.stop()
            # Queued batches commit (or roll back) while the consumer still exists to commit their offsets.
            await parts.pipeline.stop(settings.loader_shutdown_timeout_s)
            await parts.broker.stop()
            await parts.database.close()
            logger.info("loader stopped")

    app = service_app(title="Demetra loader", version="0.1.0", lifespan=lifespan)
    app.include_router(ops_router(parts.readiness_checks()))
    return app
