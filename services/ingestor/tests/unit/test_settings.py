import pytest

from demetra_common.contracts import ALL_CHANNELS, Channel
from demetra_ingestor.settings import IngestorSettings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("CHANNEL", "HTTP_PORT", "MOCK_FAIL_CHANNELS", "MOCK_CAMPAIGNS_PER_CHANNEL"):
        monkeypatch.delenv(var, raising=False)


@pytest.mark.parametrize(
    ("channel", "port"), [("facebook", 8010), ("instagram", 8011), ("google_ads", 8012), ("tiktok", 8013)]
)
def test_each_channel_has_its_own_default_port(channel: str, port: int) -> None:
    settings = IngestorSettings(_env_file=None, channel=channel)
    assert settings.http_port == port
    assert settings.channels == (Channel(channel),)


def test_all_serves_every_channel_on_the_first_port() -> None:
    settings = IngestorSettings(_env_file=None)
    assert settings.channels == ALL_CHANNELS
    assert settings.http_port == 8010
    assert settings.mock_campaigns_per_channel == 500


def test_environment_sets_port_and_failing_channels(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHANNEL", "tiktok")
    monkeypatch.setenv("HTTP_PORT", "9999")
    monkeypatch.setenv("MOCK_FAIL_CHANNELS", "tiktok, facebook")
    settings = IngestorSettings(_env_file=None)
    assert settings.http_port == 9999
    assert settings.mock_fail_channels == [Channel.TIKTOK, Channel.FACEBOOK]


def test_unknown_channel_is_refused() -> None:
    with pytest.raises(ValueError, match="channel"):
        IngestorSettings(_env_file=None, channel="myspace")
