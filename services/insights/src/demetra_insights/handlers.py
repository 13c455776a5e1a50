"""FastStream edges: channel.loaded and metric.restated into the service; InsightChanged out.

Offsets are committed after the handler returns (``NACK_ON_ERROR``: an exception seeks back, and the
message comes again); the service retries PostgreSQL and Kafka failures itself, so that is rare.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from faststream.kafka import KafkaBroker
from faststream.kafka.publisher.usecase import BatchPublisher, DefaultPublisher
from faststream.middlewares import AckPolicy

from demetra_common.contracts import ChannelLoaded, InsightChanged, InsightStatus, MetricRestated
from demetra_insights.service import InsightsService
from demetra_insights.settings import InsightsSettings

Publisher = DefaultPublisher | BatchPublisher


class KafkaInsights:
    """Publishes InsightChanged on insight.detected (open) or insight.resolved, keyed by campaign_id (the
    channel for a channel-level insight)."""

    def __init__(self, detected: Publisher, resolved: Publisher) -> None:
        self._detected = detected
        self._resolved = resolved

    async def send(self, events: Sequence[InsightChanged]) -> None:
        await asyncio.gather(*(self._send(event) for event in events))

    async def _send(self, event: InsightChanged) -> None:
        publisher = self._resolved if event.status is InsightStatus.RESOLVED else self._detected
        key = event.campaign_id or event.channel.value
        await publisher.publish(event, key=key.encode())


def declare_publishers(broker: KafkaBroker, settings: InsightsSettings) -> KafkaInsights:
    description = (
        "An insight as it now stands (kind, severity, campaign or channel, days, observed vs expected over "
        "the baseline window, money at stake, one-sentence explanation), one event per version; keyed by "
        "campaign_id (the channel for a channel-level insight); event_id from (insight_id, version), so "
        "a republished version is recognisable."
    )
    detected = broker.publisher(
        settings.topics.insight_detected,
        schema=InsightChanged,
        title="insights: insight.detected",
        description="Opened, or its figures changed. " + description,
    )
    resolved = broker.publisher(
        settings.topics.insight_resolved,
        schema=InsightChanged,
        title="insights: insight.resolved",
        description="Its metric is back to normal. " + description,
    )
    return KafkaInsights(detected, resolved)


def register_handlers(broker: KafkaBroker, settings: InsightsSettings, service: InsightsService) -> None:
    topics = settings.topics

    @broker.subscriber(
        topics.channel_loaded,
        group_id=settings.group,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        title="insights: channel.loaded",
        description="Judges the newest complete day a sync loaded for the channel against each campaign's "
        "baseline, reconciles with the channel's open insights (one transaction, a lock per channel) and "
        "publishes what changed. A redelivery changes nothing.",
    )
    async def on_channel_loaded(event: ChannelLoaded) -> None:
        await service.channel_loaded(event)

    @broker.subscriber(
        topics.metric_restated,
        batch=True,
        group_id=settings.group,
        max_records=settings.insights_restated_batch_size,
        batch_timeout_ms=500,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        title="insights: metric.restated",
        description="Re-judges the restated (channel, day) pairs of the batch, each channel once.",
    )
    async def on_metric_restated(events: list[MetricRestated]) -> None:
        await service.restated(events)
