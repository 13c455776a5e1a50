"""Jobs the loader runs at start and then every so often, beside the load pipeline: retention of the daily
history, and publishing restatements a crash left unpublished."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from demetra_common.aio import cancel_all

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PeriodicJob:
    name: str
    interval_s: float
    run: Callable[[], Awaitable[object]]


class Maintenance:
    """Runs each job at ``start`` and then every ``interval_s``; a failure is logged and the job runs again
    at its next turn (nothing here may stop the loader)."""

    def __init__(self, jobs: list[PeriodicJob]) -> None:
        self._jobs = jobs
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._every(job), name=f"loader-{job.name}") for job in self._jobs]

    async def stop(self) -> None:
        await cancel_all(self._tasks)
        self._tasks = []

    @staticmethod
    async def _every(job: PeriodicJob) -> None:
        while True:
            try:
                await job.run()
            except Exception:
                logger.exception("%s failed; it runs again in %.0fs", job.name, job.interval_s)
            await asyncio.sleep(job.interval_s)
