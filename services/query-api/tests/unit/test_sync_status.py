"""Sync status derivation from event aggregates: every channel and sync state, duplicates, timeouts; the
facts the projection stores, settled at read time, and the outcome its status filter reads."""

import dataclasses
import datetime as dt

import pytest

from demetra_common.contracts import Channel, EventType, Trigger
from demetra_common.sync_status import (
    ChannelState,
    ChannelStatus,
    EventGroup,
    SyncState,
    derive_sync,
    finished_status,
    outcome,
    settle,
    sync_facts,
)
from demetra_common.tables import SYNC_CHANNEL_STATUS_COLUMNS

T0 = dt.datetime(2026, 11, 25, 14, 0, tzinfo=dt.UTC)
TIMEOUT = dt.timedelta(minutes=10)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def requested(*channels: Channel, trigger: Trigger = Trigger.SCHEDULE, when: float = 0) -> EventGroup:
    payload = {
        "sync_id": "s",
        "trigger": trigger.value,
        "channels": [c.value for c in channels],
        "requested_at": at(when).isoformat(),
    }
    return EventGroup(EventType.SYNC_REQUESTED, None, at(when), at(when), at(when), requests=[payload])


def group(
    kind: EventType, channel: Channel, first: float, last: float | None = None, **fields: object
) -> EventGroup:
    last = first if last is None else last
    return EventGroup(kind, channel.value, at(first), at(last), at(last), **fields)  # type: ignore[arg-type]


def derive(*groups: EventGroup, now: float = 60):
    return derive_sync("s", groups, now=at(now), timeout=TIMEOUT)


FB, IG = Channel.FACEBOOK, Channel.INSTAGRAM


def test_requested_channels_without_events_are_pending_and_the_sync_running() -> None:
    status = derive(requested(FB, IG))
    assert status.status is SyncState.RUNNING
    assert [c.status for c in status.channels] == [ChannelState.PENDING, ChannelState.PENDING]
    assert status.trigger is Trigger.SCHEDULE and status.request_seen
    assert status.counts.requested == 2


def test_started_channel_is_fetching() -> None:
    status = derive(requested(FB), group(EventType.FETCH_STARTED, FB, 1))
    assert status.channels[0].status is ChannelState.FETCHING
    assert status.channels[0].started_at == at(1)


def test_completed_fetch_with_fewer_loaded_than_fetched_is_loading() -> None:
    status = derive(
        requested(FB),
        group(EventType.FETCH_STARTED, FB, 1),
        group(EventType.FETCH_COMPLETED, FB, 5, count=10),
        group(EventType.LOAD, FB, 6, 7, inserted=3, updated=2, unchanged=1, rejected=1),
    )
    channel = status.channels[0]
    assert channel.status is ChannelState.LOADING
    assert (channel.fetched, channel.loaded) == (10, 7)
    assert status.status is SyncState.RUNNING


def test_all_fetched_campaigns_loaded_completes_the_channel_and_the_sync() -> None:
    status = derive(
        requested(FB, IG),
        group(EventType.FETCH_STARTED, FB, 1),
        group(EventType.FETCH_COMPLETED, FB, 5, count=3),
        group(EventType.LOAD, FB, 6, 9, inserted=2, unchanged=1),
        group(EventType.FETCH_STARTED, IG, 1),
        group(EventType.FETCH_COMPLETED, IG, 4, count=0),
    )
    assert status.status is SyncState.COMPLETED
    assert [c.status for c in status.channels] == [ChannelState.COMPLETED, ChannelState.COMPLETED]
    assert status.finished_at == at(9)
    assert status.duration_s == 9.0
    assert status.counts.fetched == 3 and status.counts.loaded == 3 and status.counts.inserted == 2


def test_every_channel_failed_fails_the_sync_with_the_error() -> None:
    status = derive(
        requested(FB),
        group(EventType.FETCH_STARTED, FB, 1),
        group(EventType.FETCH_FAILED, FB, 2, last_error="HTTP 503 from the platform"),
    )
    assert status.status is SyncState.FAILED
    assert status.channels[0].error == "HTTP 503 from the platform"
    assert not status.timed_out


