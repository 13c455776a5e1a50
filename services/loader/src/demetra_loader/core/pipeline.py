"""The load pipeline: checked batches written in order in the background, while the next ones are consumed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from demetra_common.aio import cancel_all
from demetra_loader.core.announcements import ChannelAnnouncer
from demetra_loader.core.batch import CheckedBatch
from demetra_loader.core.loading import BatchOutcome, CampaignLoader
from demetra_loader.core.restatements import RestatementOutbox

logger = logging.getLogger(__name__)

AfterCommit = Callable[[BatchOutcome], Awaitable[None]]


@dataclass(slots=True)
class _QueuedBatch:
    batch: CheckedBatch
    after_commit: AfterCommit


class LoadPipeline:
    """Writes checked batches in order in one background task, so PostgreSQL works on batch N while the
    consumer fetches and checks batch N+1. ``submit`` blocks while ``depth`` batches wait (backpressure).

    Each batch's restatements are published, then its ``after_commit`` (the Kafka offset commit) runs, then
    the (sync, channel) pairs it completed are announced (``announcer``), after its transaction committed,
    in order, in a second task, so that the writer goes on with the next batch meanwhile. Restatements go
    out before the announcement, so a consumer of channel.loaded finds the restated days already stored.
    """

    def __init__(
        self,
        loader: CampaignLoader,
        outbox: RestatementOutbox,
        *,
        depth: int = 1,
        announcer: ChannelAnnouncer | None = None,
    ) -> None:
        self._loader = loader
        self._outbox = outbox
        self._announcer = announcer
        self._queue: asyncio.Queue[_QueuedBatch] = asyncio.Queue(maxsize=depth)
        self._committed: asyncio.Queue[tuple[AfterCommit, BatchOutcome]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._accepting = False

    def start(self) -> None:
        self._accepting = True
        self._tasks = [
            asyncio.create_task(self._write_forever(), name="loader-writer"),
            asyncio.create_task(self._after_commit_forever(), name="loader-committer"),
        ]

    @property
    def healthy(self) -> bool:
        """Started, and neither task has ended (false before ``start`` and after ``stop``)."""
        return bool(self._tasks) and not any(task.done() for task in self._tasks)

    async def submit(self, batch: CheckedBatch, after_commit: AfterCommit) -> bool:
        """Queue a batch; False once shutting down (the batch is then neither written nor committed)."""
        if not self._accepting or not self.healthy:
            return False
        await self._queue.put(_QueuedBatch(batch, after_commit))
        return True

    async def stop(self, timeout: float) -> None:
        """Stop accepting, let queued batches commit for up to ``timeout`` seconds, then abandon the rest
        (their transactions roll back; Kafka redelivers them after restart)."""
        self._accepting = False
        if not self._tasks:
            return
        try:
            async with asyncio.timeout(timeout):
                await self._queue.join()
                await self._committed.join()
        except TimeoutError:
            logger.warning("abandoning %d uncommitted batch(es) at shutdown", self._queue.qsize() + 1)
        await cancel_all(self._tasks)
        self._tasks = []

    async def _write_forever(self) -> None:
        while True:
            queued = await self._queue.get()
            try:
                outcome = await self._loader.load(queued.batch)
                self._committed.put_nowait((queued.after_commit, outcome))
            except Exception:
                # load() retries every error itself; reaching here is a bug. Stop writing (nothing after
                # this batch is committed, so nothing is lost) and let /ready report it.
                logger.exception("the load pipeline stopped")
                self._accepting = False
                raise
            finally:
                self._queue.task_done()

    async def _after_commit_forever(self) -> None:
        while True:
            after_commit, outcome = await self._committed.get()
            try:
                if outcome.restatements:
                    await self._publish(outcome)
                await after_commit(outcome)
                if self._announcer is not None and outcome.loads:
                    await self._announcer.announce(outcome.loads)
            except Exception:
                # An announcement that failed here is made by the announcer's periodic pass.
                logger.exception("after-commit step failed (the batch itself is committed)")
            finally:
                self._committed.task_done()

    async def _publish(self, outcome: BatchOutcome) -> None:
        try:
            await self._outbox.publish(outcome.restatements)
        except Exception:
            # Committed, so recorded: the outbox's periodic pass publishes them.
            logger.exception(
                "publishing %d restatement(s) failed; they are published later", len(outcome.restatements)
            )
