import pytest

from demetra_common.contracts import ALL_CHANNELS, Channel
from demetra_ingestor.settings import IngestorSettings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (
        "CHANNEL",
        "HTTP_PORT",
        "MOCK_FAIL_CHANNELS",
        "MOCK_CAMPAIGNS_PER_CHANNEL",
        "SYNC_LOOKBACK_DAYS",
    ):
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


def test_the_lookback_defaults_to_the_attribution_window_and_is_capped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = IngestorSettings(_env_file=None)
    assert (settings.sync_lookback_days, settings.sync_lookback_max_days) == (None, 28)
    monkeypatch.setenv("SYNC_LOOKBACK_DAYS", "7")
    monkeypatch.setenv("SYNC_LOOKBACK_MAX_DAYS", "14")
    settings = IngestorSettings(_env_file=None)
    assert (settings.sync_lookback_days, settings.sync_lookback_max_days) == (7, 14)
    with pytest.raises(ValueError, match="sync_lookback_days"):
        IngestorSettings(_env_file=None, sync_lookback_days=-1)
