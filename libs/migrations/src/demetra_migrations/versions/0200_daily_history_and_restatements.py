"""daily history (campaign_daily, monthly partitions), restatements, and the summary over the daily rows

``campaign_daily`` holds one row per (campaign_id, date), range-partitioned by month. This revision creates
the partitions from 13 months back to 3 months ahead of the day it runs; the loader creates any other month
a batch needs, and retention (HISTORY_RETENTION_DAYS) drops whole partitions.

``restatements`` records every past day's metric a newer fetch changed; it is the outbox of the
``metric.restated`` events.

The summary view ``campaign_daily_metrics`` is re-created over ``campaign_daily`` from its declaration
(``demetra_common.tables.CAMPAIGN_DAILY_METRICS``).

Revision ID: 0200
Revises: 0100
Create Date: 2026-12-01 08:00:00
"""

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from demetra_common.tables import CAMPAIGN_DAILY_METRICS, CHANNEL_CHECK, DAILY_PARTITIONS

revision: str = "0200"
down_revision: str | None = "0100"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONTHS_BACK, MONTHS_AHEAD = 13, 3


def _initial_months(today: dt.date) -> list[dt.date]:
    first = today.replace(day=1)
    for _ in range(MONTHS_BACK):
        first = (first - dt.timedelta(days=1)).replace(day=1)
    last = today.replace(day=1)
    for _ in range(MONTHS_AHEAD):
        last = DAILY_PARTITIONS.next_month(last)
    return DAILY_PARTITIONS.months(first, last)


def upgrade() -> None:
    op.create_table(
        "campaign_daily",
        sa.Column("campaign_id", sa.Text(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("impressions", sa.BigInteger(), nullable=False),
        sa.Column("clicks", sa.BigInteger(), nullable=False),
        sa.Column("engagement", sa.BigInteger(), nullable=False),
        sa.Column("cost", sa.Numeric(precision=14, scale=2, asdecimal=False), nullable=False),
        sa.Column("conversions", sa.Double(), nullable=False),
        sa.Column("revenue", sa.Double(), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sync_id", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(CHANNEL_CHECK, name=op.f("ck_campaign_daily_channel_known")),
        sa.CheckConstraint("clicks <= impressions", name=op.f("ck_campaign_daily_clicks_within_impressions")),
        sa.CheckConstraint(
            "impressions >= 0 AND clicks >= 0 AND engagement >= 0 AND cost >= 0 AND conversions >= 0 "
            "AND revenue >= 0",
            name=op.f("ck_campaign_daily_non_negative"),
        ),
        sa.PrimaryKeyConstraint("campaign_id", "date", name=op.f("pk_campaign_daily")),
        postgresql_partition_by="RANGE (date)",
    )
    op.create_index(op.f("ix_campaign_daily_channel_date"), "campaign_daily", ["channel", "date"])
    for month in _initial_months(dt.date.today()):
        op.execute(DAILY_PARTITIONS.create_sql(month))

    op.create_table(
        "restatements",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("event_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("campaign_id", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("metric", sa.Text(), nullable=False),
        sa.Column("old_value", sa.Double(), nullable=False),
        sa.Column("new_value", sa.Double(), nullable=False),
        sa.Column("sync_id", sa.Text(), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("previous_fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(CHANNEL_CHECK, name=op.f("ck_restatements_channel_known")),
        sa.CheckConstraint(
            "metric IN ('impressions', 'clicks', 'engagement', 'cost', 'conversions', 'revenue')",
            name=op.f("ck_restatements_metric_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_restatements")),
        sa.UniqueConstraint("event_id", name=op.f("uq_restatements_event_id")),
    )
    op.create_index(op.f("ix_restatements_campaign_id_date"), "restatements", ["campaign_id", "date"])
    op.create_index(op.f("ix_restatements_channel_id"), "restatements", ["channel", "id"])
    op.create_index(op.f("ix_restatements_date_id"), "restatements", ["date", "id"])
    op.create_index(
        "ix_restatements_unpublished",
        "restatements",
        ["id"],
        postgresql_where=sa.text("published_at IS NULL"),
    )

    op.execute("DROP MATERIALIZED VIEW IF EXISTS campaign_daily_metrics")
    op.execute(CAMPAIGN_DAILY_METRICS.create_sql)
    # Unique: required by REFRESH ... CONCURRENTLY; also serves the channel/date filters of the readers.
    op.execute(CAMPAIGN_DAILY_METRICS.unique_index_sql)


def downgrade() -> None:
    op.execute(CAMPAIGN_DAILY_METRICS.drop_sql)
    op.drop_table("restatements")
    op.drop_table("campaign_daily")  # its partitions go with it
    # Back to the view of revision 0100 (over campaigns).
    op.execute(
        """
        CREATE MATERIALIZED VIEW campaign_daily_metrics AS
        SELECT channel, date, count(*) AS campaigns, sum(impressions) AS impressions, sum(clicks) AS clicks,
               sum(engagement) AS engagement, sum(cost) AS cost, sum(conversion_rate * clicks) AS conversions,
               sum(roi * cost::double precision) AS net_return, max(fetched_at) AS as_of, now() AS refreshed_at,
               (SELECT coalesce(n_tup_ins + n_tup_upd + n_tup_del, 0)
                  FROM pg_stat_user_tables WHERE relid = 'campaigns'::regclass) AS change_marker
          FROM campaigns
         GROUP BY channel, date
        WITH DATA
        """
    )
    op.execute(
        "CREATE UNIQUE INDEX ux_campaign_daily_metrics_channel_date ON campaign_daily_metrics (channel, date)"
    )
