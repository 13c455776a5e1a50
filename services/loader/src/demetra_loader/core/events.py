"""Recording sync.requested and sync.events messages in the events table, idempotent on event_id."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

import orjson
from pydantic import ValidationError

from demetra_common.contracts import EventType, SyncEvent, SyncRequested, deterministic_event_id
from demetra_common.topics import Topics
from demetra_loader import metrics
from demetra_loader.core.records import RejectCode, Rejection, SourceRecord, rejection_for
from demetra_loader.core.retry import RetryPolicy
from demetra_loader.core.storage import Database
from demetra_loader.repository import EventValues

logger = logging.getLogger(__name__)


def event_values(record: SourceRecord, topics: Topics) -> EventValues | Rejection:
    """The events-table row for a sync.requested or sync.events record.

    A message published by hand may omit event_id and its time (the contract would then invent a random id
    and the current time): the id is derived from the record's position and the time is the record's Kafka
    timestamp instead, so that a redelivery is recognised as the same event.
    """
    try:
        payload = orjson.loads(record.value or b"")
    except orjson.JSONDecodeError as exc:
        return Rejection(RejectCode.INVALID_JSON, str(exc))
    if not isinstance(payload, dict):
        return Rejection(RejectCode.INVALID_MESSAGE, "not a JSON object")
    payload.setdefault("event_id", str(deterministic_event_id(record.topic, record.partition, record.offset)))
    published_at = dt.datetime.fromtimestamp(record.timestamp / 1000, dt.UTC).isoformat()
    try:
        if record.topic == topics.sync_requested:
            payload.setdefault("requested_at", published_at)
            requested = SyncRequested.model_validate(payload)
            return (
                requested.event_id,
                requested.sync_id,
                None,
                EventType.SYNC_REQUESTED.value,
                requested.model_dump_json(),
                requested.requested_at,
            )
        payload.setdefault("occurred_at", published_at)
        event = SyncEvent.model_validate(payload)
    except ValidationError as exc:
        return rejection_for(exc)
    return (
        event.event_id,
        event.sync_id,
        event.channel.value,
        event.type.value,
        event.model_dump_json(),
        event.occurred_at,
    )


class EventRecorder:
    """Writes sync.requested and sync.events messages into the events table, idempotent on event_id."""

    def __init__(self, database: Database, topics: Topics, *, retry: RetryPolicy) -> None:
        self._database = database
        self._topics = topics
        self._retry = retry

    async def record(self, records: Sequence[SourceRecord]) -> int:
        """Insert the valid ones in one transaction (retried until it commits); returns how many were new.
        Invalid messages are logged and skipped: they never block the partition."""
        rows: list[EventValues] = []
        for record in records:
            verdict = event_values(record, self._topics)
            if isinstance(verdict, Rejection):
                metrics.EVENTS.labels("rejected").inc()
                logger.warning(
                    "skipping invalid message at %s[%d]@%d: %s: %s",
                    record.topic,
                    record.partition,
                    record.offset,
                    verdict.code.value,
                    verdict.detail,
                )
            else:
                rows.append(verdict)
        inserted = 0
        async for attempt in self._retry.retrying("record events"):
            with attempt:
                async with self._database.transaction() as repository:
                    inserted = await repository.insert_events(rows)
        metrics.EVENTS.labels("recorded").inc(inserted)
        metrics.EVENTS.labels("duplicate").inc(len(rows) - inserted)
        return inserted

    def completed_pairs(self, records: Sequence[SourceRecord]) -> list[tuple[str, str]]:
        """The (sync_id, channel) of the fetch.completed events among ``records``: after they are recorded,
        those channels may be completely loaded (the announcer decides)."""
        pairs = []
        for record in records:
            if record.topic != self._topics.sync_events:
                continue
            verdict = event_values(record, self._topics)
            if not isinstance(verdict, Rejection) and verdict[3] == EventType.FETCH_COMPLETED.value:
                _, sync_id, channel, *_ = verdict
                if channel is not None:
                    pairs.append((sync_id, channel))
        return pairs
