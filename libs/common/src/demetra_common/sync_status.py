"""Sync status: the one rule that derives a sync's status from its events (docs/architecture.md, "One sync,
counted once").

It works in two steps, both pure:
- ``sync_facts(sync_id, groups)``: from the aggregates of a sync's event rows (one ``EventGroup`` per
  (channel, type, attempt)) to what the events say regardless of the clock: per channel its counted attempt,
  counts, times and state as if no channel could time out. The loader stores these facts in the sync
  projection (``demetra_common.sync_projection``: tables ``syncs`` and ``sync_channels``) in the transaction
  that records the events;
- ``settle(facts, now=..., timeout=...)``: the status at ``now``: a channel not finished and silent for
  ``timeout`` has failed (timed out). The query API settles the stored facts of the syncs it serves.
``derive_sync`` is both at once. ``SyncOutcome`` is what the list's status filter needs of the clock: the
state now, the state once every unfinished channel timed out, and from when.

Everything here is a pure function of the rows and the clock, so rows that repeat (a re-sent fetch.started,
two scheduler replicas requesting the same sync) or arrive out of order change nothing: status comes from
what kinds of rows exist, the newest of each, and sums of load counts, never from how many rows there are.

Per channel, of one fetch attempt (every fetch of a channel is an attempt: its messages, events and load
rows carry its id; a fetch re-run after a crash or for a retry is a new attempt). The attempt counted is the
newest attempt that completed (fetch.completed), else the newest attempt to begin; the loads of other
attempts (a partial fetch before a crash, a fetch that failed) are not added to it, so a channel's loaded
never exceeds its fetched:
- ``failed``    the counted attempt ended in fetch.failed, or the channel made no progress (no new event) for
                ``timeout`` while not finished (``timed_out``);
- ``completed`` the counted attempt's fetch.completed says N and at least N campaigns of that attempt are
                loaded (loaded = inserted + updated + unchanged + rejected, summed over its load rows);
- ``loading``   fetch.completed with count N, fewer than N loaded;
- ``fetching``  fetch.started, fetch.progress or load rows seen, no fetch outcome yet;
- ``expired``   no attempt, the request was older than SYNC_REQUEST_MAX_AGE when read (fetch.expired);
- ``pending``   requested, nothing else seen.
Duplicate requests of a completed channel are not fetched (fetch.skipped): ``skipped`` counts them.
Per sync: ``completed`` when every channel is, ``failed`` when every channel failed, ``expired`` when every
channel expired, ``partial`` when the channels all finished otherwise (some failed or expired), ``running``
otherwise.

Progress by day (daily history): a channel's fetched range (``date_from``/``date_to`` of fetch.started), the
day it has published through (the newest fetch.progress), its daily rows fetched (fetch.completed's, else
the newest progress's), loaded and restated (sums of the load rows). They inform; completion stays the
campaign-message count above.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field

from demetra_common.contracts import ALL_CHANNELS, Channel, EventType, Trigger


class ChannelState(StrEnum):
    PENDING = "pending"
    FETCHING = "fetching"
    LOADING = "loading"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"


class SyncState(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    PARTIAL = "partial"
    FAILED = "failed"
    EXPIRED = "expired"


UNFINISHED = frozenset({ChannelState.PENDING, ChannelState.FETCHING, ChannelState.LOADING})
# The event types of one fetch attempt (the others: the request, a skipped or expired request, announcements).
ATTEMPT_TYPES = frozenset(
    {EventType.FETCH_STARTED, EventType.FETCH_PROGRESS, EventType.FETCH_COMPLETED, EventType.FETCH_FAILED}
    | {EventType.LOAD}
)


@dataclass(slots=True)  # not frozen: built hundreds of times per request, and frozen __init__ is slow
class EventGroup:
    """The events of one type for one (sync, channel): one row of the repository's aggregate."""

    type: str
    channel: str | None
    first_at: dt.datetime
    last_at: dt.datetime
    last_recorded_at: dt.datetime
    count: int | None = None  # fetch.completed: the largest count reported
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    last_error: str | None = None  # fetch.failed: the newest error
    rows: int | None = None  # load: the sum of rows; fetch.progress / fetch.completed: the largest reported
    restated: int = 0  # load: the sum
    date_from: str | None = None  # fetch.started: the earliest date_from (ISO text, as in the payload)
    date_to: str | None = None  # fetch.started: the latest date_to
    through: str | None = None  # fetch.progress: the latest through
    requests: Sequence[Mapping[str, Any]] = ()  # sync.requested: every payload
    attempt: str | None = None  # the fetch attempt the events belong to (None: none named)
    events: int = 1  # how many event rows

    @property
    def activity_at(self) -> dt.datetime:
        """The latest sign of life: when the newest event happened or was recorded, whichever is later."""
        return max(self.last_at, self.last_recorded_at)


