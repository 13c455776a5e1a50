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


REAL_DATABASE_URL = "postgresql+asyncpg://demetra:n0t-the-default@db.internal:5432/demetra"


def test_production_refuses_the_local_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("API_KEY", raising=False)
    with pytest.raises(ValidationError, match="API_KEY must be set") as refused:
        CommonSettings(_env_file=None, environment="production", database_url=REAL_DATABASE_URL)
    assert "DATABASE_URL" not in str(refused.value)
    assert CommonSettings(
        _env_file=None, environment="production", api_key="s3cret", database_url=REAL_DATABASE_URL
    ).api_key.get_secret_value()


@pytest.mark.parametrize(
    "url",
    [
        None,  # the default
        "postgresql+asyncpg://demetra:demetra@127.0.0.1:5432/demetra",  # .env.example's
        "postgresql://app:demetra@db.internal:5432/other",  # the local password on another host
        "postgresql+asyncpg://app:%64emetra@db.internal/demetra",  # the same, percent-encoded
    ],
)
def test_production_refuses_the_local_database_password(
    monkeypatch: pytest.MonkeyPatch, url: str | None
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    given = {} if url is None else {"database_url": url}
    with pytest.raises(ValidationError, match="DATABASE_URL must carry a real password") as refused:
        CommonSettings(_env_file=None, environment="production", api_key="s3cret", **given)
    assert "API_KEY" not in str(refused.value)


def test_production_names_every_local_secret_it_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("API_KEY", "DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ValidationError, match=r"API_KEY .*; DATABASE_URL .* when ENVIRONMENT=production"):
        CommonSettings(_env_file=None, environment="production")


@pytest.mark.parametrize(
    "url",
    [REAL_DATABASE_URL, "postgresql+asyncpg://demetra@db.internal:5432/demetra"],  # no password: peer, TLS
)
def test_production_accepts_a_real_or_no_database_password(url: str) -> None:
    settings = CommonSettings(_env_file=None, environment="production", api_key="s3cret", database_url=url)
    assert settings.database_url == url


@pytest.mark.parametrize("environment", ["local", "test"])
def test_local_and_test_environments_keep_the_local_defaults(
    monkeypatch: pytest.MonkeyPatch, environment: str
) -> None:
    for var in ("API_KEY", "DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    settings = CommonSettings(_env_file=None, environment=environment)
    assert settings.database_url.startswith("postgresql+asyncpg://demetra:demetra@")


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
