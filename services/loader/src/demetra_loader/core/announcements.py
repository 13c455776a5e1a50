"""Announcing completely loaded channels: ``ChannelLoaded`` on channel.loaded, the insights service's trigger.

A (sync, channel) is loaded when the sync projection says it is completed (``sync_channels``, kept with the
events by ``demetra_common.sync_projection``: the sync status's own rule, the loads of the attempt of its
newest fetch.completed reached that fetch.completed's count). The two facts arrive through two consumers
(campaign.fetched batches and sync.events), so both look after they commit: the pipeline for the pairs a
batch counted, the events recorder for the pairs a fetch.completed names. Whichever commits last sees the
pair complete (READ COMMITTED: each looks after its own commit), possibly both.

The memory of what was announced is one more ``events`` row per pair, of type ``load.announced`` (its
event_id is the announcement's; the projection marks the channel ``announced``), written in the transaction
that found the pair, after the publish was acknowledged; that transaction holds an advisory lock, so
replicas and the two consumers take turns and do not announce one pair twice. A loader that dies between
the publish and the commit left a complete pair unannounced, and the periodic pass (every pair that
completed in the last ``LOADER_ANNOUNCE_LOOKBACK_S``) announces it again. That rare duplicate is harmless:
its event_id is derived from (sync_id, channel), and the insights service re-analysing a channel changes
nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterable, Sequence
from typing import Protocol

from demetra_common.contracts import Channel, ChannelLoaded, EventType, deterministic_event_id
from demetra_common.topics import CHANNEL_LOADED
from demetra_loader import metrics
from demetra_loader.core.storage import Database
from demetra_loader.repository import CompletedLoad, EventValues

logger = logging.getLogger(__name__)

SyncChannel = tuple[str, str]  # (sync_id, channel value)


def channel_loaded_event_id(sync_id: str, channel: Channel) -> uuid.UUID:
    """The same id for every announcement of one (sync, channel): replicas and retries agree."""
    return deterministic_event_id(CHANNEL_LOADED, sync_id, channel.value)


def channel_loaded(load: CompletedLoad) -> ChannelLoaded:
    channel = Channel(load.channel)
    return ChannelLoaded(
        event_id=channel_loaded_event_id(load.sync_id, channel),
        sync_id=load.sync_id,
        channel=channel,
        fetched=load.fetched,
        loaded=load.loaded,
        rows=load.rows,
        restated=load.restated,
        date_from=load.date_from,
        date_to=load.date_to,
        loaded_at=load.loaded_at,
    )


class AnnouncementSink(Protocol):
    async def send(self, events: Sequence[ChannelLoaded]) -> None:
        """Publish every event (keyed by sync_id) and wait until Kafka has them all (raise otherwise)."""


class ChannelAnnouncer:
    """Publishes ChannelLoaded for complete, unannounced (sync, channel) pairs, then records them."""

    def __init__(self, database: Database, sink: AnnouncementSink, *, lookback: dt.timedelta) -> None:
        self._database = database
        self._sink = sink
        self._lookback = lookback

    async def announce(self, pairs: Iterable[SyncChannel]) -> int:
        """Announce those of ``pairs`` that are complete and not announced yet; returns how many."""
        wanted = sorted(set(pairs))
        return await self._announce(wanted, None) if wanted else 0

    async def announce_pending(self) -> int:
        """The periodic pass: every complete pair of the last ``lookback`` still unannounced."""
        announced = await self._announce([], self._lookback)
        if announced:
            logger.info("announced %d loaded channel(s) left unannounced", announced)
        return announced

    async def _announce(self, pairs: Sequence[SyncChannel], recent: dt.timedelta | None) -> int:
        # One announcer at a time (a transaction-scoped advisory lock, across replicas and the two
        # consumers): the check, the publish and its record are then one step, and a duplicate only
        # follows a crash between the publish and the commit.
        async with self._database.transaction() as repository:
            await repository.lock_announcements()
            complete = await repository.completed_unannounced(pairs, recent)
            if not complete:
                return 0
            events = [channel_loaded(load) for load in complete]
            await self._sink.send(events)
            await repository.insert_events([_announced_row(event) for event in events])
        metrics.ANNOUNCED.inc(len(events))
        for event in events:
            logger.info(
                "announced %s of sync %s loaded (%d of %d)",
                event.channel.value,
                event.sync_id,
                event.loaded,
                event.fetched,
            )
        return len(events)


def _announced_row(event: ChannelLoaded) -> EventValues:
    return (
        event.event_id,
        event.sync_id,
        event.channel.value,
        EventType.LOAD_ANNOUNCED.value,
        event.model_dump_json(),
        dt.datetime.now(dt.UTC),
    )
