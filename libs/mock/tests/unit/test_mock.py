import datetime as dt
import statistics

import pytest

from demetra_common.contracts import ALL_CHANNELS, ATTRIBUTION_WINDOW_DAYS, Campaign, CampaignDay, Channel
from demetra_mock import (
    LIFETIME,
    CampaignDays,
    active_window,
    campaigns_running,
    maturity,
    mock_campaign_days,
    mock_campaigns,
    mock_slot,
)

T0 = dt.datetime(2026, 11, 25, 14, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def by_id(channel: Channel, as_of: dt.datetime, size: int = 300) -> dict[str, Campaign]:
    return {campaign.campaign_id: campaign for campaign in mock_campaigns(channel, as_of, size)}


def days_by_id(
    channel: Channel, as_of: dt.datetime, date_from: dt.date, date_to: dt.date, size: int = 100
) -> dict[str, dict[dt.date, CampaignDay]]:
    return {
        c.campaign_id: {day.date: day for day in c.days}
        for c in mock_campaign_days(channel, as_of, size, date_from, date_to)
    }


# --- the snapshot (mock_campaigns) ---


@pytest.mark.parametrize("channel", ALL_CHANNELS)
def test_same_slot_gives_identical_campaigns(channel: Channel) -> None:
    assert list(mock_campaigns(channel, T0, 200)) == list(
        mock_campaigns(channel, T0 + dt.timedelta(minutes=59), 200)
    )


def test_size_campaigns_with_unique_ids_per_channel() -> None:
    ids = [c.campaign_id for channel in ALL_CHANNELS for c in mock_campaigns(channel, T0, 500)]
    assert len(ids) == len(set(ids)) == 4 * 500


def test_running_campaigns_grow_and_new_ones_launch_over_time() -> None:
    now, later = by_id(Channel.FACEBOOK, T0), by_id(Channel.FACEBOOK, T0 + DAY)
    kept = now.keys() & later.keys()
    assert kept and later.keys() - now.keys(), "some campaigns continue and some are new"
    for campaign_id in kept:
        before, after = now[campaign_id], later[campaign_id]
        assert after.impressions >= before.impressions
        assert after.cost >= before.cost
        assert after.name == before.name
    assert any(later[c].impressions > now[c].impressions for c in kept)


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


@pytest.mark.parametrize("size", [1, 7, 500, 2000, 99_991])
@pytest.mark.parametrize("hour", [0, 5, 13])
def test_exactly_size_campaigns_run_at_any_moment(size: int, hour: int) -> None:
    assert len(active_window(T0.replace(hour=hour), size)) == size


def test_slot_is_the_hour_in_utc() -> None:
    local = dt.datetime(2026, 11, 25, 16, 45, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert mock_slot(local) == T0


@pytest.mark.parametrize("channel", ALL_CHANNELS)
@pytest.mark.parametrize("as_of", [T0, T0.replace(hour=0)])
def test_snapshot_totals_are_the_sums_of_the_campaigns_days(channel: Channel, as_of: dt.datetime) -> None:
    launched_by = (as_of - LIFETIME - DAY).date()
    days = {c.campaign_id: c.days for c in mock_campaign_days(channel, as_of, 50, launched_by, as_of.date())}
    for campaign in mock_campaigns(channel, as_of, 50):
        own = days[campaign.campaign_id]
        clicks = sum(d.clicks for d in own)
        cost = round(sum(d.cost for d in own), 2)
        revenue = sum(d.revenue for d in own)
        assert campaign.date == own[-1].date
        assert campaign.impressions == sum(d.impressions for d in own)
        assert campaign.clicks == clicks
        assert campaign.engagement == sum(d.engagement for d in own)
        assert campaign.cost == cost
        assert campaign.conversion_rate == pytest.approx(sum(d.conversions for d in own) / clicks, abs=5e-5)
        assert campaign.roi == pytest.approx((revenue - cost) / cost, abs=5e-5)
    # at midnight the new day has not started yet: every campaign's latest day is yesterday
    if as_of.hour == 0:
        assert {c.date for c in mock_campaigns(channel, as_of, 50)} == {as_of.date() - DAY}


# --- the daily report (mock_campaign_days) ---


def test_the_daily_report_is_deterministic() -> None:
    date_from, date_to = T0.date() - 20 * DAY, T0.date()
    first = list(mock_campaign_days(Channel.GOOGLE_ADS, T0, 80, date_from, date_to))
    again = list(
        mock_campaign_days(Channel.GOOGLE_ADS, T0 + dt.timedelta(minutes=30), 80, date_from, date_to)
    )
    assert first == again
    assert len(first) == len(campaigns_running(T0, 80, date_from, date_to))
    assert all(isinstance(c, CampaignDays) and c.days for c in first)


def test_paging_the_daily_report_matches_the_whole_report() -> None:
    args = (Channel.FACEBOOK, T0, 90, T0.date() - 40 * DAY, T0.date())
    whole = list(mock_campaign_days(*args))
    pages = [
        c for offset in range(0, len(whole), 17) for c in mock_campaign_days(*args, offset=offset, limit=17)
    ]
    assert pages == whole
    assert [c.campaign_id for c in whole] == sorted(c.campaign_id for c in whole)


def test_a_campaign_reports_only_the_days_it_ran_inside_the_range() -> None:
    size = 120
    date_from, date_to = T0.date() - 150 * DAY, T0.date() - 10 * DAY
    report = list(mock_campaign_days(Channel.INSTAGRAM, T0, size, date_from, date_to))
    lifetimes = []
    for campaign in report:
        dates = [day.date for day in campaign.days]
        assert dates == sorted(set(dates))
        assert date_from <= dates[0] and dates[-1] <= date_to
        assert (dates[-1] - dates[0]).days == len(dates) - 1  # no gaps while it runs
        if date_from < dates[0] and dates[-1] < date_to:
            lifetimes.append(len(dates))
    # a campaign runs LIFETIME: 60 days, spread over 60 or 61 calendar days
    assert lifetimes and set(lifetimes) <= {LIFETIME.days, LIFETIME.days + 1}
    # on any day about `size` campaigns ran (those launching or ending that day count too)
    on = [sum(1 for c in report for d in c.days if d.date == day) for day in (date_from + 30 * DAY, date_to)]
    assert all(size <= count <= size + size // LIFETIME.days + 1 for count in on)


def test_nothing_is_reported_after_as_of() -> None:
    at_midnight = T0.replace(hour=0)
    report = list(mock_campaign_days(Channel.TIKTOK, at_midnight, 30, T0.date() - DAY, T0.date() + DAY))
    assert {day.date for c in report for day in c.days} == {T0.date() - DAY}
    assert list(mock_campaign_days(Channel.TIKTOK, at_midnight, 30, T0.date(), T0.date() + DAY)) == []


def test_the_as_of_day_is_partial_and_grows_by_the_hour() -> None:
    day = T0.date()
    morning = days_by_id(Channel.FACEBOOK, T0.replace(hour=6), day, day)
    evening = days_by_id(Channel.FACEBOOK, T0.replace(hour=20), day, day)
    later_on = days_by_id(Channel.FACEBOOK, T0 + 3 * DAY, day, day)
    assert morning.keys() <= evening.keys() == later_on.keys()
    for campaign_id, days in morning.items():
        assert (
            days[day].impressions
            <= evening[campaign_id][day].impressions
            <= later_on[campaign_id][day].impressions
        )
    total = {
        name: sum(d[day].impressions for d in got.values())
        for name, got in (("morning", morning), ("evening", evening), ("final", later_on))
    }
    assert total["morning"] == pytest.approx(total["final"] * 6 / 24, rel=0.1)
    assert total["evening"] == pytest.approx(total["final"] * 20 / 24, rel=0.1)


@pytest.mark.parametrize("channel", ALL_CHANNELS)
def test_a_days_conversions_grow_until_the_attribution_window_and_then_stay(channel: Channel) -> None:
    window = ATTRIBUTION_WINDOW_DAYS[channel]
    day = T0.date() - 2 * DAY
    seen = [
        days_by_id(channel, dt.datetime.combine(day + age * DAY, dt.time(9), dt.UTC), day, day)
        for age in range(1, window + 4)
    ]
    for campaign_id in seen[0]:
        history = [report[campaign_id][day] for report in seen]
        conversions = [d.conversions for d in history]
        revenue = [d.revenue for d in history]
        assert conversions == sorted(conversions) and revenue == sorted(revenue)
        assert (
            len({(d.impressions, d.clicks, d.engagement, d.cost) for d in history}) == 1
        )  # delivery is final
        final = history[window - 1]  # age == window
        assert history[window:] == [final] * 3
    totals = [sum(report[c][day].conversions for c in report) for report in seen]
    assert totals[0] < totals[window - 1]
    assert totals[0] == pytest.approx(totals[window - 1] * maturity(channel, 1), rel=0.05)


def test_the_maturity_curve_rises_to_one_at_the_window() -> None:
    for channel in ALL_CHANNELS:
        window = ATTRIBUTION_WINDOW_DAYS[channel]
        curve = [maturity(channel, age) for age in range(window + 3)]
        assert 0 < curve[0] < curve[1] and curve[window - 1] < curve[window] == 1.0
        assert curve[window:] == [1.0] * 3
    assert maturity(Channel.TIKTOK, 1) > maturity(Channel.FACEBOOK, 1)  # a short window matures quickly


def test_within_one_utc_day_refetches_report_the_past_days_identically() -> None:
    date_from, date_to = T0.date() - 30 * DAY, T0.date() - DAY
    early = list(mock_campaign_days(Channel.FACEBOOK, T0.replace(hour=1), 60, date_from, date_to))
    late = list(mock_campaign_days(Channel.FACEBOOK, T0.replace(hour=23), 60, date_from, date_to))
    tomorrow = list(mock_campaign_days(Channel.FACEBOOK, T0 + DAY, 60, date_from, date_to))
    assert early == late
    assert early != tomorrow  # the next day restates the days still maturing
    old = [c.days[0] for c in early if c.days[0].date == date_from]
    assert old == [c.days[0] for c in tomorrow if c.days[0].date == date_from]  # 30 days old: final


@pytest.mark.parametrize("channel", ALL_CHANNELS)
def test_every_day_is_consistent(channel: Channel) -> None:
    for campaign in mock_campaign_days(channel, T0, 200, T0.date() - 10 * DAY, T0.date()):
        for day in campaign.days:
            assert 0 <= day.clicks <= day.impressions
            assert 0 <= day.conversions <= day.clicks
            assert day.cost >= 0 and day.revenue >= 0
            assert day.clicks > 0 or day.cost == day.conversions == 0


@pytest.mark.parametrize("channel", ALL_CHANNELS)
def test_weekday_seasonality_is_visible(channel: Channel) -> None:
    # Eight weeks of a steady catalogue; mean daily impressions per campaign on weekdays and weekends
    date_from, date_to = dt.date(2026, 9, 7), dt.date(2026, 11, 1)  # Monday .. Sunday
    per_weekday: dict[bool, list[float]] = {True: [], False: []}
    report = list(mock_campaign_days(channel, T0, 300, date_from, date_to))
    for offset in range((date_to - date_from).days + 1):
        day = date_from + offset * DAY
        volume = [d.impressions for c in report for d in c.days if d.date == day]
        per_weekday[day.weekday() >= 5].append(sum(volume) / len(volume))
    weekend, weekday = statistics.mean(per_weekday[True]), statistics.mean(per_weekday[False])
    if channel is Channel.GOOGLE_ADS:
        assert weekend < 0.9 * weekday  # search follows the working week
    else:
        assert weekend > 1.05 * weekday  # social feeds are busiest at weekends


def test_channels_and_campaigns_differ() -> None:
    day = T0.date() - 5 * DAY
    facebook = days_by_id(Channel.FACEBOOK, T0, day, day)
    instagram = days_by_id(Channel.INSTAGRAM, T0, day, day)
    assert not facebook.keys() & instagram.keys()
    assert len({d[day].impressions for d in facebook.values()}) > 0.9 * len(facebook)
