"""sync projection: syncs and sync_channels, kept by the loader with the events, backfilled from them

``syncs`` (one row per sync) and ``sync_channels`` (one per (sync, channel)) hold what a sync's events say
the clock aside (``demetra_common.sync_status.SyncFacts``); the loader refreshes a sync's rows in the
transaction that records its events, and the query API serves sync status and history from them instead of
regrouping ``events`` per request. This revision creates them from their declarations
(``demetra_common.tables``: the list's indexes too) and fills them from the events already recorded, with
the loader's own refresh (``demetra_common.sync_projection.backfill_syncs``), inside the migration's
transaction.

Revision ID: 0500
Revises: 0400
Create Date: 2026-12-01 14:00:00
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy.schema import CreateIndex, CreateTable

from demetra_common.sync_projection import backfill_syncs
from demetra_common.tables import Base, SyncChannelRow, SyncRow

revision: str = "0500"
down_revision: str | None = "0400"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (Base.metadata.tables[SyncRow.__tablename__], Base.metadata.tables[SyncChannelRow.__tablename__])


def upgrade() -> None:
    for table in TABLES:
        op.execute(CreateTable(table))
        for index in sorted(table.indexes, key=lambda index: str(index.name)):
            op.execute(CreateIndex(index))
    # The refresh is asyncpg code: run it on the migration's own connection (and transaction).
    driver = op.get_bind().connection.dbapi_connection
    assert driver is not None
    driver.run_async(backfill_syncs)


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table.name)
