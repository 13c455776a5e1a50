import datetime as dt

import numpy as np

from demetra_common.contracts import CampaignDay, Channel
from demetra_insights.core import ChannelPanel

DAY = dt.date(2026, 11, 1)


def day(offset: int, cost: float) -> CampaignDay:
    return CampaignDay(
        date=DAY + dt.timedelta(days=offset),
        impressions=1000,
        clicks=10,
        engagement=5,
        cost=cost,
        conversions=1.5,
        revenue=90.0,
    )


def test_campaign_days_become_matrices_with_gaps_where_a_campaign_did_not_run() -> None:
    panel = ChannelPanel.from_days(
        Channel.TIKTOK,
        DAY + dt.timedelta(days=3),
        {"tt_2": [day(1, 20.0), day(2, 30.0)], "tt_1": [day(0, 10.0), day(2, 12.0)]},
    )
    assert panel.campaign_ids == ("tt_1", "tt_2") and panel.first_day == DAY and panel.days == 3
    np.testing.assert_array_equal(panel.cost, [[10.0, np.nan, 12.0], [np.nan, 20.0, 30.0]])
    assert panel.ages().tolist() == [3, 2, 1]  # the as-of day is 3 days after the first
    assert panel.weekdays().tolist() == [6, 0, 1]  # 1 Nov 2026 is a Sunday


def test_the_channel_total_sums_the_campaigns_running_each_day() -> None:
    panel = ChannelPanel.from_days(
        Channel.TIKTOK, DAY + dt.timedelta(days=3), {"a": [day(0, 10.0), day(1, 5.0)], "b": [day(1, 7.0)]}
    )
    total = panel.channel_total()
    assert total.cost.tolist() == [[10.0, 12.0]] and total.conversions.tolist() == [[1.5, 3.0]]
