"""cancel_all ends every background task it is given, and skips what never started."""

from __future__ import annotations

import asyncio

from demetra_common.aio import cancel_all


async def test_every_task_is_cancelled_and_awaited_and_none_is_skipped() -> None:
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    tasks = [asyncio.create_task(forever()) for _ in range(3)]
    await started.wait()
    await cancel_all([*tasks, None])
    assert all(task.cancelled() for task in tasks)


async def test_a_task_that_already_ended_is_fine() -> None:
    done = asyncio.create_task(asyncio.sleep(0))
    await done
    await cancel_all([done])
    assert done.done() and not done.cancelled()