# The three types below are also the API's response models (FastAPI documents dataclasses like models):
# one definition, which orjson serialises directly on the hot path.


@dataclass(frozen=True, slots=True)
class SyncCounts:
    """A sync's counts, summed over its channels."""

    requested: Annotated[
        int, Field(description="Channels requested (channels seen, when no request was recorded).")
    ]
    fetched: Annotated[
        int, Field(description="Campaigns the ingestors reported fetching (sum of fetch.completed).")
    ]
    loaded: Annotated[
        int, Field(description="Campaigns the loader processed: inserted + updated + unchanged + rejected.")
    ]
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    rows_fetched: Annotated[int, Field(description="Daily rows (campaign x day) the ingestors reported.")]
    rows_loaded: Annotated[int, Field(description="Daily rows the loader processed.")]
    restated: Annotated[int, Field(description="Past days' metrics the sync changed (metric.restated).")]


@dataclass(frozen=True, slots=True)
class ChannelStatus:
    """One channel's part of a sync."""

    channel: Channel
    status: Annotated[
        ChannelState,
        Field(
            description="pending (requested, not started), fetching, loading (fetched N, fewer loaded), "
            "completed (N loaded), failed (fetch.failed or no progress for SYNC_TIMEOUT) or expired (the "
            "request was older than SYNC_REQUEST_MAX_AGE when read, not fetched)."
        ),
    ]
    requested: Annotated[bool, Field(description="Whether the recorded request named this channel.")]
    fetched: Annotated[int | None, Field(description="Count reported by fetch.completed; null before that.")]
    loaded: Annotated[
        int, Field(description="Campaigns of the counted attempt the loader processed; never above fetched.")
    ]
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    date_from: Annotated[dt.date | None, Field(description="First day fetched (from fetch.started).")]
    date_to: Annotated[dt.date | None, Field(description="Last day fetched (from fetch.started).")]
    through: Annotated[
        dt.date | None, Field(description="Every day up to this one is published (newest fetch.progress).")
    ]
    rows_fetched: Annotated[
        int | None,
        Field(
            description="Daily rows published: fetch.completed's, else the newest progress's; null before."
        ),
    ]
    rows_loaded: Annotated[int, Field(description="Daily rows the loader processed (sum of load rows).")]
    restated: Annotated[int, Field(description="Past days' metrics this channel's load changed.")]
    started_at: Annotated[dt.datetime | None, Field(description="First fetch.started.")]
    finished_at: Annotated[dt.datetime | None, Field(description="When it completed or failed.")]
    last_event_at: Annotated[dt.datetime | None, Field(description="Newest event of this channel.")]
    timed_out: Annotated[bool, Field(description="Failed because nothing happened for SYNC_TIMEOUT seconds.")]
    error: Annotated[str | None, Field(description="Why it failed or expired.")]
    attempt: Annotated[
        str | None,
        Field(description="The fetch attempt counted: the newest that completed, else the newest to begin."),
    ] = None
    attempts: Annotated[int, Field(description="Fetch attempts seen (a re-run after a crash, a retry).")] = 0
    skipped: Annotated[
        int, Field(description="Duplicate requests not fetched because the channel had completed.")
    ] = 0


@dataclass(frozen=True, slots=True)
class SyncStatus:
    """A sync's status at some moment: its facts (``SyncFacts``) settled at that moment."""

    sync_id: Annotated[str, Field(examples=["sched-20261125T1400Z"])]
    status: Annotated[
        SyncState,
        Field(
            description="completed: every channel completed; failed: every channel failed; expired: every "
            "channel expired; partial: all finished, some failed or expired; running: otherwise."
        ),
    ]
    trigger: Annotated[
        Trigger | None, Field(description="From the recorded request; null if none was recorded.")
    ]
    request_seen: Annotated[bool, Field(description="Whether a sync.requested row exists for this sync.")]
    requested_at: dt.datetime | None
    date_from: Annotated[
        dt.date | None, Field(description="A backfill's first day, as requested; else null.")
    ]
    date_to: Annotated[dt.date | None, Field(description="A backfill's last day, as requested; else null.")]
    started_at: Annotated[
        dt.datetime, Field(description="Request time, or the first event if earlier/no request.")
    ]
    finished_at: Annotated[dt.datetime | None, Field(description="Null while running.")]
    duration_s: Annotated[
        float, Field(description="finished_at (or now, while running) - started_at, in seconds.")
    ]
    timed_out: Annotated[bool, Field(description="Some channel failed by timeout.")]
    counts: SyncCounts
    channels: list[ChannelStatus]


