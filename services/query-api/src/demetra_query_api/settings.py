"""Settings of the query API: the common ones plus paging, sync status, security and summary refresh."""

from __future__ import annotations

from pathlib import Path

from limits import parse
from pydantic import Field, field_validator

from demetra_common.settings import CommaSeparated, CommonSettings

# services/query-api/console/node_modules, when running from the source tree (images set the variable)
CONSOLE_VENDOR_DIR = Path(__file__).resolve().parents[2] / "console" / "node_modules"
DEFAULT_CORS_ORIGINS = ["http://localhost:3000", "http://localhost:5173"]


class QueryApiSettings(CommonSettings):
    http_port: int = Field(default=8000, ge=1, le=65535, description="HTTP port of the query API.")
    http_workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="uvicorn worker processes, each with its own database pool; the supervisor accepts the "
        "connections and hands them to the workers in turn.",
    )

    sync_timeout: float = Field(
        default=600.0,
        gt=0,
        description="Seconds without a new event after which a sync's channel is reported failed (timeout).",
    )

    cors_origins: CommaSeparated[str] = Field(
        default_factory=lambda: list(DEFAULT_CORS_ORIGINS),
        description="Origins allowed by CORS, comma-separated. '*' allows any origin, without credentials.",
    )

    sync_rate_limit: str = Field(
        default="5/minute",
        description="Sync creations allowed per client address, in the `limits` notation ('5/minute').",
    )
    rate_limit_storage_uri: str = Field(
        default="memory://",
        description="Where rate-limit counters live: memory:// (per process) or redis://host:port (shared).",
    )

    mock_campaigns_per_channel: int = Field(
        default=500, ge=1, le=100_000, description="Campaigns per channel served by /api/test/mock-data."
    )

    sync_metrics_interval_s: float = Field(
        default=30.0,
        ge=0,
        description="How often demetra_syncs_recent counts the recent syncs by outcome; 0 turns it off.",
    )
    sync_metrics_window_s: float = Field(
        default=3600.0,
        gt=0,
        description="demetra_syncs_recent counts the syncs started this recently.",
    )
    summary_refresh_interval_s: float = Field(
        default=5.0,
        gt=0,
        description="How often the metrics summary aggregate checks whether campaigns changed and refreshes.",
    )
    summary_max_age_s: float = Field(
        default=3600.0,
        gt=0,
        description="The summary aggregate is refreshed at least this often, even if no change was detected "
        "(a safety net: the change marker triggers the refreshes that matter; each one recomputes the whole "
        "aggregate, ~1 s of a core over a year of 1,000 campaigns' days).",
    )

    response_cache_ttl_s: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="Seconds a GET response may be served again to the same URL (0: always query).",
    )
    db_statement_timeout_ms: int = Field(
        default=5000, ge=100, le=600_000, description="PostgreSQL statement_timeout of API queries."
    )
    console_vendor_dir: Path = Field(
        default=CONSOLE_VENDOR_DIR,
        description="Where the console's npm assets are (node_modules of services/query-api/console, "
        "installed by `make install`); served under /console/vendor.",
    )
    publish_timeout_s: float = Field(
        default=10.0, gt=0, description="How long POST /api/syncs waits for Kafka to acknowledge."
    )

    @field_validator("sync_rate_limit")
    @classmethod
    def _valid_rate_limit(cls, value: str) -> str:
        try:
            parse(value)
        except ValueError as exc:
            raise ValueError(f"not a rate limit like '5/minute': {value!r}") from exc
        return value

    @property
    def cors_allow_any_origin(self) -> bool:
        return "*" in self.cors_origins
