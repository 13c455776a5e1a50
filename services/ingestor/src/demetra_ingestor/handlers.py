"""FastStream edge: one consumer group per channel on sync.requested, each calling the core."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable

from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.kafka.annotations import KafkaMessage as Message
from faststream.middlewares import AckPolicy, ExceptionMiddleware

from demetra_common.contracts import Channel, SyncRequested, utcnow
from demetra_common.logging import sync_context
from demetra_common.topics import Topics
from demetra_ingestor import metrics
from demetra_ingestor.service import Ingestor, Received
from demetra_ingestor.settings import IngestorSettings

logger = logging.getLogger(__name__)


class SyncNotPublished(RuntimeError):
    """The fetch of a valid request could not be published; the request is read again."""


def consumer_group(topics: Topics, channel: Channel) -> str:
    """``ingestor.<channel>``, with ``KAFKA_TOPIC_PREFIX`` in front like every group and topic."""
    return topics.group(f"ingestor.{channel.value}")


def skip_invalid_requests() -> ExceptionMiddleware:
    """Broker middleware: a sync.requested that is not JSON or not a valid SyncRequested is logged and
    acknowledged, so one bad message never blocks or crashes a channel's consumer."""

    async def skip(exc: Exception, message: KafkaMessage) -> None:
        metrics.INVALID_REQUESTS.inc()
        record = message.raw_message
        logger.warning(
            "skipping invalid sync.requested at %s[%s]@%s: %s",
            getattr(record, "topic", "?"),
            getattr(record, "partition", "?"),
            getattr(record, "offset", "?"),
            str(exc).strip()[:2000],
        )

    # Decoding and validating the payload fail with ValueError subclasses (JSONDecodeError, pydantic's and
    # fast_depends' ValidationError); errors of the handler itself arrive as SyncNotPublished instead.
    return ExceptionMiddleware(handlers={ValueError: skip})


def register_subscribers(broker: KafkaBroker, settings: IngestorSettings, ingestor: Ingestor) -> None:
    """Subscribe every channel of ``settings`` to sync.requested in its own consumer group.

    The offset of a request is committed only when its handler returns, i.e. once the fetch was fully
    published and acknowledged (``AckPolicy.NACK_ON_ERROR``: on an error the consumer seeks back and reads
    it again). Each channel has its own consumer and task, so a slow or failing channel never delays the
    others.
    """
    for channel in settings.channels:
        group = consumer_group(settings.topics, channel)
        subscriber = broker.subscriber(
            settings.topics.sync_requested,
            group_id=group,
            ack_policy=AckPolicy.NACK_ON_ERROR,
            # A new group must not miss requests made before it first joined; duplicates of completed
            # fetches are skipped and requests older than SYNC_REQUEST_MAX_AGE expire.
            auto_offset_reset="earliest",
            # The consumer polls again only after a fetch; leave the group only if one truly hangs.
            max_poll_interval_ms=int((settings.fetch_timeout_s + 120) * 1000),
            title=group,
            description=f"Fetches {channel.value} for every sync.requested that names it.",
        )
        subscriber(_on_sync_requested(ingestor, channel, settings.redelivery_backoff_s))


def _on_sync_requested(
    ingestor: Ingestor, channel: Channel, backoff_s: float
) -> Callable[[SyncRequested, KafkaMessage], Awaitable[None]]:
    async def on_sync_requested(request: SyncRequested, message: Message) -> None:
        try:
            with sync_context(request.sync_id):  # the consumer's span and log lines name the sync
                await ingestor.ingest(request, channel, received(message))
        except Exception as exc:
            # Not published (Kafka trouble): do not commit, read the request again after a pause.
            logger.exception("sync %s: %s fetch not published; will retry", request.sync_id, channel.value)
            await asyncio.sleep(backoff_s)
            raise SyncNotPublished(f"{request.sync_id}/{channel.value}: {exc}") from exc

    on_sync_requested.__doc__ = f"Fetch {channel.value} campaigns for the requested sync."
    return on_sync_requested


def received(message: KafkaMessage) -> Received:
    """Where the request's record was read and when it was published (its timestamp, else now)."""
    record = message.raw_message
    position = "/".join(str(getattr(record, part, "?")) for part in ("topic", "partition", "offset"))
    timestamp = getattr(record, "timestamp", None)
    published_at = (
        dt.datetime.fromtimestamp(timestamp / 1000, dt.UTC) if isinstance(timestamp, int) else utcnow()
    )
    return Received(position, published_at)
