"""Kafka topic names and their layout. The only place in the tree that spells a topic name."""

from __future__ import annotations

from dataclasses import dataclass

SYNC_REQUESTED = "sync.requested"
CAMPAIGN_FETCHED = "campaign.fetched"
SYNC_EVENTS = "sync.events"
CAMPAIGN_FETCHED_DLQ = "campaign.fetched.dlq"
# A past day's metric that a newer fetch changed (key campaign_id), published by the loader after commit.
METRIC_RESTATED = "metric.restated"
# A channel of a sync completely loaded (key sync_id): the loader announces it, insights analyses it.
CHANNEL_LOADED = "channel.loaded"
# Insights opening/changing and resolving (key campaign_id), published by the insights service.
INSIGHT_DETECTED = "insight.detected"
INSIGHT_RESOLVED = "insight.resolved"
# The scheduler's durable control state (paused or running), one record per key; compacted.
SCHEDULER_STATE = "scheduler.state"
# The (sync, channel) pairs the ingestors fetched completely (key sync_id/channel), so that a duplicate
# request is not fetched again; compacted.
SYNC_FETCHED = "sync.fetched"

# Partition counts from DESIGN.md. The loader and ingestors scale up to these many replicas.
PARTITIONS: dict[str, int] = {
    SYNC_REQUESTED: 3,
    CAMPAIGN_FETCHED: 6,
    SYNC_EVENTS: 3,
    CAMPAIGN_FETCHED_DLQ: 1,
    METRIC_RESTATED: 3,
    CHANNEL_LOADED: 3,
    INSIGHT_DETECTED: 3,
    INSIGHT_RESOLVED: 3,
    SCHEDULER_STATE: 1,
    SYNC_FETCHED: 1,
}

TOPIC_CONFIGS: dict[str, dict[str, str]] = {
    SCHEDULER_STATE: {"cleanup.policy": "compact"},
    SYNC_FETCHED: {"cleanup.policy": "compact"},
}

# Copies of every partition on a cluster of three brokers or more. With two of them required in sync, a
# producer's acks=all survives the loss of one broker and fails (never drops silently) when two are lost.
MAX_REPLICATION_FACTOR = 3


@dataclass(frozen=True, slots=True)
class Replication:
    """How many copies of each partition a topic keeps, and how many must have a record before a producer
    with ``acks=all`` is told it is written (``min.insync.replicas``)."""

    factor: int
    min_insync: int

    @classmethod
    def of(cls, factor: int) -> Replication:
        """``factor`` copies, all but one of them in sync (one copy on a single broker)."""
        if factor < 1:
            raise ValueError(f"replication factor must be at least 1, not {factor}")
        return cls(factor, max(1, factor - 1))

    @classmethod
    def for_cluster(cls, brokers: int) -> Replication:
        """The replication a cluster of ``brokers`` gives every Demetra topic: 3 copies (2 in sync) from
        three brokers on, one copy on a single broker."""
        return cls.of(max(1, min(brokers, MAX_REPLICATION_FACTOR)))

    def configs(self) -> dict[str, str]:
        return {"min.insync.replicas": str(self.min_insync)}


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
    def channel_loaded(self) -> str:
        return self.prefix + CHANNEL_LOADED

    @property
    def insight_detected(self) -> str:
        return self.prefix + INSIGHT_DETECTED

    @property
    def insight_resolved(self) -> str:
        return self.prefix + INSIGHT_RESOLVED

    @property
    def scheduler_state(self) -> str:
        return self.prefix + SCHEDULER_STATE

    @property
    def sync_fetched(self) -> str:
        return self.prefix + SYNC_FETCHED

    def group(self, name: str) -> str:
        """The consumer group ``name`` of this set, prefixed like the topics: an isolated topic set (a test
        run, a staging copy) never shares a group, and its rebalances and offsets, with another."""
        return self.prefix + name

    def layout(self) -> dict[str, int]:
        """Every topic of this set with its partition count."""
        return {self.prefix + name: partitions for name, partitions in PARTITIONS.items()}

    def configs(self, topic: str, replication: Replication | None = None) -> dict[str, str]:
        """Topic-level configs (e.g. compaction, and ``min.insync.replicas`` of ``replication``) for one
        topic of this set."""
        own = TOPIC_CONFIGS.get(topic.removeprefix(self.prefix), {})
        return {**own, **replication.configs()} if replication else dict(own)