@dataclass(frozen=True, slots=True)
class _Request:
    channels: tuple[Channel, ...]
    trigger: Trigger | None
    requested_at: dt.datetime | None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    first: Mapping[str, Any] | None = None  # the earliest request's payload


def _parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _parse_date(value: Any) -> dt.date | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def _parse_requests(group: EventGroup | None) -> _Request | None:
    """Merge every recorded sync.requested of a sync: union of channels, earliest request and its trigger."""
    if group is None:
        return None
    channels: list[Channel] = []
    earliest: tuple[dt.datetime, Trigger | None, Mapping[str, Any]] | None = None
    for payload in group.requests:
        if not isinstance(payload, Mapping):
            continue
        raw_channels = payload.get("channels", [c.value for c in ALL_CHANNELS])
        for raw in raw_channels if isinstance(raw_channels, list) else []:
            if isinstance(raw, str) and raw in Channel._value2member_map_ and Channel(raw) not in channels:
                channels.append(Channel(raw))
        requested_at = _parse_time(payload.get("requested_at")) or group.first_at
        raw_trigger = payload.get("trigger")
        known = isinstance(raw_trigger, str) and raw_trigger in Trigger._value2member_map_
        trigger = Trigger(str(raw_trigger)) if known else None
        if earliest is None or requested_at < earliest[0]:
            earliest = (requested_at, trigger, payload)
    if earliest is None:
        return _Request(channels=tuple(channels), trigger=None, requested_at=group.first_at)
    requested_at, trigger, first = earliest
    return _Request(
        channels=tuple(channels),
        trigger=trigger,
        requested_at=requested_at,
        date_from=_parse_date(first.get("date_from")),
        date_to=_parse_date(first.get("date_to")),
        first=first,
    )


def counted_attempt(groups: Sequence[EventGroup]) -> str | None:
    """The attempt a channel's status counts: the newest that completed, else the newest to begin."""
    completed = [g for g in groups if g.type == EventType.FETCH_COMPLETED]
    if completed:
        return max(completed, key=lambda g: g.last_at).attempt
    began: dict[str | None, dt.datetime] = {}
    for group in groups:
        if group.type in ATTEMPT_TYPES:
            began[group.attempt] = min(began.get(group.attempt, group.first_at), group.first_at)
    return max(began, key=lambda attempt: began[attempt], default=None)


def _channel_facts(channel: Channel, all_groups: Sequence[EventGroup], *, requested: bool) -> ChannelStatus:
    """What a channel's events say, the clock aside (an unfinished channel is never timed out here)."""
    attempt = counted_attempt(all_groups)
    groups = {g.type: g for g in all_groups if g.type not in ATTEMPT_TYPES or g.attempt == attempt}
    attempts = len({g.attempt for g in all_groups if g.type == EventType.FETCH_STARTED})
    started = groups.get(EventType.FETCH_STARTED)
    progress = groups.get(EventType.FETCH_PROGRESS)
    completed = groups.get(EventType.FETCH_COMPLETED)
    failed = groups.get(EventType.FETCH_FAILED)
    load = groups.get(EventType.LOAD)
    expired = groups.get(EventType.FETCH_EXPIRED)
    skipped = groups.get(EventType.FETCH_SKIPPED)
    inserted, updated, unchanged, rejected = (
        (load.inserted, load.updated, load.unchanged, load.rejected) if load else (0, 0, 0, 0)
    )
    loaded = inserted + updated + unchanged + rejected
    last_event_at = max((group.activity_at for group in all_groups), default=None)
    fetched = completed.count if completed and completed.count is not None else None
    rows_fetched = next((g.rows for g in (completed, progress) if g and g.rows is not None), None)

    error: str | None = None
    finished_at: dt.datetime | None = None
    if failed and (completed is None or failed.last_at >= completed.last_at):
        status, error, finished_at = ChannelState.FAILED, failed.last_error or "fetch failed", failed.last_at
    elif completed:
        if loaded >= (fetched or 0):
            status = ChannelState.COMPLETED
            finished_at = max(completed.last_at, load.last_at) if load else completed.last_at
        else:
            status = ChannelState.LOADING
    elif started or progress or load:
        status = ChannelState.FETCHING
    elif expired:
        status, finished_at = ChannelState.EXPIRED, expired.first_at
        error = "expired: the request was older than SYNC_REQUEST_MAX_AGE when read; not fetched"
    else:
        status = ChannelState.PENDING
    return ChannelStatus(
        channel=channel,
        status=status,
        requested=requested,
        fetched=fetched,
        loaded=loaded,
        inserted=inserted,
        updated=updated,
        unchanged=unchanged,
        rejected=rejected,
        date_from=_parse_date(started.date_from) if started else None,
        date_to=_parse_date(started.date_to) if started else None,
        through=_parse_date(progress.through) if progress else None,
        rows_fetched=rows_fetched,
        rows_loaded=(load.rows or 0) if load else 0,
        restated=load.restated if load else 0,
        started_at=started.first_at if started else None,
        finished_at=finished_at,
        last_event_at=last_event_at,
        timed_out=False,
        error=error,
        attempt=attempt,
        attempts=attempts,
        skipped=skipped.events if skipped else 0,
    )


