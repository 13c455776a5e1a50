"""campaign list: one (channel, sort key, id) index per sort of GET /api/campaigns, name search by trigrams

Each sort of the list (demetra_common.tables.CampaignSort) gets its index led by the channel, so that a page
of one channel is one index range and a page of several reads one range per channel; the global (key, id)
indexes they replace go. Names are searched (ILIKE) through a pg_trgm GIN index.

Revision ID: 0400
Revises: 0300
Create Date: 2026-12-01 11:00:00
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy.schema import CreateIndex

from demetra_common.tables import CAMPAIGN_NAME_SEARCH_INDEX, CAMPAIGN_SORT_INDEXES

revision: str = "0400"
down_revision: str | None = "0300"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Created by 0001, kept: (channel, date, id) is the date sort's index.
EXISTING = "ix_campaigns_channel_date_id"
# The global indexes of 0001 that the per-channel ones replace.
REPLACED = {
    "ix_campaigns_date_id": ["date", "id"],
    "ix_campaigns_roi_id": ["roi", "id"],
    "ix_campaigns_cost_id": ["cost", "id"],
    "ix_campaigns_fetched_at": ["fetched_at"],
}


NEW = [
    index for index in (*CAMPAIGN_SORT_INDEXES.values(), CAMPAIGN_NAME_SEARCH_INDEX) if index.name != EXISTING
]


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for index in NEW:
        op.execute(CreateIndex(index))
    for name in REPLACED:
        op.drop_index(name, table_name="campaigns")


def downgrade() -> None:
    for name, columns in REPLACED.items():
        op.create_index(name, "campaigns", columns)
    for index in NEW:
        op.drop_index(str(index.name), table_name="campaigns")
    op.execute("DROP EXTENSION IF EXISTS pg_trgm")
