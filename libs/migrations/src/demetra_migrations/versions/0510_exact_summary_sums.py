"""summary view: conversions, revenue and net return summed as numeric (exact, independent of row order)

``campaign_daily_metrics`` summed the daily rows' doubles as doubles, in whatever order the refresh read
them: two refreshes of the same rows could differ in the last bit, and so could two summaries of the same
data. Summed as numeric, a day's totals are exact; the readers cast them to double once. The view is
re-created from its declaration (``demetra_common.tables.CAMPAIGN_DAILY_METRICS``).

Revision ID: 0510
Revises: 0500
Create Date: 2026-12-01 15:40:00
"""

from collections.abc import Sequence

from alembic import op

from demetra_common.tables import CAMPAIGN_DAILY_METRICS, DAILY_CHANGE_MARKER

revision: str = "0510"
down_revision: str | None = "0500"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(CAMPAIGN_DAILY_METRICS.drop_sql)
    op.execute(CAMPAIGN_DAILY_METRICS.create_sql)
    op.execute(CAMPAIGN_DAILY_METRICS.unique_index_sql)


def downgrade() -> None:
    # Back to the view of revision 0200 (its doubles summed as doubles).
    op.execute(CAMPAIGN_DAILY_METRICS.drop_sql)
    op.execute(
        f"""
        CREATE MATERIALIZED VIEW {CAMPAIGN_DAILY_METRICS.name} AS
        SELECT channel, date, count(*) AS campaigns, sum(impressions) AS impressions, sum(clicks) AS clicks,
               sum(engagement) AS engagement, sum(cost) AS cost, sum(conversions) AS conversions,
               sum(revenue) AS revenue, sum(revenue) - sum(cost)::double precision AS net_return,
               max(fetched_at) AS as_of, now() AS refreshed_at, {DAILY_CHANGE_MARKER} AS change_marker
          FROM {CAMPAIGN_DAILY_METRICS.source}
         GROUP BY channel, date
        WITH DATA
        """
    )
    op.execute(CAMPAIGN_DAILY_METRICS.unique_index_sql)
