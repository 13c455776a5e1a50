"""What the core needs of PostgreSQL, as Protocols: ``repository.py`` holds the real ones (and every SQL
statement); the unit tests use an in-memory fake."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from demetra_loader.repository import (
    CampaignValues,
    CompletedLoad,
    DaysWritten,
    EventValues,
    MessageDays,
    Partition,
    RestatementValues,
    StoredRestatement,
)


class Repository(Protocol):
    """The loader's statements, inside one transaction. Every campaign write returns what changed:
    campaign_id -> True if inserted, False if updated (a row not newer than the stored one is absent)."""

    async def lock_offsets(self, group_id: str, partitions: Sequence[Partition]) -> dict[Partition, int]:
        """Next offset to apply per (topic, partition), locked until commit."""
        ...

    async def write_campaigns(self, rows: Sequence[CampaignValues]) -> dict[str, bool]:
        """The fast write. Raises ``RejectedByDatabase`` if any row is refused, and leaves the transaction
        unusable; the rows must have distinct campaign_ids."""
        ...

    async def upsert_campaigns(self, rows: Sequence[CampaignValues]) -> dict[str, bool]:
        """The write that isolates refusals: raises ``RejectedByDatabase`` if any row is refused, having
        written none of them, and the transaction stays usable."""
        ...

    async def upsert_days(self, days: Sequence[MessageDays]) -> dict[int, DaysWritten]:
        """Upsert the daily rows of these records (distinct (campaign_id, date)) under the version guard;
        per record index with a day stored already, what happened to those days. Raises
        ``RejectedByDatabase`` if any is refused."""
        ...

    async def known_campaigns(self, campaign_ids: Sequence[str]) -> set[str]:
        """Which of these have a campaigns row (one without has no daily rows either)."""
        ...

    async def copy_days(self, days: Sequence[MessageDays]) -> None:
        """The fast write of days known to be new (their messages' indices are not stored);
        ``RejectedByDatabase`` (transaction unusable) if any is refused, a day stored meanwhile included."""
        ...

    async def derive_campaigns(
        self,
        campaigns: Sequence[tuple[str, str, str]],
        days_within: Sequence[tuple[dt.date, dt.date]] | None = None,
    ) -> dict[str, bool]:
        """Re-derive the campaigns rows of these (campaign_id, name, sync_id) from their daily rows;
        ``days_within``: per campaign, (first, last) day that every stored day of it lies within."""
        ...

    async def insert_restatements(self, rows: Sequence[RestatementValues]) -> list[StoredRestatement]:
        """Insert restatements, ignoring event_ids recorded already; returns the new ones."""
        ...

    def savepoint(self) -> AbstractAsyncContextManager[None]:
        """What the block writes is rolled back if it raises; the transaction stays usable."""
        ...

    async def unpublished_restatements(
        self, older_than: dt.timedelta, limit: int
    ) -> list[StoredRestatement]: ...

    async def mark_published(self, ids: Sequence[int]) -> None: ...

    async def partition_months(self) -> set[dt.date]:
        """The months campaign_daily has a partition for."""
        ...

    async def create_partitions(self, months: Iterable[dt.date]) -> None: ...

    async def drop_partitions(self, months: Iterable[dt.date]) -> None: ...

    async def finish_batch(
        self, group_id: str, next_offsets: Mapping[Partition, int], events: Sequence[EventValues]
    ) -> None:
        """Record the batch's load events and move its offsets forward."""
        ...

    async def lock_announcements(self) -> None:
        """Held until the transaction ends: one announcer at a time."""
        ...

    async def completed_unannounced(
        self, pairs: Sequence[tuple[str, str]], recent: dt.timedelta | None
    ) -> list[CompletedLoad]:
        """The complete, unannounced (sync, channel) pairs among ``pairs`` and, if ``recent``, among those
        with a fetch.completed recorded within it."""
        ...

    async def insert_events(self, rows: Sequence[EventValues]) -> int:
        """Insert event rows, ignoring event_ids already recorded; returns how many were new."""
        ...


class Database(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[Repository]:
        """One transaction: committed when the block ends normally, rolled back on any exception."""
        ...
