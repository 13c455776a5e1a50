import datetime as dt
import uuid

import pytest
from pydantic import ValidationError

from demetra_common.contracts import (
    ALL_CHANNELS,
    Campaign,
    CampaignFetched,
    Channel,
    SyncEvent,
    SyncEventType,
    SyncRequested,
    Trigger,
    deterministic_event_id,
)

NOW = dt.datetime(2026, 11, 25, 14, 0, tzinfo=dt.UTC)


def a_campaign(**overrides: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "campaign_id": "fb_000001",
        "channel": "facebook",
        "name": "Winter Sale",
        "date": "2026-11-25",
        "impressions": 10_000,
        "clicks": 150,
        "engagement": 420,
        "cost": 95.5,
        "conversion_rate": 0.04,
        "roi": 1.8,
    }
    fields.update(overrides)
    return fields


def a_fetch(**campaign_overrides: object) -> dict[str, object]:
    return {
        "sync_id": "sched-20261125T1400Z",
        "channel": "facebook",
        "fetched_at": NOW.isoformat(),
        "campaign": a_campaign(**campaign_overrides),
    }


@pytest.mark.parametrize(
    "message",
    [
        SyncRequested(sync_id="sched-20261125T1400Z", trigger=Trigger.SCHEDULE, slot=NOW),
        SyncRequested(sync_id="api-1", trigger=Trigger.API, channels=[Channel.TIKTOK]),
        CampaignFetched.model_validate(a_fetch()),
        SyncEvent(sync_id="api-1", channel=Channel.FACEBOOK, type=SyncEventType.FETCH_STARTED),
        SyncEvent(sync_id="api-1", channel=Channel.FACEBOOK, type=SyncEventType.FETCH_COMPLETED, count=3),
        SyncEvent(sync_id="api-1", channel=Channel.FACEBOOK, type=SyncEventType.FETCH_FAILED, error="503"),
    ],
    ids=lambda message: type(message).__name__,
)
def test_every_message_round_trips_through_json(message: SyncRequested | CampaignFetched | SyncEvent) -> None:
    assert type(message).model_validate_json(message.model_dump_json()) == message
    assert message.schema_version == 1


def test_sync_requested_defaults_to_all_four_channels() -> None:
    request = SyncRequested.model_validate({"sync_id": "manual-1", "trigger": "manual"})
    assert tuple(request.channels) == ALL_CHANNELS
    assert request.requested_at.tzinfo is not None


def test_a_hand_written_sync_requested_is_accepted() -> None:
    raw = '{"sync_id": "adhoc-42", "trigger": "manual", "channels": ["tiktok", "google_ads"]}'
    request = SyncRequested.model_validate_json(raw)
    assert request.channels == [Channel.TIKTOK, Channel.GOOGLE_ADS]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (a_fetch(impressions=-1), "impressions"),
        (a_fetch(clicks=-3), "clicks"),
        (a_fetch(cost=-0.01), "cost"),
        (a_fetch(conversion_rate=1.5), "conversion_rate"),
        (a_fetch(roi=-2.0), "roi"),
        (a_fetch(channel="myspace"), "channel"),
        (a_fetch(campaign_id=""), "campaign_id"),
        ({**a_fetch(), "channel": "linkedin"}, "channel"),
        ({**a_fetch(), "fetched_at": "2026-11-25T14:00:00"}, "fetched_at"),
        ({k: v for k, v in a_fetch().items() if k != "sync_id"}, "sync_id"),
        ({**a_fetch(), "schema_version": 2}, "schema_version"),
    ],
)
def test_invalid_campaign_fetched_is_rejected_naming_the_field(
    payload: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as error:
        CampaignFetched.model_validate(payload)
    assert field in str(error.value)


def test_clicks_above_impressions_is_rejected() -> None:
    with pytest.raises(ValidationError, match=r"clicks \(11\) must not exceed impressions \(10\)"):
        Campaign.model_validate(a_campaign(impressions=10, clicks=11))


def test_campaign_channel_must_match_message_channel() -> None:
    with pytest.raises(ValidationError, match="differs from the message channel"):
        CampaignFetched.model_validate({**a_fetch(), "channel": "tiktok"})


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"sync_id": "s", "trigger": "cron"}, "trigger"),
        ({"sync_id": "s", "trigger": "api", "channels": []}, "channels"),
        ({"sync_id": "s", "trigger": "api", "channels": ["facebook", "facebook"]}, "channels"),
        ({"sync_id": "has space", "trigger": "api"}, "sync_id"),
        ({"trigger": "api"}, "sync_id"),
    ],
)
def test_invalid_sync_requested_is_rejected_naming_the_field(payload: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as error:
        SyncRequested.model_validate(payload)
    assert field in str(error.value)


def test_sync_event_requires_count_on_completion_and_error_on_failure() -> None:
    with pytest.raises(ValidationError, match=r"fetch\.completed needs count"):
        SyncEvent(sync_id="s", channel=Channel.TIKTOK, type=SyncEventType.FETCH_COMPLETED)
    with pytest.raises(ValidationError, match=r"fetch\.failed needs error"):
        SyncEvent(sync_id="s", channel=Channel.TIKTOK, type=SyncEventType.FETCH_FAILED)


def test_deterministic_event_ids_repeat_for_the_same_parts_only() -> None:
    first = deterministic_event_id("sync-1", "facebook", "fb_1")
    assert first == deterministic_event_id("sync-1", "facebook", "fb_1")
    assert first != deterministic_event_id("sync-2", "facebook", "fb_1")
    assert isinstance(first, uuid.UUID)
