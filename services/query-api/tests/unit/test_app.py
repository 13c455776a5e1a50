"""The composition root builds without connecting anything, from the settings it is given."""

from __future__ import annotations

from demetra_query_api.app import build_broker, build_context, create_app
from demetra_query_api.settings import QueryApiSettings


def _settings() -> QueryApiSettings:
    return QueryApiSettings(
        _env_file=None,
        environment="test",
        api_key="test",
        database_url="postgresql+asyncpg://nobody@127.0.0.1:1/nothing",
        kafka_bootstrap_servers="127.0.0.1:1",
    )


def test_the_app_is_built_from_its_settings_without_connecting() -> None:
    paths = create_app(_settings()).openapi()["paths"]
    assert {"/health", "/ready", "/api/campaigns", "/api/syncs"} <= set(paths)


def test_readiness_checks_the_database_and_kafka() -> None:
    assert set(build_context(_settings()).readiness_checks()) == {"database", "kafka"}


def test_the_broker_declares_the_sync_requested_publisher() -> None:
    settings = _settings()
    broker = build_broker(settings)
    topics = [publisher.topic for publisher in broker._publishers]  # type: ignore[attr-defined]
    assert topics == [settings.topics.sync_requested]
