"""Settings of an ingestor process: which channel it serves, how it talks to the source and to Kafka."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from demetra_common.contracts import ALL_CHANNELS, Channel
from demetra_common.settings import CommaSeparated, CommonSettings
from demetra_ingestor.sources.mock import parse_anomaly
from demetra_mock.anomalies import AnomalyLabel

ALL: Literal["all"] = "all"
BASE_HTTP_PORT = 8010


class IngestorSettings(CommonSettings):
    channel: Channel | Literal["all"] = Field(
        default=ALL,
        description="The channel this process ingests (facebook, instagram, google_ads, tiktok) or all four.",
    )

    # Fetching
    fetch_timeout_s: float = Field(
        default=900.0, gt=0, description="A channel's whole fetch must finish within this, else fetch.failed."
    )
    fetch_retry_attempts: int = Field(
        default=5, ge=1, le=50, description="Attempts per source page before the fetch is given up."
    )
    fetch_retry_initial_s: float = Field(default=0.5, ge=0, description="First retry backoff (doubles).")
    fetch_retry_max_s: float = Field(default=15.0, ge=0, description="Longest single retry backoff.")
    fetch_retry_jitter_s: float = Field(default=0.5, ge=0, description="Random extra wait per retry.")
    sync_lookback_days: int | None = Field(
        default=None,
        ge=0,
        description="Days before the as-of day a sync without a date range fetches again (late conversions "
        "restate them); unset: each channel's attribution window (facebook/instagram 28, google_ads 14, "
        "tiktok 3). At most SYNC_LOOKBACK_MAX_DAYS.",
    )
    sync_lookback_max_days: int = Field(
        default=28, ge=0, le=366, description="Cap of a sync's lookback, whatever SYNC_LOOKBACK_DAYS says."
    )
    redelivery_backoff_s: float = Field(
        default=5.0,
        ge=0,
        description="Wait before a sync.requested that could not be published is read again (Kafka trouble).",
    )

    sync_request_max_age: float = Field(
        default=6 * 3600.0,
        gt=0,
        description="Seconds: a sync.requested read longer than this after it was published (a new consumer "
        "group, expired offsets, a new channel) is not fetched but recorded as fetch.expired; a scheduled "
        "sync of the scheduler's newest slot is always fetched.",
    )
    completions_read_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="Reading sync.fetched (completed fetches) or scheduler.state to its end before a request "
        "is judged must take at most this; else the request is read again.",
    )

    shutdown_grace_s: float = Field(
        default=20.0,
        ge=0,
        description="On shutdown, a fetch in progress may finish within this; else it re-runs after restart.",
    )

    # Publishing
    pages_in_flight: int = Field(
        default=8, ge=1, le=1000, description="Source pages published but not yet acknowledged, at most."
    )
    kafka_max_batch_bytes: int = Field(
        default=512 * 1024,
        ge=16 * 1024,
        le=16 * 1024 * 1024,
        description="Producer batch size per partition.",
    )
    kafka_compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = Field(
        default="none", description="Producer compression (snappy, lz4, zstd need their codec installed)."
    )

    # The mock source (today's only source)
    mock_campaigns_per_channel: int = Field(
        default=500, ge=1, le=10_000_000, description="Active campaigns per channel in the mock catalogue."
    )
    mock_page_size: int = Field(default=500, ge=1, le=100_000, description="Campaigns per mock API page.")
    mock_latency_ms: float = Field(default=0.0, ge=0, description="Injected latency per mock page.")
    mock_error_rate: float = Field(
        default=0.0, ge=0, le=1, description="Probability that a mock page request fails transiently."
    )
    mock_fail_channels: CommaSeparated[Channel] = Field(
        default_factory=list,
        description="Channels whose mock source always fails (comma-separated), to exercise fetch.failed.",
    )

    mock_anomaly_rate: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Per campaign and 21-day block, the probability of a labelled anomaly in the mock's "
        "daily metrics (demetra_mock.anomalies; 0: off). For tests and benchmarks.",
    )
    mock_anomalies: CommaSeparated[str] = Field(
        default_factory=list,
        description="Explicit mock anomalies, kind:campaign_id:start:days (comma-separated), e.g. "
        "tracking_break:tt_00000042:2026-11-20:3.",
    )

    @field_validator("mock_anomalies")
    @classmethod
    def _anomalies_parse(cls, specs: list[str]) -> list[str]:
        for spec in specs:
            parse_anomaly(spec)
        return specs

    def anomaly_labels(self) -> list[AnomalyLabel]:
        return [parse_anomaly(spec) for spec in self.mock_anomalies]

    @model_validator(mode="after")
    def _port_follows_channel(self) -> Self:
        if "http_port" not in self.model_fields_set:
            self.http_port = BASE_HTTP_PORT + (0 if self.channel == ALL else ALL_CHANNELS.index(self.channel))
        return self

    @property
    def channels(self) -> tuple[Channel, ...]:
        """The channels this process serves, each with its own consumer group."""
        return ALL_CHANNELS if self.channel == ALL else (Channel(self.channel),)
