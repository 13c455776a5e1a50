"""The Kafka side of ``SyncSink``: declared FastStream publishers (they document the contracts)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from faststream.kafka import KafkaBroker
from faststream.kafka.publisher.usecase import DefaultPublisher

from demetra_common.contracts import CampaignFetched, SyncEvent
from demetra_common.topics import Topics
from demetra_ingestor.service import Delivery


def declare_publishers(broker: KafkaBroker, topics: Topics) -> tuple[DefaultPublisher, DefaultPublisher]:
    """(campaign.fetched, sync.events) publishers of ``broker``."""
    campaigns = broker.publisher(
        topics.campaign_fetched,
        schema=CampaignFetched,
        title="campaign.fetched",
        description="Every campaign an ingestor fetched in a sync, keyed by campaign_id.",
    )
    events = broker.publisher(
        topics.sync_events,
        schema=SyncEvent,
        title="sync.events",
        description="Progress of each channel's fetch (fetch.started, fetch.completed, fetch.failed), "
        "keyed by sync_id.",
    )
    return campaigns, events


class KafkaSyncSink:
    """Campaigns go out without waiting (the producer batches them per partition); events wait for acks.

    The correlation id of every message is its sync_id, so the messages of one sync can be traced together
    and a re-run sync republishes identical records (value, key and headers).
    """

    def __init__(self, campaigns: DefaultPublisher, events: DefaultPublisher) -> None:
        self._campaigns = campaigns
        self._events = events

    async def publish_campaigns(self, messages: Sequence[CampaignFetched]) -> Delivery:
        publish = self._campaigns.publish
        acks = [
            await publish(
                message,
                key=message.campaign.campaign_id.encode(),
                correlation_id=message.sync_id,
                no_confirm=True,
            )
            for message in messages
        ]
        return asyncio.gather(*acks)

    async def publish_event(self, event: SyncEvent) -> None:
        await self._events.publish(event, key=event.sync_id.encode(), correlation_id=event.sync_id)
