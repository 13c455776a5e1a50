"""insights: the insights service's alerts, one open per (channel, campaign, kind), with their outbox state

Revision ID: 0300
Revises: 0200
Create Date: 2026-12-01 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from demetra_common.tables import CHANNEL_CHECK

revision: str = "0300"
down_revision: str | None = "0200"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = [
    "spend_spike",
    "spend_drop",
    "spend_pacing",
    "cpm_spike",
    "cpc_spike",
    "ctr_drop",
    "conversion_rate_drop",
    "tracking_break",
    "cpa_spike",
    "roas_drop",
]


def _one_of(values: Sequence[str]) -> str:
    return ", ".join(f"'{value}'" for value in values)


def upgrade() -> None:
    op.create_table(
        "insights",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("campaign_id", sa.Text(), nullable=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("severity", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("metric", sa.Text(), nullable=False),
        sa.Column("observed", sa.Double(), nullable=False),
        sa.Column("expected", sa.Double(), nullable=False),
        sa.Column("baseline_from", sa.Date(), nullable=False),
        sa.Column("baseline_to", sa.Date(), nullable=False),
        sa.Column("money_at_stake", sa.Double(), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("sync_id", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("published_version", sa.Integer(), server_default="0", nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(CHANNEL_CHECK, name=op.f("ck_insights_channel_known")),
        sa.CheckConstraint(f"kind IN ({_one_of(KINDS)})", name=op.f("ck_insights_kind_known")),
        sa.CheckConstraint(
            f"severity IN ({_one_of(('info', 'warning', 'critical'))})",
            name=op.f("ck_insights_severity_known"),
        ),
        sa.CheckConstraint(
            f"status IN ({_one_of(('open', 'resolved'))})", name=op.f("ck_insights_status_known")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insights")),
    )
    op.create_index(
        "ux_insights_open_key",
        "insights",
        ["channel", sa.text("coalesce(campaign_id, '')"), "kind"],
        unique=True,
        postgresql_where=sa.text("status = 'open'"),
    )
    op.create_index(op.f("ix_insights_money_at_stake_id"), "insights", ["money_at_stake", "id"])
    op.create_index(op.f("ix_insights_opened_at_id"), "insights", ["opened_at", "id"])
    op.create_index(op.f("ix_insights_campaign_id_opened_at"), "insights", ["campaign_id", "opened_at"])
    op.create_index(
        "ix_insights_unpublished", "insights", ["id"], postgresql_where=sa.text("published_version < version")
    )


def downgrade() -> None:
    op.drop_table("insights")
