"""Settings shared by every service. Each service subclasses ``CommonSettings`` with its own fields.

Values come from the environment, then from ``.env`` in the working directory, then these defaults,
which work against the local stack that ``make up`` starts.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Self, TypeVar
from urllib.parse import unquote, urlsplit

from pydantic import BeforeValidator, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from demetra_common.topics import Topics

LOCAL_API_KEY = "local-dev-key-change-me"
# The password of the local stack's PostgreSQL (the default DATABASE_URL, .env.example, docker compose).
LOCAL_DATABASE_PASSWORD = "demetra"

T = TypeVar("T")


def split_list(value: object) -> object:
    """An environment variable holding a list: ``a,b`` (blanks ignored) or a JSON list ``["a", "b"]``."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [item.strip() for item in text.split(",") if item.strip()]
    return value


# A settings field read from one comma-separated (or JSON list) environment variable.
CommaSeparated = Annotated[list[T], NoDecode, BeforeValidator(split_list)]


class Environment(StrEnum):
    LOCAL = "local"
    TEST = "test"
    PRODUCTION = "production"


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    environment: Environment = Field(
        default=Environment.LOCAL, description="local, test or production; production refuses local secrets."
    )
    log_level: str = Field(default="INFO", description="Python logging level.")
    log_format: str = Field(default="json", pattern="^(json|text)$", description="json or text logs.")

    # Tracing (demetra_common.telemetry): the standard OpenTelemetry variables; off when none is set.
    otel_sdk_disabled: bool = Field(default=False, description="true: no tracing, whatever else is set.")
    otel_traces_exporter: str = Field(
        default="none",
        description="otlp, console or none (comma-separated). Unlike the SDK's default (otlp), tracing is "
        "off unless this or an OTLP endpoint is set.",
    )
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None, description="OTLP collector base URL; setting it turns tracing on (exporter otlp)."
    )
    otel_exporter_otlp_traces_endpoint: str | None = Field(
        default=None, description="OTLP traces URL (overrides the base endpoint for traces)."
    )
    traces_file: str | None = Field(
        default=None,
        description="Append every finished span as one JSON line to this file (tests, debugging); turns "
        "tracing on.",
    )

    http_host: str = Field(
        default="127.0.0.1", description="Address the HTTP port binds to (0.0.0.0 in containers)."
    )
    http_port: int = Field(
        default=8000, ge=1, le=65535, description="HTTP port; each service sets its own default."
    )

    kafka_bootstrap_servers: str = Field(default="127.0.0.1:9092", description="Comma-separated brokers.")
    kafka_topic_prefix: str = Field(
        default="", description="Prefix on every topic name: isolates test runs or environments."
    )

    database_url: str = Field(
        default=f"postgresql+asyncpg://demetra:{LOCAL_DATABASE_PASSWORD}@127.0.0.1:5432/demetra",
        description="SQLAlchemy URL; the asyncpg driver is used whatever the scheme says.",
    )
    db_pool_size: int = Field(default=5, ge=1, le=100)
    db_max_overflow: int = Field(default=10, ge=0, le=100)
    db_pool_timeout_s: float = Field(default=10.0, gt=0)

    api_key: SecretStr = Field(
        default=SecretStr(LOCAL_API_KEY), description="Key required by write endpoints (X-API-Key header)."
    )
    backfill_max_days: int = Field(
        default=400,
        ge=1,
        le=3660,
        description="The most days one sync may name (date_from..date_to): the query API answers 422 beyond "
        "it, an ingestor reports a longer hand-written request as fetch.failed.",
    )

    @property
    def topics(self) -> Topics:
        return Topics(self.kafka_topic_prefix)

    @model_validator(mode="after")
    def _no_local_secrets_in_production(self) -> Self:
        if self.environment is not Environment.PRODUCTION:
            return self
        problems = []
        if self.api_key.get_secret_value() == LOCAL_API_KEY:
            problems.append("API_KEY must be set to a real secret")
        if _password(self.database_url) == LOCAL_DATABASE_PASSWORD:
            problems.append("DATABASE_URL must carry a real password, not the local stack's default")
        if problems:
            raise ValueError("; ".join(problems) + " when ENVIRONMENT=production")
        return self


def _password(url: str) -> str | None:
    """The password in a database URL (percent-decoded), or None when it has none (peer, certificate...)."""
    password = urlsplit(url).password
    return None if password is None else unquote(password)
