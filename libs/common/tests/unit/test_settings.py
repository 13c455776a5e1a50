import pytest
from pydantic import ValidationError

from demetra_common.db import asyncpg_url, plain_dsn
from demetra_common.settings import CommonSettings, split_list
from demetra_common.topics import PARTITIONS, Topics


def test_defaults_point_at_the_local_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "KAFKA_TOPIC_PREFIX", "ENVIRONMENT", "API_KEY"):
        monkeypatch.delenv(var, raising=False)
    settings = CommonSettings(_env_file=None)
    assert settings.kafka_bootstrap_servers == "127.0.0.1:9092"
    assert settings.database_url.endswith("@127.0.0.1:5432/demetra")
    assert settings.topics.sync_requested == "sync.requested"


def test_production_refuses_the_local_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("API_KEY", raising=False)
    with pytest.raises(ValidationError, match="API_KEY must be set"):
        CommonSettings(_env_file=None, environment="production")
    assert CommonSettings(
        _env_file=None, environment="production", api_key="s3cret"
    ).api_key.get_secret_value()


def test_topic_prefix_isolates_every_topic_and_consumer_group() -> None:
    layout = Topics("t1.").layout()
    assert set(layout) == {"t1." + name for name in PARTITIONS}
    assert layout["t1.campaign.fetched"] == 6
    assert Topics("t1.").configs("t1.scheduler.state") == {"cleanup.policy": "compact"}
    assert (Topics("t1.").group("loader"), Topics().group("loader")) == ("t1.loader", "loader")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:p@h:5432/d",
        "postgres://u:p@h:5432/d",
        "postgresql+psycopg://u:p@h:5432/d",
        "postgresql+asyncpg://u:p@h:5432/d",
    ],
)
def test_database_urls_are_normalised_to_asyncpg(url: str) -> None:
    assert asyncpg_url(url) == "postgresql+asyncpg://u:p@h:5432/d"
    assert plain_dsn(url) == "postgresql://u:p@h:5432/d"


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [("a,b", ["a", "b"]), (" a , ,b ", ["a", "b"]), ('["a", "b"]', ["a", "b"]), ("", []), (["x"], ["x"])],
)
def test_list_settings_read_comma_separated_or_json(raw: object, parsed: list[str]) -> None:
    assert split_list(raw) == parsed
