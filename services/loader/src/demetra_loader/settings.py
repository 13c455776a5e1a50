"""The loader's settings: CommonSettings plus how it batches, groups and retries."""

from __future__ import annotations

from pydantic import Field

from demetra_common.settings import CommonSettings


class LoaderSettings(CommonSettings):
    http_port: int = Field(default=8002, ge=1, le=65535, description="Port of /health, /ready and /metrics.")

    loader_batch_size: int = Field(
        default=10_000,
        ge=1,
        le=100_000,
        description="Most campaign.fetched messages loaded in one PostgreSQL transaction.",
    )
    loader_batch_max_wait_ms: int = Field(
        default=500,
        ge=1,
        le=60_000,
        description="How long to wait for messages when none are buffered; a batch never waits to fill up.",
    )
    loader_pending_batches: int = Field(
        default=1,
        ge=1,
        le=16,
        description="Validated batches queued behind the one being written (PostgreSQL works on batch N "
        "while the next ones are validated).",
    )
    loader_group_id: str = Field(
        default="loader",
        min_length=1,
        description="Consumer group of campaign.fetched (KAFKA_TOPIC_PREFIX is put in front of it).",
    )
    loader_events_group_id: str = Field(
        default="loader.events",
        min_length=1,
        description="Consumer group of sync.requested and sync.events (KAFKA_TOPIC_PREFIX in front).",
    )
    loader_retry_initial_s: float = Field(
        default=0.2, gt=0, description="First wait before retrying a batch that PostgreSQL or Kafka refused."
    )
    loader_retry_max_s: float = Field(
        default=10.0, gt=0, description="Longest wait between retries; a batch is retried until it succeeds."
    )
    loader_shutdown_timeout_s: float = Field(
        default=20.0,
        gt=0,
        description="On SIGTERM, how long queued batches may take to commit before they are abandoned "
        "(abandoned batches are rolled back and redelivered after restart).",
    )

    history_retention_days: int = Field(
        default=730,
        ge=0,
        description="Days of daily history kept: partitions of campaign_daily entirely older than today "
        "minus this are dropped (0 keeps everything).",
    )
    history_retention_interval_s: float = Field(
        default=6 * 3600.0, gt=0, description="How often retention runs (also once at start)."
    )
    loader_outbox_interval_s: float = Field(
        default=30.0,
        gt=0,
        description="How often restatements left unpublished (the loader stopped between their commit and "
        "their publication) are published on metric.restated (also once at start).",
    )

    loader_announce_interval_s: float = Field(
        default=30.0,
        gt=0,
        description="How often completely loaded (sync, channel) pairs left unannounced (the loader stopped "
        "between the commit and the channel.loaded publish) are announced (also once at start).",
    )
    loader_announce_lookback_s: float = Field(
        default=86_400.0,
        gt=0,
        description="How far back (by the time a channel completed) the periodic pass looks for unannounced "
        "pairs.",
    )

    @property
    def campaign_group(self) -> str:
        """The consumer group of campaign.fetched, prefixed like the topics (``Topics.group``)."""
        return self.topics.group(self.loader_group_id)

    @property
    def events_group(self) -> str:
        return self.topics.group(self.loader_events_group_id)
