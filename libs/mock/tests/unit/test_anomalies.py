import datetime as dt
import itertools
import math

import pytest

from demetra_common.contracts import ALL_CHANNELS, CampaignDay, Channel
from demetra_mock.anomalies import (
    BLOCK_DAYS,
    QUIET_DAYS,
    anomaly_kinds,
    anomaly_labels,
    campaign_anomalies,
    inject_anomalies,
)

START, END = dt.date(2026, 6, 1), dt.date(2026, 8, 29)


def days(first: dt.date = START, count: int = 90) -> list[CampaignDay]:
    return [
        CampaignDay(
            date=first + dt.timedelta(days=offset),
            impressions=20_000,
            clicks=200,
            engagement=900,
            cost=190.0,
            conversions=16.0,
            revenue=1000.0,
        )
        for offset in range(count)
    ]


def labelled(channel: Channel, kind: str, rate: float = 1.0):
    """The first campaign index (and its label) whose anomaly in the range is of ``kind``."""
    for index in range(2000):
        for label in campaign_anomalies(channel, index, START, END, rate):
            if label.kind == kind:
                return index, label
    raise AssertionError(f"no {kind} among 2000 campaigns")


@pytest.mark.parametrize("channel", ALL_CHANNELS)
def test_rate_zero_is_off(channel: Channel) -> None:
    original = days()
    assert inject_anomalies(channel, 7, original, 0.0) == original
    assert anomaly_labels(channel, range(500), START, END, 0.0) == []


def test_labels_are_deterministic_and_independent_of_the_fetched_window() -> None:
    first = anomaly_labels(Channel.TIKTOK, range(300), START, END, 0.3)
    assert first == anomaly_labels(Channel.TIKTOK, range(300), START, END, 0.3)
    index, label = labelled(Channel.TIKTOK, "spend_spike", 0.3)
    whole = inject_anomalies(Channel.TIKTOK, index, days(), 0.3)
    window = [d for d in days() if label.start - dt.timedelta(days=2) <= d.date <= label.end]
    assert inject_anomalies(Channel.TIKTOK, index, window, 0.3) == [
        d for d in whole if d in window or d.date in {w.date for w in window}
    ]


def test_only_the_labelled_days_change() -> None:
    for channel in ALL_CHANNELS:
        for index in range(40):
            labels = campaign_anomalies(channel, index, START, END, 0.5)
            changed = [
                a.date
                for a, b in zip(days(), inject_anomalies(channel, index, days(), 0.5), strict=True)
                if a != b
            ]
            assert changed == [d.date for d in days() if any(label.covers(d.date) for label in labels)]


def test_rate_counts_anomalies_per_block_and_they_never_overlap() -> None:
    labels = anomaly_labels(Channel.FACEBOOK, range(1000), dt.date(2026, 1, 1), dt.date(2026, 12, 31), 0.25)
    blocks = 1000 * math.ceil(365 / BLOCK_DAYS)
    assert 0.2 < len(labels) / blocks < 0.3
    per_campaign: dict[int, list] = {}
    for label in labels:
        per_campaign.setdefault(label.campaign_index, []).append(label)
    for found in per_campaign.values():
        found.sort(key=lambda label: label.start)
        for earlier, later in itertools.pairwise(found):
            assert (later.start - earlier.end).days > QUIET_DAYS


@pytest.mark.parametrize("channel", ALL_CHANNELS)
def test_every_kind_of_the_channel_occurs_with_a_realistic_size(channel: Channel) -> None:
    labels = anomaly_labels(channel, range(400), START, END, 1.0)
    assert {label.kind for label in labels} == set(anomaly_kinds(channel))
    for label in labels:
        if label.start > START and label.end < END:  # not clipped by the range
            assert 3 <= (label.end - label.start).days + 1 <= 8
        assert label.size == math.inf if label.kind == "tracking_break" else 1.4 <= label.size <= 4.0
    assert ("cpc_spike" in anomaly_kinds(channel)) == (channel is Channel.GOOGLE_ADS)


def test_tracking_break_zeroes_conversions_while_spend_goes_on() -> None:
    index, label = labelled(Channel.FACEBOOK, "tracking_break")
    for before, after in zip(days(), inject_anomalies(Channel.FACEBOOK, index, days(), 1.0), strict=True):
        if label.covers(before.date):
            assert after.conversions == after.revenue == 0 and after.cost == before.cost


def test_a_price_spike_holds_the_budget_and_buys_less() -> None:
    index, label = labelled(Channel.INSTAGRAM, "cpm_spike")
    day = next(a for a in inject_anomalies(Channel.INSTAGRAM, index, days(), 1.0) if label.covers(a.date))
    assert day.cost == 190.0
    assert day.cost / day.impressions == pytest.approx(190.0 / 20_000 * label.size, rel=0.01)


def test_a_cpa_spike_is_a_compound_of_small_moves() -> None:
    index, label = labelled(Channel.TIKTOK, "cpa_spike")
    day = next(a for a in inject_anomalies(Channel.TIKTOK, index, days(), 1.0) if label.covers(a.date))
    assert day.cost / day.conversions == pytest.approx(190.0 / 16.0 * label.size, rel=0.02)
    assert 1 < (day.cost / day.impressions) / (190.0 / 20_000) < 1.5  # CPM up, by less than 1.5x
    assert 1 < (200 / 20_000) / (day.clicks / day.impressions) < 1.5  # CTR down, by less than 1.5x


def test_a_ctr_drop_on_google_ads_lowers_spend_with_the_clicks() -> None:
    index, label = labelled(Channel.GOOGLE_ADS, "ctr_drop")
    day = next(a for a in inject_anomalies(Channel.GOOGLE_ADS, index, days(), 1.0) if label.covers(a.date))
    assert day.impressions == 20_000
    assert day.cost / day.clicks == pytest.approx(190.0 / 200, rel=0.02)
    assert day.clicks == pytest.approx(200 / label.size, abs=1)


def test_labels_name_the_mock_campaign_ids() -> None:
    (label, *_) = anomaly_labels(Channel.GOOGLE_ADS, [123], START, END, 1.0)
    assert label.campaign_id == "gads_00000123"
