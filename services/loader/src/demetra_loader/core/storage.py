"""What the core needs of PostgreSQL, as Protocols: ``repository.py`` holds the real ones (and every SQL
statement); the unit tests use an in-memory fake."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from demetra_loader.repository import CampaignValues, EventValues, Partition


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

    async def finish_batch(
        self, group_id: str, next_offsets: Mapping[Partition, int], events: Sequence[EventValues]
    ) -> None:
        """Record the batch's load events and move its offsets forward."""
        ...

    async def insert_events(self, rows: Sequence[EventValues]) -> int:
        """Insert event rows, ignoring event_ids already recorded; returns how many were new."""
        ...


class Database(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[Repository]:
        """One transaction: committed when the block ends normally, rolled back on any exception."""
        ...