def test_some_failed_and_the_rest_completed_is_partial() -> None:
    status = derive(
        requested(FB, IG),
        group(EventType.FETCH_FAILED, FB, 2, last_error="boom"),
        group(EventType.FETCH_COMPLETED, IG, 3, count=1),
        group(EventType.LOAD, IG, 4, inserted=1),
    )
    assert status.status is SyncState.PARTIAL


def test_one_failed_while_another_still_loads_is_running() -> None:
    status = derive(
        requested(FB, IG),
        group(EventType.FETCH_FAILED, FB, 2, last_error="boom"),
        group(EventType.FETCH_COMPLETED, IG, 3, count=5),
    )
    assert status.status is SyncState.RUNNING
    assert status.finished_at is None


@pytest.mark.parametrize(
    ("groups", "stuck_in"),
    [
        ((), "pending"),
        ((group(EventType.FETCH_STARTED, FB, 1),), "fetching"),
        (
            (group(EventType.FETCH_COMPLETED, FB, 1, count=5), group(EventType.LOAD, FB, 2, inserted=1)),
            "loading",
        ),
    ],
)
def test_no_progress_for_the_timeout_fails_the_channel_as_timed_out(
    groups: tuple[EventGroup, ...], stuck_in: str
) -> None:
    last = max((g.last_at for g in groups), default=at(0))
    just_before = (last + TIMEOUT - T0).total_seconds() - 1
    assert derive(requested(FB), *groups, now=just_before).status is SyncState.RUNNING

    status = derive(requested(FB), *groups, now=just_before + 2)
    channel = status.channels[0]
    assert (status.status, channel.status, channel.timed_out) == (SyncState.FAILED, ChannelState.FAILED, True)
    assert status.timed_out
    assert stuck_in in (channel.error or "")
    assert channel.finished_at == last + TIMEOUT


def test_progress_is_measured_from_the_newest_event_so_a_slow_load_is_not_timed_out() -> None:
    status = derive(
        requested(FB),
        group(EventType.FETCH_COMPLETED, FB, 1, count=10),
        group(EventType.LOAD, FB, 2, 900, inserted=5),
        now=1000,
    )
    assert status.channels[0].status is ChannelState.LOADING


def test_timeout_of_one_channel_with_the_other_completed_is_partial() -> None:
    status = derive(
        requested(FB, IG),
        group(EventType.FETCH_COMPLETED, IG, 1, count=0),
        now=3600,
    )
    assert status.status is SyncState.PARTIAL
    assert [c.status for c in status.channels] == [ChannelState.FAILED, ChannelState.COMPLETED]


def test_a_retry_that_completed_after_a_failure_wins() -> None:
    status = derive(
        requested(FB),
        group(EventType.FETCH_FAILED, FB, 2, last_error="flaky"),
        group(EventType.FETCH_COMPLETED, FB, 5, count=1),
        group(EventType.LOAD, FB, 6, inserted=1),
    )
    assert status.status is SyncState.COMPLETED


def test_a_sync_known_only_from_fetch_and_load_rows_still_gets_a_status() -> None:
    status = derive(
        group(EventType.FETCH_STARTED, IG, 3),
        group(EventType.FETCH_COMPLETED, IG, 4, count=2),
        group(EventType.LOAD, IG, 5, unchanged=2),
    )
    assert status.status is SyncState.COMPLETED
    assert not status.request_seen and status.trigger is None and status.requested_at is None
    assert status.started_at == at(3)
    assert [c.channel for c in status.channels] == [IG]
    assert status.counts.requested == 1


def test_events_of_a_channel_that_was_not_requested_are_shown_but_marked() -> None:
    status = derive(requested(FB), group(EventType.FETCH_STARTED, IG, 1))
    assert [(c.channel, c.requested) for c in status.channels] == [(FB, True), (IG, False)]


