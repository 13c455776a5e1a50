import datetime as dt

import pytest

from demetra_common.contracts import ALL_CHANNELS, Channel
from demetra_mock import active_window, mock_campaigns, mock_slot

T0 = dt.datetime(2026, 11, 25, 14, 0, tzinfo=dt.UTC)


def by_id(channel: Channel, as_of: dt.datetime, size: int = 300) -> dict[str, object]:
    return {campaign.campaign_id: campaign for campaign in mock_campaigns(channel, as_of, size)}


@pytest.mark.parametrize("channel", ALL_CHANNELS)
def test_same_slot_gives_identical_campaigns(channel: Channel) -> None:
    assert list(mock_campaigns(channel, T0, 200)) == list(
        mock_campaigns(channel, T0 + dt.timedelta(minutes=59), 200)
    )


def test_size_campaigns_with_unique_ids_per_channel() -> None:
    ids = [c.campaign_id for channel in ALL_CHANNELS for c in mock_campaigns(channel, T0, 500)]
    assert len(ids) == len(set(ids)) == 4 * 500


def test_running_campaigns_grow_and_new_ones_launch_over_time() -> None:
    now, later = by_id(Channel.FACEBOOK, T0), by_id(Channel.FACEBOOK, T0 + dt.timedelta(days=1))
    kept = now.keys() & later.keys()
    assert kept and later.keys() - now.keys(), "some campaigns continue and some are new"
    for campaign_id in kept:
        before, after = now[campaign_id], later[campaign_id]
        assert after.impressions >= before.impressions  # type: ignore[attr-defined]
        assert after.cost >= before.cost  # type: ignore[attr-defined]
        assert after.name == before.name  # type: ignore[attr-defined]
    assert any(later[c].impressions > now[c].impressions for c in kept)  # type: ignore[attr-defined]


@pytest.mark.parametrize("channel", ALL_CHANNELS)
def test_metrics_are_consistent(channel: Channel) -> None:
    for campaign in mock_campaigns(channel, T0, 400):
        assert 0 <= campaign.clicks <= campaign.impressions
        assert campaign.channel is channel
        assert campaign.date == T0.date()
        if campaign.cost > 0:
            revenue = (campaign.roi + 1) * campaign.cost
            assert revenue >= 0


def test_platforms_differ_the_way_real_ones_do() -> None:
    def ctr(channel: Channel) -> float:
        campaigns = list(mock_campaigns(channel, T0, 2000))
        return sum(c.clicks for c in campaigns) / sum(c.impressions for c in campaigns)

    def engagement(channel: Channel) -> float:
        campaigns = list(mock_campaigns(channel, T0, 2000))
        return sum(c.engagement for c in campaigns) / sum(c.impressions for c in campaigns)

    assert ctr(Channel.GOOGLE_ADS) > 2 * ctr(Channel.FACEBOOK)  # search intent clicks
    assert engagement(Channel.TIKTOK) > 10 * engagement(Channel.GOOGLE_ADS)


def test_paging_matches_the_whole_list() -> None:
    whole = list(mock_campaigns(Channel.TIKTOK, T0, 250))
    pages = [
        c
        for offset in range(0, 250, 100)
        for c in mock_campaigns(Channel.TIKTOK, T0, 250, offset=offset, limit=100)
    ]
    assert pages == whole


def test_a_hundred_thousand_campaigns_are_generated() -> None:
    window = active_window(T0, 100_000)
    assert len(window) == 100_000
    assert sum(1 for _ in mock_campaigns(Channel.INSTAGRAM, T0, 100_000, offset=99_990)) == 10


def test_slot_is_the_hour_in_utc() -> None:
    local = dt.datetime(2026, 11, 25, 16, 45, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert mock_slot(local) == T0
