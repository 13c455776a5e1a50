import datetime as dt
import random

import pytest

from demetra_common.contracts import Channel
from demetra_ingestor.sources.base import SourceUnavailable
from demetra_ingestor.sources.mock import MockSource, parse_anomaly
from demetra_mock import mock_campaign_days

AS_OF = dt.datetime(2026, 11, 25, 14, 37, tzinfo=dt.UTC)
DATE_FROM, DATE_TO = dt.date(2026, 10, 1), dt.date(2026, 11, 25)


async def all_pages(source: MockSource, as_of: dt.datetime = AS_OF) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        page = await source.fetch_page(as_of, DATE_FROM, DATE_TO, cursor)
        pages.append([c.campaign_id for c in page.campaigns])
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor


async def test_pages_cover_the_report_exactly_once() -> None:
    source = MockSource(Channel.TIKTOK, size=23, page_size=5)
    pages = await all_pages(source)
    expected = [c.campaign_id for c in mock_campaign_days(Channel.TIKTOK, AS_OF, 23, DATE_FROM, DATE_TO)]
    assert len(expected) > 23  # some ended and some launched within the range
    assert [len(p) for p in pages[:-1]] == [5] * (len(pages) - 1) and 0 < len(pages[-1]) <= 5
    assert [cid for page in pages for cid in page] == expected


async def test_pages_report_the_hour_slot_and_repeat_within_it() -> None:
    source = MockSource(Channel.FACEBOOK, size=10, page_size=10)
    first = await source.fetch_page(AS_OF, DATE_FROM, DATE_TO, None)
    again = await source.fetch_page(AS_OF.replace(minute=2), DATE_FROM, DATE_TO, None)
    assert first.reported_at == dt.datetime(2026, 11, 25, 14, tzinfo=dt.UTC)
    assert first == again
    assert {d.date for c in first.campaigns for d in c.days} <= {
        DATE_FROM + dt.timedelta(days=n) for n in range((DATE_TO - DATE_FROM).days + 1)
    }


async def test_a_range_before_any_campaign_ran_is_one_empty_page() -> None:
    source = MockSource(Channel.FACEBOOK, size=10, page_size=10)
    page = await source.fetch_page(AS_OF, dt.date(2026, 11, 26), dt.date(2026, 11, 30), None)
    assert (list(page.campaigns), page.next_cursor) == ([], None)


async def test_always_fail_raises_a_retryable_error() -> None:
    with pytest.raises(SourceUnavailable, match="instagram"):
        await MockSource(Channel.INSTAGRAM, size=5, always_fail=True).fetch_page(
            AS_OF, DATE_FROM, DATE_TO, None
        )


async def test_error_rate_fails_some_requests() -> None:
    source = MockSource(Channel.GOOGLE_ADS, size=5, error_rate=0.5, rng=random.Random(7))
    outcomes = []
    for _ in range(40):
        try:
            await source.fetch_page(AS_OF, DATE_TO, DATE_TO, None)
            outcomes.append(True)
        except SourceUnavailable:
            outcomes.append(False)
    assert 5 < outcomes.count(False) < 35


async def test_a_named_anomaly_changes_exactly_its_campaigns_days() -> None:
    plain = await MockSource(Channel.TIKTOK, size=23, page_size=100).fetch_page(
        AS_OF, DATE_FROM, DATE_TO, None
    )
    row, target = next((n, c) for n, c in enumerate(plain.campaigns) if len(c.days) >= 10)
    start = target.days[5].date
    label = parse_anomaly(f"tracking_break:{target.campaign_id}:{start}:3")
    source = MockSource(Channel.TIKTOK, size=23, page_size=100, anomalies=[label])
    page = await source.fetch_page(AS_OF, DATE_FROM, DATE_TO, None)
    others = [c for n, c in enumerate(page.campaigns) if n != row]
    assert others == [c for n, c in enumerate(plain.campaigns) if n != row]
    broken = {d.date: d for d in page.campaigns[row].days}
    for day in target.days:
        inside = start <= day.date < start + dt.timedelta(days=3)
        assert (broken[day.date].conversions == 0) is inside or day.conversions == 0
        assert broken[day.date].cost == day.cost
    assert page == await source.fetch_page(AS_OF, DATE_FROM, DATE_TO, None)  # deterministic


async def test_the_anomaly_rate_injects_deterministically_and_zero_is_off() -> None:
    plain = await MockSource(Channel.FACEBOOK, size=50, page_size=100).fetch_page(
        AS_OF, DATE_FROM, DATE_TO, None
    )
    drawn = MockSource(Channel.FACEBOOK, size=50, page_size=100, anomaly_rate=0.5)
    first = await drawn.fetch_page(AS_OF, DATE_FROM, DATE_TO, None)
    assert first == await drawn.fetch_page(AS_OF, DATE_FROM, DATE_TO, None)
    changed = sum(a != b for a, b in zip(first.campaigns, plain.campaigns, strict=True))
    assert 0 < changed < len(plain.campaigns)


@pytest.mark.parametrize(
    "spec",
    [
        "tracking_break:tt_42:2026-11-20",
        "nope:tt_00000042:2026-11-20:3",
        "cpc_spike:fb_00000001:2026-11-20:3",
        "tracking_break:xx_00000042:2026-11-20:3",
        "tracking_break:tt_00000042:2026-11-20:0",
    ],
)
def test_a_malformed_anomaly_is_refused(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_anomaly(spec)