def _quiet_since(channel: ChannelStatus, idle_since: dt.datetime) -> dt.datetime:
    """From when an unfinished channel counts as silent: its newest event, else the request's."""
    return channel.last_event_at or idle_since


def _settle_channel(
    channel: ChannelStatus, *, idle_since: dt.datetime, now: dt.datetime, timeout: dt.timedelta
) -> ChannelStatus:
    """The channel at ``now``: failed (timed out) when unfinished and silent for longer than ``timeout``."""
    if channel.status not in UNFINISHED:
        return channel
    quiet_since = _quiet_since(channel, idle_since)
    if now - quiet_since <= timeout:
        return channel
    return replace(
        channel,
        status=ChannelState.FAILED,
        timed_out=True,
        finished_at=quiet_since + timeout,
        error=f"timeout: no progress for {timeout.total_seconds():g} s while {channel.status.value}",
    )


def _sync_state(statuses: Iterable[ChannelState]) -> SyncState:
    states = list(statuses)
    if not states or any(state in UNFINISHED for state in states):
        return SyncState.RUNNING
    if all(state is ChannelState.COMPLETED for state in states):
        return SyncState.COMPLETED
    if all(state is ChannelState.FAILED for state in states):
        return SyncState.FAILED
    if all(state is ChannelState.EXPIRED for state in states):
        return SyncState.EXPIRED
    return SyncState.PARTIAL


@dataclass(frozen=True, slots=True)
class SyncFacts:
    """What a sync's events say, the clock aside: the sync projection stores exactly this."""

    sync_id: str
    trigger: Trigger | None
    request_seen: bool
    requested_at: dt.datetime | None
    date_from: dt.date | None
    date_to: dt.date | None
    started_at: dt.datetime  # the request time, or the first event if earlier or no request
    idle_since: dt.datetime  # the request's newest sign of life (else the first event): silence from it
    requested: int  # channels requested (channels seen, when no request was recorded)
    channels: Sequence[ChannelStatus]  # never timed out
    request: Mapping[str, Any] | None = None  # the earliest recorded request's payload


@dataclass(frozen=True, slots=True)
class SyncOutcome:
    """The sync's state as a function of the clock, for a status filter in SQL: ``state`` until ``idle_at``
    + timeout, ``timed_out_state`` after it. ``idle_at`` is None once nothing can time out (finished)."""

    state: SyncState
    timed_out_state: SyncState
    idle_at: dt.datetime | None

    def at(self, now: dt.datetime, timeout: dt.timedelta) -> SyncState:
        """The state ``settle`` derives at ``now`` (the SQL filter is this, on the stored columns)."""
        if self.idle_at is not None and self.idle_at < now - timeout:
            return self.timed_out_state
        return self.state