def test_several_recorded_requests_merge_channels_and_keep_the_earliest() -> None:
    first = requested(FB, trigger=Trigger.SCHEDULE, when=0)
    second = requested(IG, trigger=Trigger.MANUAL, when=30)
    merged = EventGroup(
        EventType.SYNC_REQUESTED, None, at(0), at(30), at(30), requests=[*second.requests, *first.requests]
    )
    status = derive(merged)
    assert [c.channel for c in status.channels] == [FB, IG]
    assert status.trigger is Trigger.SCHEDULE and status.requested_at == at(0)


def test_malformed_request_payloads_do_not_break_status() -> None:
    bad = EventGroup(
        EventType.SYNC_REQUESTED,
        None,
        at(0),
        at(0),
        at(0),
        requests=[{"channels": ["facebook", "myspace", {"x": 1}], "trigger": ["?"], "requested_at": 5}],
    )
    status = derive(bad)
    assert [c.channel for c in status.channels] == [FB]
    assert status.trigger is None and status.requested_at == at(0)


def test_a_request_naming_no_known_channel_times_out_instead_of_running_forever() -> None:
    bad = EventGroup(
        EventType.SYNC_REQUESTED, None, at(0), at(0), at(0), requests=[{"channels": ["myspace"]}]
    )
    assert derive(bad, now=60).status is SyncState.RUNNING
    status = derive(bad, now=3600)
    assert status.status is SyncState.FAILED and status.timed_out


# ------------------------------------------------------------------------------- progress by day (history)


def backfill_request(*channels: Channel, date_from: str, date_to: str) -> EventGroup:
    request = requested(*channels)
    payload = {**request.requests[0], "date_from": date_from, "date_to": date_to}
    return EventGroup(EventType.SYNC_REQUESTED, None, at(0), at(0), at(0), requests=[payload])


def test_a_backfill_shows_its_range_and_progress_by_day_while_fetching() -> None:
    status = derive(
        backfill_request(FB, date_from="2026-09-01", date_to="2026-11-29"),
        group(EventType.FETCH_STARTED, FB, 1, date_from="2026-09-01", date_to="2026-11-29"),
        group(EventType.FETCH_PROGRESS, FB, 2, 5, through="2026-10-10", rows=8_000),
        group(EventType.LOAD, FB, 3, 6, inserted=40, rows=6_000),
    )
    channel = status.channels[0]
    assert channel.status is ChannelState.FETCHING
    assert (channel.date_from, channel.date_to) == (dt.date(2026, 9, 1), dt.date(2026, 11, 29))
    assert channel.through == dt.date(2026, 10, 10)
    assert (channel.rows_fetched, channel.rows_loaded, channel.restated) == (8_000, 6_000, 0)
    assert (status.date_from, status.date_to) == (dt.date(2026, 9, 1), dt.date(2026, 11, 29))


def test_progress_alone_is_fetching_and_a_sign_of_life() -> None:
    status = derive(
        requested(FB), group(EventType.FETCH_PROGRESS, FB, 590, through="2026-11-01", rows=10), now=900
    )
    assert status.channels[0].status is ChannelState.FETCHING  # 310 s after the progress: not timed out
    assert status.channels[0].started_at is None


def test_completed_rows_win_over_progress_and_completion_still_counts_messages() -> None:
    groups = [
        requested(FB, IG),
        group(EventType.FETCH_STARTED, FB, 1, date_from="2026-11-25", date_to="2026-11-25"),
        group(EventType.FETCH_PROGRESS, FB, 2, through="2026-11-25", rows=90),
        group(EventType.FETCH_COMPLETED, FB, 3, count=3, rows=100),
        group(EventType.FETCH_COMPLETED, IG, 3, count=2, rows=50),
        group(EventType.LOAD, IG, 4, inserted=2, rows=50, restated=7),
    ]
    # 100 rows fetched, none loaded yet, yet all 3 messages counted: the channel is complete (rows inform).
    status = derive(*groups, group(EventType.LOAD, FB, 4, updated=3, rows=0, restated=5))
    fb, ig = status.channels
    assert (fb.status, fb.rows_fetched, fb.rows_loaded, fb.restated) == (ChannelState.COMPLETED, 100, 0, 5)
    assert (ig.status, ig.rows_fetched, ig.rows_loaded, ig.restated) == (ChannelState.COMPLETED, 50, 50, 7)
    assert (status.counts.rows_fetched, status.counts.rows_loaded, status.counts.restated) == (150, 50, 12)
    # With all 100 rows loaded but only 2 of the 3 messages, it is still loading.
    status = derive(*groups, group(EventType.LOAD, FB, 4, updated=2, rows=100))
    assert status.channels[0].status is ChannelState.LOADING
    assert status.status is SyncState.RUNNING


