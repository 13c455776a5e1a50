"""summary view: an index on (channel, as_of), so that each channel's freshness is one index probe

The summary read every row of ``campaign_daily_metrics`` on each request to find each channel's newest
``as_of`` (three quarters of the statement's time in PostgreSQL). The index is declared with the view
(``demetra_common.tables.CAMPAIGN_DAILY_METRICS.indexes``).

Revision ID: 0530
Revises: 0510
Create Date: 2026-12-01 19:30:00
"""

from collections.abc import Sequence

from alembic import op

from demetra_common.tables import CAMPAIGN_DAILY_METRICS

revision: str = "0530"
down_revision: str | None = "0510"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for statement in CAMPAIGN_DAILY_METRICS.index_sql:
        op.execute(statement)


def downgrade() -> None:
    for columns in CAMPAIGN_DAILY_METRICS.indexes:
        op.execute(f"DROP INDEX IF EXISTS {CAMPAIGN_DAILY_METRICS.index_name(columns)}")
