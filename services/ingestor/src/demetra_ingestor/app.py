"""Composition root of the ingestor: settings -> sources, broker, core, HTTP (health, readiness, metrics)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI
from faststream.kafka import KafkaBroker

from demetra_common.contracts import Channel
from demetra_common.kafka import broker_ready, make_broker
from demetra_common.ops import ReadinessCheck, ops_router, service_app
from demetra_ingestor.completions import (
    KafkaCompletions,
    KafkaSlots,
    TopicReader,
    declare_completions_publisher,
)
from demetra_ingestor.handlers import register_subscribers, skip_invalid_requests
from demetra_ingestor.publishing import KafkaSyncSink, declare_publishers
from demetra_ingestor.service import ExpiryPolicy, Ingestor, RetryPolicy, WindowPolicy
from demetra_ingestor.settings import IngestorSettings
from demetra_ingestor.sources import CampaignSource
from demetra_ingestor.sources.mock import MockSource


def build_sources(settings: IngestorSettings) -> dict[Channel, CampaignSource]:
    """One source per served channel; today the mock platform APIs."""
    return {
        channel: MockSource(
            channel,
            size=settings.mock_campaigns_per_channel,
            page_size=settings.mock_page_size,
            latency_s=settings.mock_latency_ms / 1000,
            error_rate=settings.mock_error_rate,
            always_fail=channel in settings.mock_fail_channels,
            anomaly_rate=settings.mock_anomaly_rate,
            anomalies=settings.anomaly_labels(),
        )
        for channel in settings.channels
    }


@dataclass(frozen=True)
class IngestorParts:
    """The ingestor's parts, wired but not connected: nothing here touches Kafka until the lifespan."""

    broker: KafkaBroker
    ingestor: Ingestor
    completions: KafkaCompletions
    slots: KafkaSlots

    def readiness_checks(self) -> dict[str, ReadinessCheck]:
        return {"kafka": broker_ready(self.broker)}


def build_ingestor(settings: IngestorSettings) -> IngestorParts:
    """The broker with its publishers and subscribers declared, and the core behind them.

    The running service and the AsyncAPI generator both build the ingestor here.
    """
    broker = make_broker(
        settings,
        client_id=f"demetra-ingestor-{settings.channel}",
        max_batch_size=settings.kafka_max_batch_bytes,
        compression_type=None if settings.kafka_compression == "none" else settings.kafka_compression,
        middlewares=(skip_invalid_requests(),),
        graceful_timeout=settings.shutdown_grace_s or None,
        # FastStream's access log (received/processed per message) through our handlers, as JSON.
        logger=logging.getLogger("demetra_ingestor.broker"),
    )
    campaigns, events = declare_publishers(broker, settings.topics)
    topics = settings.topics

    def reader(topic: str) -> TopicReader:
        return TopicReader(
            topic,
            partitions=topics.layout()[topic],
            bootstrap_servers=settings.kafka_bootstrap_servers,
            timeout_s=settings.completions_read_timeout_s,
        )

    completions = KafkaCompletions(
        declare_completions_publisher(broker, topics.sync_fetched), reader(topics.sync_fetched)
    )
    slots = KafkaSlots(reader(topics.scheduler_state))
    ingestor = Ingestor(
        build_sources(settings),
        KafkaSyncSink(broker, campaigns, events, max_batch_bytes=settings.kafka_max_batch_bytes),
        retry=RetryPolicy(
            attempts=settings.fetch_retry_attempts,
            initial_s=settings.fetch_retry_initial_s,
            max_s=settings.fetch_retry_max_s,
            jitter_s=settings.fetch_retry_jitter_s,
        ),
        window=WindowPolicy(
            lookback_days=settings.sync_lookback_days,
            lookback_max_days=settings.sync_lookback_max_days,
            backfill_max_days=settings.backfill_max_days,
        ),
        fetch_timeout_s=settings.fetch_timeout_s,
        pages_in_flight=settings.pages_in_flight,
        completions=completions,
        expiry=ExpiryPolicy(dt.timedelta(seconds=settings.sync_request_max_age), slots),
    )
    register_subscribers(broker, settings, ingestor)
    return IngestorParts(broker, ingestor, completions, slots)


def create_app(settings: IngestorSettings) -> FastAPI:
    """The ingestor process: FastStream subscribers run inside the FastAPI lifespan."""
    parts = build_ingestor(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await parts.broker.start()
        try:
            yield
        finally:
            await parts.broker.stop()
            await parts.completions.close()
            await parts.slots.close()

    app = service_app(
        title=f"Demetra ingestor ({settings.channel})",
        description="Consumes sync.requested, publishes campaign.fetched (campaigns' days) and sync.events; "
        "remembers completed fetches on sync.fetched.",
        lifespan=lifespan,
    )
    app.include_router(ops_router(parts.readiness_checks()))
    return app
