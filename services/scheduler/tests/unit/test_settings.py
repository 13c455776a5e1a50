import pytest

from demetra_common.contracts import Channel
from demetra_scheduler.settings import SchedulerSettings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("SYNC_CRON", "HTTP_PORT", "CHANNELS", "SYNC_MISFIRE_GRACE_S"):
        monkeypatch.delenv(var, raising=False)


def test_defaults_request_every_channel_hourly_on_port_8001() -> None:
    settings = SchedulerSettings(_env_file=None)
    assert (settings.sync_cron, settings.http_port) == ("0 * * * *", 8001)
    assert settings.channels == list(Channel)


def test_environment_sets_cron_and_channels(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNC_CRON", "*/5 * * * * *")
    monkeypatch.setenv("CHANNELS", "tiktok,facebook")
    settings = SchedulerSettings(_env_file=None)
    assert settings.sync_cron == "*/5 * * * * *"
    assert settings.channels == [Channel.TIKTOK, Channel.FACEBOOK]


def test_an_invalid_cron_is_refused_at_startup() -> None:
    with pytest.raises(ValueError, match="cron expression"):
        SchedulerSettings(_env_file=None, sync_cron="every hour")
