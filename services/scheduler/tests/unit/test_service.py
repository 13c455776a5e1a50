"""The scheduler core with a fake clock, publisher and state store: no Kafka."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable

import pytest

from demetra_common.contracts import Channel, LastSlot, SyncRequested, Trigger, deterministic_event_id
from demetra_scheduler.service import PausedState, RunState, SchedulerService

SLOT = dt.datetime(2026, 11, 25, 14, tzinfo=dt.UTC)


class FakeState:
    def __init__(self, *, fail: bool = False) -> None:
        self.paused: list[PausedState] = []
        self.slots: list[LastSlot] = []
        self.fail = fail

    async def save_paused(self, state: PausedState) -> None:
        if self.fail:
            raise ConnectionError("broker unreachable")
        self.paused.append(state)

    async def save_last_slot(self, state: LastSlot) -> None:
        self.slots.append(state)


class Published(list[SyncRequested]):
    async def __call__(self, request: SyncRequested) -> None:
        self.append(request)


Factory = Callable[..., SchedulerService]


@pytest.fixture
async def make() -> AsyncIterator[Factory]:
    made: list[SchedulerService] = []

    def factory(
        *, now: dt.datetime, published: Published, state: FakeState | None = None, **options: object
    ) -> SchedulerService:
        options = {"cron": "0 * * * *", "misfire_grace_s": 900, "channels": list(Channel), **options}
        service = SchedulerService(
            publish=published,
            state=state or FakeState(),
            clock=lambda: now,
            **options,  # type: ignore[arg-type]
        )
        made.append(service)
        return service

    yield factory
    for service in made:
        service.shutdown()


async def test_a_slot_missed_within_grace_is_requested_once_at_startup(make: Factory) -> None:
    published, state = Published(), FakeState()
    service = make(now=SLOT + dt.timedelta(minutes=5), published=published, state=state)
    await service.start()

    [request] = published
    assert request.sync_id == "sched-20261125T1400Z"
    assert request.event_id == deterministic_event_id("sync.requested", "sched-20261125T1400Z")
    assert (request.trigger, request.slot, request.requested_at) == (Trigger.SCHEDULE, SLOT, SLOT)
    assert request.channels == list(Channel)
    assert state.slots == [LastSlot(slot=SLOT, sync_id="sched-20261125T1400Z")]


async def test_a_slot_missed_beyond_grace_is_not_requested(make: Factory) -> None:
    published = Published()
    await make(now=SLOT + dt.timedelta(minutes=16), published=published).start()
    assert published == []


async def test_a_slot_already_requested_is_not_requested_again(make: Factory) -> None:
    published = Published()
    service = make(now=SLOT + dt.timedelta(minutes=5), published=published)
    service.apply_last_slot(LastSlot(slot=SLOT, sync_id="sched-20261125T1400Z"))
    await service.start()
    assert published == []
    assert await service.request_scheduled(SLOT) is None


async def test_two_instances_on_the_same_slot_request_the_same_message(make: Factory) -> None:
    first, second = Published(), Published()
    await make(now=SLOT + dt.timedelta(seconds=1), published=first).start()
    await make(now=SLOT + dt.timedelta(seconds=2), published=second).start()
    assert first == second and len(first) == 1
    assert first[0].model_dump_json() == second[0].model_dump_json()


async def test_a_paused_scheduler_requests_nothing_and_has_no_next_run(make: Factory) -> None:
    published = Published()
    service = make(now=SLOT + dt.timedelta(minutes=1), published=published)
    service.apply_paused(PausedState(paused=True, changed_at=SLOT))
    await service.start()

    status = service.status()
    assert status.state is RunState.PAUSED
    assert status.next_run_time is None and status.jobs[0].next_run_time is None
    assert published == []
    assert await service.request_scheduled(SLOT) is None


async def test_stop_and_start_are_stored_before_they_take_effect(make: Factory) -> None:
    state = FakeState()
    service = make(now=SLOT + dt.timedelta(hours=1, minutes=30), published=Published(), state=state)
    await service.start()
    assert service.status().next_run_time is not None

    assert (await service.pause()).state is RunState.PAUSED
    assert [s.paused for s in state.paused] == [True]
    assert service.status().next_run_time is None

    await service.pause()  # already paused: nothing new to store
    assert len(state.paused) == 1

    resumed = await service.resume()
    assert resumed.state is RunState.RUNNING and resumed.next_run_time is not None
    assert [s.paused for s in state.paused] == [True, False]


async def test_a_stop_that_cannot_be_stored_does_not_pause(make: Factory) -> None:
    service = make(now=SLOT + dt.timedelta(minutes=30), published=Published(), state=FakeState(fail=True))
    await service.start()
    with pytest.raises(ConnectionError):
        await service.pause()
    assert service.status().state is RunState.RUNNING


async def test_a_pause_from_another_replica_pauses_this_one(make: Factory) -> None:
    service = make(now=SLOT + dt.timedelta(minutes=30), published=Published())
    await service.start()
    service.apply_paused(PausedState(paused=True, changed_at=SLOT))
    assert service.status().next_run_time is None
    service.apply_paused(PausedState(paused=False, changed_at=SLOT))
    assert service.status().next_run_time is not None


async def test_sync_now_requests_a_manual_sync_even_while_paused(make: Factory) -> None:
    published = Published()
    service = make(now=SLOT + dt.timedelta(minutes=30), published=published)
    service.apply_paused(PausedState(paused=True, changed_at=SLOT))
    await service.start()

    request = await service.sync_now([Channel.TIKTOK])
    assert request.trigger is Trigger.MANUAL and request.sync_id.startswith("manual-")
    assert request.channels == [Channel.TIKTOK]
    assert request.event_id == deterministic_event_id("sync.requested", request.sync_id)
    assert published == [request]
    assert [t.sync_id for t in service.status().last_triggers] == [request.sync_id]


async def test_status_lists_the_last_triggers_newest_first(make: Factory) -> None:
    published = Published()
    service = make(now=SLOT + dt.timedelta(minutes=1), published=published, history=2)
    await service.start()
    first = await service.sync_now()
    second = await service.sync_now()
    assert [t.sync_id for t in service.status().last_triggers] == [second.sync_id, first.sync_id]


async def test_seconds_in_the_cron_appear_in_the_sync_id(make: Factory) -> None:
    published = Published()
    await make(now=SLOT + dt.timedelta(seconds=7.5), published=published, cron="*/5 * * * * *").start()
    assert [r.sync_id for r in published] == ["sched-20261125T140005Z"]
