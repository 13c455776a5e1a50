"""Query API settings: CORS origins and rate limits from the environment."""

import pytest
from pydantic import ValidationError

from demetra_query_api.settings import QueryApiSettings


def test_cors_origins_accept_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "https://app.example.com, http://localhost:3000")
    settings = QueryApiSettings(_env_file=None)
    assert settings.cors_origins == ["https://app.example.com", "http://localhost:3000"]
    assert not settings.cors_allow_any_origin


def test_cors_origins_accept_json_and_the_wildcard(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", '["*"]')
    assert QueryApiSettings(_env_file=None).cors_allow_any_origin


def test_a_malformed_rate_limit_is_refused_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNC_RATE_LIMIT", "often")
    with pytest.raises(ValidationError, match="sync_rate_limit"):
        QueryApiSettings(_env_file=None)


def test_defaults() -> None:
    settings = QueryApiSettings(_env_file=None)
    assert settings.http_port == 8000
    assert settings.sync_rate_limit == "5/minute"
    assert settings.mock_campaigns_per_channel == 500
