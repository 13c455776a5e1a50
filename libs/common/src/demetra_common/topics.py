"""Kafka topic names and their layout. The only place in the tree that spells a topic name."""

from __future__ import annotations

from dataclasses import dataclass

SYNC_REQUESTED = "sync.requested"
CAMPAIGN_FETCHED = "campaign.fetched"
SYNC_EVENTS = "sync.events"
CAMPAIGN_FETCHED_DLQ = "campaign.fetched.dlq"
# A past day's metric that a newer fetch changed (key campaign_id), published by the loader after commit.
METRIC_RESTATED = "metric.restated"
# The scheduler's durable control state (paused or running), one record per key; compacted.
SCHEDULER_STATE = "scheduler.state"

# Partition counts from DESIGN.md. The loader and ingestors scale up to these many replicas.
PARTITIONS: dict[str, int] = {
    SYNC_REQUESTED: 3,
    CAMPAIGN_FETCHED: 6,
    SYNC_EVENTS: 3,
    CAMPAIGN_FETCHED_DLQ: 1,
    METRIC_RESTATED: 3,
    SCHEDULER_STATE: 1,
}

TOPIC_CONFIGS: dict[str, dict[str, str]] = {
    SCHEDULER_STATE: {"cleanup.policy": "compact"},
}


@dataclass(frozen=True, slots=True)
class Topics:
    """The topic set one deployment uses.

    A prefix (``KAFKA_TOPIC_PREFIX``) gives an isolated set on a shared cluster: tests use it so that they
    never see each other's messages, and so can staging next to production.
    """

    prefix: str = ""

    @property
    def sync_requested(self) -> str:
        return self.prefix + SYNC_REQUESTED

    @property
    def campaign_fetched(self) -> str:
        return self.prefix + CAMPAIGN_FETCHED

    @property
    def sync_events(self) -> str:
        return self.prefix + SYNC_EVENTS

    @property
    def campaign_fetched_dlq(self) -> str:
        return self.prefix + CAMPAIGN_FETCHED_DLQ

    @property
    def metric_restated(self) -> str:
        return self.prefix + METRIC_RESTATED

    @property
    def scheduler_state(self) -> str:
        return self.prefix + SCHEDULER_STATE

    def group(self, name: str) -> str:
        """The consumer group ``name`` of this set, prefixed like the topics: an isolated topic set (a test
        run, a staging copy) never shares a group, and its rebalances and offsets, with another."""
        return self.prefix + name

    def layout(self) -> dict[str, int]:
        """Every topic of this set with its partition count."""
        return {self.prefix + name: partitions for name, partitions in PARTITIONS.items()}

    def configs(self, topic: str) -> dict[str, str]:
        """Topic-level configs (e.g. compaction) for one topic of this set."""
        return TOPIC_CONFIGS.get(topic.removeprefix(self.prefix), {})
