"""The ingestor's FastStream wiring on the in-memory TestKafkaBroker: subscribers and publishers, no Kafka."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from faststream.kafka import TestKafkaBroker

from demetra_common.contracts import (
    ATTRIBUTION_WINDOW_DAYS,
    CampaignDaysFetched,
    Channel,
    SyncEvent,
    SyncEventType,
    SyncRequested,
    Trigger,
)
from demetra_common.topics import CAMPAIGN_FETCHED, PARTITIONS
from demetra_ingestor.app import build_ingestor
from demetra_ingestor.completions import TopicReader
from demetra_ingestor.publishing import KafkaSyncSink
from demetra_ingestor.settings import ALL, IngestorSettings
from demetra_mock import mock_campaign_days

CAMPAIGNS = 7


@pytest.fixture(autouse=True)
def layout_partitions(monkeypatch: pytest.MonkeyPatch) -> None:
    """The in-memory broker has no cluster to describe: campaign.fetched has the layout's partitions."""

    async def partitions(_: KafkaSyncSink) -> list[int]:
        return list(range(PARTITIONS[CAMPAIGN_FETCHED]))

    monkeypatch.setattr(KafkaSyncSink, "_campaign_partitions", partitions)


@pytest.fixture(autouse=True)
def nothing_completed_yet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nor a sync.fetched topic to read: no fetch completed before the test (records it writes count)."""

    async def caught_up(_: TopicReader, apply: object) -> None:
        return None

    monkeypatch.setattr(TopicReader, "catch_up", caught_up)


async def test_a_sync_requested_is_fetched_by_the_channel_it_names_and_published() -> None:
    settings = IngestorSettings(
        _env_file=None,
        channel=ALL,
        kafka_topic_prefix="unit.",
        mock_campaigns_per_channel=CAMPAIGNS,
        mock_page_size=3,
        redelivery_backoff_s=0,
    )
    parts = build_ingestor(settings)
    topics = settings.topics
    request = SyncRequested(sync_id="unit-1", trigger=Trigger.MANUAL, channels=[Channel.INSTAGRAM])
    as_of_day = request.as_of().date()
    date_from = as_of_day - dt.timedelta(days=ATTRIBUTION_WINDOW_DAYS[Channel.INSTAGRAM])
    expected = list(mock_campaign_days(Channel.INSTAGRAM, request.as_of(), CAMPAIGNS, date_from, as_of_day))
    rows = sum(len(c.days) for c in expected)
    async with TestKafkaBroker(parts.broker) as broker:
        await broker.publish(request, topics.sync_requested, key=request.sync_id.encode())
        published = {publisher.topic: publisher.mock for publisher in broker.publishers}
        campaign_calls = published[topics.campaign_fetched].call_args_list  # one call per record batch
        event_calls = published[topics.sync_events].call_args_list

    assert {subscriber.group_id for subscriber in parts.broker.subscribers if subscriber.group_id} == {
        f"unit.ingestor.{channel.value}" for channel in Channel
    }
    campaigns = [CampaignDaysFetched.model_validate(body) for call in campaign_calls for body in call.args[0]]
    events = [SyncEvent.model_validate(call.args[0]) for call in event_calls]
    assert Counter(c.channel for c in campaigns) == {Channel.INSTAGRAM: len(expected)}
    assert sorted((c.campaign_id, c.days) for c in campaigns) == sorted(
        (c.campaign_id, c.days) for c in expected
    )
    assert {c.sync_id for c in campaigns} == {e.sync_id for e in events} == {"unit-1"}
    assert [(e.channel, e.type, e.count, e.rows) for e in events] == [
        (Channel.INSTAGRAM, SyncEventType.FETCH_STARTED, None, None),
        (Channel.INSTAGRAM, SyncEventType.FETCH_PROGRESS, None, rows),
        (Channel.INSTAGRAM, SyncEventType.FETCH_COMPLETED, len(expected), rows),
    ]
    assert (events[0].date_from, events[0].date_to, events[1].through) == (date_from, as_of_day, as_of_day)
