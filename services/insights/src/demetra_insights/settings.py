"""The insights service's settings: CommonSettings plus its consumer group, outbox pass and retries."""

from __future__ import annotations

from pydantic import Field

from demetra_common.settings import CommonSettings


class InsightsSettings(CommonSettings):
    http_port: int = Field(default=8003, ge=1, le=65535, description="Port of /health, /ready and /metrics.")

    insights_group_id: str = Field(
        default="insights",
        description="Consumer group of channel.loaded and metric.restated (KAFKA_TOPIC_PREFIX in front).",
    )
    insights_restated_batch_size: int = Field(
        default=5000,
        ge=1,
        le=100_000,
        description="metric.restated events taken at once; their (channel, day) pairs are judged together.",
    )
    insights_outbox_interval_s: float = Field(
        default=30.0,
        gt=0,
        description="How often insight versions left unpublished (the service stopped between the commit and "
        "the publish) are published on insight.detected / insight.resolved (also once at start).",
    )
    insights_retry_initial_s: float = Field(
        default=0.2, gt=0, description="First wait before retrying an analysis PostgreSQL or Kafka refused."
    )
    insights_retry_max_s: float = Field(default=10.0, gt=0, description="Longest wait between retries.")

    @property
    def group(self) -> str:
        """The consumer group, prefixed like the topics (``Topics.group``)."""
        return self.topics.group(self.insights_group_id)