def test_a_lookback_sync_has_no_requested_range_and_rows_stay_unknown_before_reports() -> None:
    status = derive(requested(FB), group(EventType.FETCH_STARTED, FB, 1))
    channel = status.channels[0]
    assert (status.date_from, status.date_to) == (None, None)
    assert (channel.date_from, channel.through, channel.rows_fetched, channel.rows_loaded) == (None,) * 3 + (
        0,
    )


def test_malformed_dates_in_payloads_are_ignored() -> None:
    status = derive(
        backfill_request(FB, date_from="yesterday", date_to="2026-13-01"),
        group(EventType.FETCH_STARTED, FB, 1, date_from="2026-02-30", date_to="soon"),
        group(EventType.FETCH_PROGRESS, FB, 2, through="later"),
    )
    channel = status.channels[0]
    assert (status.date_from, status.date_to, channel.date_from, channel.date_to, channel.through) == (
        None,
    ) * 5


def test_a_partial_attempt_before_a_crash_is_not_added_to_the_complete_one() -> None:
    status = derive(
        requested(FB),
        group(EventType.FETCH_STARTED, FB, 1, attempt="a1"),
        group(EventType.LOAD, FB, 2, 3, inserted=4, attempt="a1"),  # the crashed fetch's loads
        group(EventType.FETCH_STARTED, FB, 10, attempt="a2"),
        group(EventType.FETCH_COMPLETED, FB, 12, count=10, attempt="a2"),
        group(EventType.LOAD, FB, 11, 13, inserted=6, unchanged=4, attempt="a2"),
    )
    channel = status.channels[0]
    assert (channel.status, channel.attempt, channel.attempts) == (ChannelState.COMPLETED, "a2", 2)
    assert (channel.fetched, channel.loaded, channel.inserted, channel.unchanged) == (10, 10, 6, 4)
    assert (status.counts.fetched, status.counts.loaded) == (10, 10)


def test_while_a_rerun_is_loading_its_own_loads_are_counted_never_the_partial_ones() -> None:
    status = derive(
        requested(FB),
        group(EventType.FETCH_STARTED, FB, 1, attempt="a1"),
        group(EventType.LOAD, FB, 2, 3, inserted=8, attempt="a1"),
        group(EventType.FETCH_STARTED, FB, 10, attempt="a2"),
        group(EventType.FETCH_COMPLETED, FB, 12, count=10, attempt="a2"),
        group(EventType.LOAD, FB, 11, 13, unchanged=5, attempt="a2"),
    )
    channel = status.channels[0]
    assert (channel.status, channel.fetched, channel.loaded) == (ChannelState.LOADING, 10, 5)


def test_a_retry_after_a_failure_is_fetching_then_completed() -> None:
    failed = group(EventType.FETCH_FAILED, FB, 2, last_error="boom", attempt="a1")
    first = (requested(FB), group(EventType.FETCH_STARTED, FB, 1, attempt="a1"), failed)
    assert derive(*first).channels[0].status is ChannelState.FAILED
    retrying = (*first, group(EventType.FETCH_STARTED, FB, 20, attempt="a2"))
    assert derive(*retrying).channels[0].status is ChannelState.FETCHING
    done = derive(
        *retrying,
        group(EventType.FETCH_COMPLETED, FB, 22, count=3, attempt="a2"),
        group(EventType.LOAD, FB, 23, inserted=3, attempt="a2"),
    )
    assert (done.status, done.channels[0].loaded, done.channels[0].error) == (SyncState.COMPLETED, 3, None)


