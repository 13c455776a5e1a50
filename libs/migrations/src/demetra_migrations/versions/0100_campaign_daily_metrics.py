"""campaign_daily_metrics: per (channel, date) totals behind the query API's metrics summary

The summary over a million campaigns would read every row per request; this materialised view holds the
additive totals per channel and reporting date (a few thousand rows), and the query API refreshes it
(CONCURRENTLY, so readers never wait) when campaigns change. ``change_marker`` records the table's
insert/update/delete counter at refresh time, so an unchanged table is not refreshed again.

This file is history: it creates the view as it was at this revision (over ``campaigns``). Revision 0200
re-creates it over the daily history from its current declaration, ``demetra_common.tables.CAMPAIGN_DAILY_METRICS``.

Revision ID: 0100
Revises: 0001
Create Date: 2026-11-25 15:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0100"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE MATERIALIZED VIEW campaign_daily_metrics AS
        SELECT channel,
               date,
               count(*) AS campaigns,
               sum(impressions) AS impressions,
               sum(clicks) AS clicks,
               sum(engagement) AS engagement,
               sum(cost) AS cost,
               sum(conversion_rate * clicks) AS conversions,
               sum(roi * cost::double precision) AS net_return,
               max(fetched_at) AS as_of,
               now() AS refreshed_at,
               (SELECT coalesce(n_tup_ins + n_tup_upd + n_tup_del, 0)
                  FROM pg_stat_user_tables WHERE relid = 'campaigns'::regclass) AS change_marker
          FROM campaigns
         GROUP BY channel, date
        WITH DATA
        """
    )
    # Unique: required by REFRESH ... CONCURRENTLY; also serves the summary's channel/date filters.
    op.execute(
        "CREATE UNIQUE INDEX ux_campaign_daily_metrics_channel_date ON campaign_daily_metrics (channel, date)"
    )


def downgrade() -> None:
    op.execute("DROP MATERIALIZED VIEW IF EXISTS campaign_daily_metrics")
