"""Opaque cursors: round trips exactly, and refuses anything it did not issue."""

import base64
import datetime as dt
from decimal import Decimal

import orjson
import pytest

from demetra_query_api.cursors import CampaignCursor, InvalidCursor, SortField, SortOrder, SyncCursor

ROUND_TRIPS = [
    (SortField.DATE, dt.date(2026, 3, 1)),
    (SortField.ROI, -0.123456789012345),
    (SortField.COST, Decimal("123456789012.34")),
    (SortField.CAMPAIGN_ID, "fb_0000_x:1"),
    (SortField.FETCHED_AT, dt.datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=dt.UTC)),
    (SortField.IMPRESSIONS, 2**62),
    (SortField.CLICKS, 0),
    (SortField.ENGAGEMENT, 17),
    (SortField.CONVERSION_RATE, 0.1 + 0.2),
    (SortField.CTR, 1 / 3),
    (SortField.CPC, -1.0),  # a rate without a denominator
    (SortField.CPM, 12345.678901234567),
    (SortField.NAME, "Black Friday | Ünïcødé 🎯 " * 10),  # a long name in UTF-8
]


def test_every_sort_round_trips() -> None:
    assert {sort for sort, _ in ROUND_TRIPS} == set(SortField)


@pytest.mark.parametrize(("sort", "key"), ROUND_TRIPS)
def test_cursor_round_trips_its_key_exactly(sort: SortField, key: object) -> None:
    cursor = CampaignCursor(sort, SortOrder.ASC, key, 42)  # type: ignore[arg-type]
    decoded = CampaignCursor.decode(cursor.encode(), sort, SortOrder.ASC)
    assert decoded == cursor
    assert "=" not in cursor.encode()


def test_cursor_for_another_sort_is_refused_with_a_hint() -> None:
    encoded = CampaignCursor(SortField.ROI, SortOrder.DESC, 1.5, 7).encode()
    with pytest.raises(InvalidCursor, match="sort=roi&order=desc"):
        CampaignCursor.decode(encoded, SortField.COST, SortOrder.DESC)
    with pytest.raises(InvalidCursor):
        CampaignCursor.decode(encoded, SortField.ROI, SortOrder.ASC)


def _forge(payload: object) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(payload)).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        "!!!!",
        _forge({"a": 1}),
        _forge([2, "roi", "asc", 1.0, 1]),
        _forge([1, "roi", "asc", "NaN", 1]),
        _forge([1, "roi", "asc", 1.0, -1]),
        _forge([1, "roi", "asc", 1.0, 2**63]),
        _forge([1, "roi", "asc", 1.0, True]),
        _forge([1, "roi", "asc", 1.0]),
        "A" * 600,
    ],
)
def test_anything_not_issued_is_an_invalid_cursor(text: str) -> None:
    with pytest.raises(InvalidCursor):
        CampaignCursor.decode(text, SortField.ROI, SortOrder.ASC)


@pytest.mark.parametrize(
    ("sort", "key"),
    [
        (SortField.DATE, "2026-13-01"),
        (SortField.FETCHED_AT, "2026-03-01T00:00:00"),  # no offset
        (SortField.COST, "1e400"),
        (SortField.COST, 12.5),
        (SortField.CAMPAIGN_ID, "a\x00b"),
        (SortField.ROI, "1.0"),
        (SortField.CLICKS, 1.5),
        (SortField.IMPRESSIONS, True),
        (SortField.CTR, None),
        (SortField.NAME, ""),
        (SortField.NAME, 3),
    ],
)
def test_keys_of_the_wrong_type_are_refused(sort: SortField, key: object) -> None:
    with pytest.raises(InvalidCursor):
        CampaignCursor.decode(_forge([1, sort.value, "asc", key, 1]), sort, SortOrder.ASC)


def test_sync_cursor_round_trips_and_is_not_a_campaign_cursor() -> None:
    cursor = SyncCursor(dt.datetime(2026, 11, 25, 14, tzinfo=dt.UTC), 99)
    assert SyncCursor.decode(cursor.encode()) == cursor
    with pytest.raises(InvalidCursor):
        CampaignCursor.decode(cursor.encode(), SortField.DATE, SortOrder.DESC)
    with pytest.raises(InvalidCursor):
        SyncCursor.decode(CampaignCursor(SortField.DATE, SortOrder.DESC, dt.date(2026, 1, 1), 1).encode())