def test_skipped_duplicates_are_counted_and_change_nothing_else() -> None:
    status = derive(
        requested(FB),
        group(EventType.FETCH_STARTED, FB, 1, attempt="a1"),
        group(EventType.FETCH_COMPLETED, FB, 2, count=3, attempt="a1"),
        group(EventType.LOAD, FB, 3, inserted=3, attempt="a1"),
        group(EventType.FETCH_SKIPPED, FB, 5, 8, count=3, attempt="a1", events=2),
    )
    channel = status.channels[0]
    assert (channel.status, channel.loaded, channel.skipped) == (ChannelState.COMPLETED, 3, 2)


def test_an_expired_request_is_expired_not_pending_nor_timed_out() -> None:
    status = derive(
        requested(FB, IG), group(EventType.FETCH_EXPIRED, FB, 1), group(EventType.FETCH_EXPIRED, IG, 1)
    )
    assert [c.status for c in status.channels] == [ChannelState.EXPIRED, ChannelState.EXPIRED]
    assert status.status is SyncState.EXPIRED and not status.timed_out
    assert derive(requested(FB), group(EventType.FETCH_EXPIRED, FB, 1), now=3600).status is SyncState.EXPIRED


# ------------------------------------------------------------- the projection's facts, settled and filtered

STORIES = {
    "pending": (requested(FB, IG),),
    "one loading, one failed": (
        requested(FB, IG),
        group(EventType.FETCH_COMPLETED, FB, 5, count=3),
        group(EventType.FETCH_FAILED, IG, 8, last_error="boom"),
    ),
    "one fetching, one completed": (
        requested(FB, IG),
        group(EventType.FETCH_STARTED, FB, 1),
        group(EventType.FETCH_COMPLETED, IG, 2, count=0),
    ),
    "a slow channel and a quiet one": (
        requested(FB, IG),
        group(EventType.FETCH_STARTED, FB, 1),
        group(EventType.FETCH_STARTED, IG, 1, 400),
    ),
    "completed": (requested(FB), group(EventType.FETCH_COMPLETED, FB, 5, count=0)),
    "expired": (requested(FB), group(EventType.FETCH_EXPIRED, FB, 5)),
    "no known channel": (requested(),),
}


@pytest.mark.parametrize("story", list(STORIES))
def test_facts_settled_at_any_moment_are_the_status_derived_then(story: str) -> None:
    facts = sync_facts("s", STORIES[story])
    assert all(not channel.timed_out for channel in facts.channels)  # the facts know no clock
    for seconds in (60, 599, 601, 700, 1000, 1001, 1100, 10_000):
        assert settle(facts, now=at(seconds), timeout=TIMEOUT) == derive(*STORIES[story], now=seconds)


@pytest.mark.parametrize("story", list(STORIES))
def test_the_outcome_is_the_settled_state_at_every_moment(story: str) -> None:
    """What the list's status filter computes in SQL from the stored outcome is what settle derives."""
    facts = sync_facts("s", STORIES[story])
    result = outcome(facts)
    for seconds in range(0, 2000, 7):
        settled = settle(facts, now=at(seconds), timeout=TIMEOUT).status
        assert result.at(at(seconds), TIMEOUT) is settled, (story, seconds)


def test_the_projection_columns_are_the_channel_status_fields_in_order() -> None:
    assert tuple(field.name for field in dataclasses.fields(ChannelStatus)) == SYNC_CHANNEL_STATUS_COLUMNS


@pytest.mark.parametrize("story", list(STORIES))
def test_a_finished_sync_s_stored_status_is_its_status_at_every_moment(story: str) -> None:
    facts = sync_facts("s", STORIES[story])
    stored = finished_status(facts)
    settled = [settle(facts, now=at(seconds), timeout=TIMEOUT) for seconds in (60, 601, 1001, 10_000)]
    if stored is None:
        assert outcome(facts).state is SyncState.RUNNING
    else:
        assert settled == [stored] * len(settled)
