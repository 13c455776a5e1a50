"""campaign_daily_metrics: per (channel, date) totals behind the query API's metrics summary

The summary over a million campaigns would read every row per request; this materialised view holds the
additive totals per channel and reporting date (a few thousand rows), and the query API refreshes it
(CONCURRENTLY, so readers never wait) when campaigns change. ``change_marker`` records the table's
insert/update/delete counter at refresh time, so an unchanged table is not refreshed again.

The view's columns are declared once, next to the tables (``demetra_common.tables.CAMPAIGN_DAILY_METRICS``).

Revision ID: 0100
Revises: 0001
Create Date: 2026-11-25 15:00:00
"""

from collections.abc import Sequence

from alembic import op

from demetra_common.tables import CAMPAIGN_DAILY_METRICS

revision: str = "0100"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(CAMPAIGN_DAILY_METRICS.create_sql)
    # Unique: required by REFRESH ... CONCURRENTLY; also serves the summary's channel/date filters.
    op.execute(CAMPAIGN_DAILY_METRICS.unique_index_sql)


def downgrade() -> None:
    op.execute(CAMPAIGN_DAILY_METRICS.drop_sql)