def outcome(facts: SyncFacts) -> SyncOutcome:
    state = _sync_state(channel.status for channel in facts.channels)
    if state is not SyncState.RUNNING:
        return SyncOutcome(state, state, None)
    if not facts.channels:  # a request naming no channel this API knows times out like a silent channel
        return SyncOutcome(state, SyncState.FAILED, facts.idle_since)
    unfinished = [c for c in facts.channels if c.status in UNFINISHED]
    timed_out = _sync_state(
        ChannelState.FAILED if c.status in UNFINISHED else c.status for c in facts.channels
    )
    return SyncOutcome(state, timed_out, max(_quiet_since(c, facts.idle_since) for c in unfinished))


def finished_status(facts: SyncFacts) -> SyncStatus | None:
    """A finished sync's status, the same at every moment (no channel is left to time out), else None."""
    if outcome(facts).idle_at is not None:
        return None
    return settle(facts, now=facts.started_at, timeout=dt.timedelta(0))


def sync_facts(sync_id: str, groups: Iterable[EventGroup]) -> SyncFacts:
    """The facts of one sync from the aggregates of its event rows (at least one)."""
    by_channel: dict[Channel, list[EventGroup]] = {}
    request_group: EventGroup | None = None
    first_at: dt.datetime | None = None
    for group in groups:
        first_at = group.first_at if first_at is None else min(first_at, group.first_at)
        if group.type == EventType.SYNC_REQUESTED:
            request_group = group
        elif group.channel in Channel._value2member_map_:
            by_channel.setdefault(Channel(str(group.channel)), []).append(group)
    if first_at is None:
        raise ValueError(f"sync {sync_id} has no events")

    request = _parse_requests(request_group)
    requested = request.channels if request else ()
    channels = sorted(set(requested) | set(by_channel), key=ALL_CHANNELS.index)
    return SyncFacts(
        sync_id=sync_id,
        trigger=request.trigger if request else None,
        request_seen=request is not None,
        requested_at=request.requested_at if request else None,
        date_from=request.date_from if request else None,
        date_to=request.date_to if request else None,
        started_at=min(request.requested_at, first_at) if request and request.requested_at else first_at,
        idle_since=request_group.activity_at if request_group else first_at,
        requested=len(requested) if request else len(channels),
        channels=[
            _channel_facts(channel, by_channel.get(channel, []), requested=channel in requested)
            for channel in channels
        ],
        request=request.first if request else None,
    )


def settle(facts: SyncFacts, *, now: dt.datetime, timeout: dt.timedelta) -> SyncStatus:
    """The sync's status at ``now``: its facts, with every channel silent for ``timeout`` failed."""
    idle_since = facts.idle_since
    channel_statuses = [
        _settle_channel(channel, idle_since=idle_since, now=now, timeout=timeout)
        for channel in facts.channels
    ]
    state = _sync_state(status.status for status in channel_statuses)
    stalled = not channel_statuses and now - idle_since > timeout
    if stalled:
        state = SyncState.FAILED
    finished_at = (
        max((c.finished_at for c in channel_statuses if c.finished_at), default=idle_since + timeout)
        if state is not SyncState.RUNNING
        else None
    )
    duration = ((finished_at or now) - facts.started_at).total_seconds()
    return SyncStatus(
        sync_id=facts.sync_id,
        status=state,
        trigger=facts.trigger,
        request_seen=facts.request_seen,
        requested_at=facts.requested_at,
        date_from=facts.date_from,
        date_to=facts.date_to,
        started_at=facts.started_at,
        finished_at=finished_at,
        duration_s=max(0.0, duration),
        timed_out=stalled or any(c.timed_out for c in channel_statuses),
        counts=SyncCounts(
            requested=facts.requested,
            fetched=sum(c.fetched or 0 for c in channel_statuses),
            loaded=sum(c.loaded for c in channel_statuses),
            inserted=sum(c.inserted for c in channel_statuses),
            updated=sum(c.updated for c in channel_statuses),
            unchanged=sum(c.unchanged for c in channel_statuses),
            rejected=sum(c.rejected for c in channel_statuses),
            rows_fetched=sum(c.rows_fetched or 0 for c in channel_statuses),
            rows_loaded=sum(c.rows_loaded for c in channel_statuses),
            restated=sum(c.restated for c in channel_statuses),
        ),
        channels=channel_statuses,
    )


def derive_sync(
    sync_id: str, groups: Iterable[EventGroup], *, now: dt.datetime, timeout: dt.timedelta
) -> SyncStatus:
    """The status of one sync at ``now`` from the aggregates of its event rows (at least one)."""
    return settle(sync_facts(sync_id, groups), now=now, timeout=timeout)
