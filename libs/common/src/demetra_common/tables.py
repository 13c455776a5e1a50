"""The PostgreSQL schema every service shares. Alembic migrations (``demetra_common.migrations``) create it;
the loader writes it, the query API reads it."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    Double,
    Identity,
    Index,
    Integer,
    MetaData,
    Numeric,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

CHANNEL_CHECK = "channel IN ('facebook', 'instagram', 'google_ads', 'tiktok')"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class CampaignRow(Base):
    """One row per campaign_id: the newest metrics seen (by fetched_at)."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    campaign_id: Mapped[str] = mapped_column(Text, unique=True)
    channel: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    date: Mapped[dt.date] = mapped_column(Date)
    impressions: Mapped[int] = mapped_column(BigInteger)
    clicks: Mapped[int] = mapped_column(BigInteger)
    engagement: Mapped[int] = mapped_column(BigInteger)
    cost: Mapped[float] = mapped_column(Numeric(14, 2, asdecimal=False))
    conversion_rate: Mapped[float] = mapped_column(Double)
    roi: Mapped[float] = mapped_column(Double)
    fetched_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    sync_id: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        CheckConstraint(CHANNEL_CHECK, name="channel_known"),
        CheckConstraint("clicks <= impressions", name="clicks_within_impressions"),
        CheckConstraint(
            "impressions >= 0 AND clicks >= 0 AND engagement >= 0 AND cost >= 0", name="non_negative"
        ),
        # Filters and keyset pagination of the query API: every sort key ends in id, the tie-breaker.
        Index(None, "channel", "date", "id"),
        Index(None, "date", "id"),
        Index(None, "roi", "id"),
        Index(None, "cost", "id"),
        Index(None, "fetched_at"),
    )


# The columns that carry a campaign's data, as the loader writes them and the query API serves them.
CAMPAIGN_DATA_COLUMNS: tuple[str, ...] = (
    "campaign_id",
    "channel",
    "name",
    "date",
    "impressions",
    "clicks",
    "engagement",
    "cost",
    "conversion_rate",
    "roi",
    "fetched_at",
    "sync_id",
)


class EventRow(Base):
    """The sync history. Sync status is derived from these rows alone.

    - ``sync.requested``: channel NULL, payload = the SyncRequested message (channels, trigger, ...);
    - ``fetch.started`` / ``fetch.completed`` / ``fetch.failed``: payload = the SyncEvent (count, error);
    - ``load``: one per (sync_id, channel) and loaded batch, payload = LoadCounts, written in the same
      transaction as the campaign rows it counts.
    ``type`` takes the values of ``demetra_common.contracts.EventType``.
    """

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), unique=True)
    sync_id: Mapped[str] = mapped_column(Text)
    channel: Mapped[str | None] = mapped_column(Text)
    type: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        CheckConstraint(f"channel IS NULL OR {CHANNEL_CHECK}", name="channel_known"),
        Index(None, "sync_id", "occurred_at"),
        Index(None, "occurred_at"),
        Index(None, "type", "occurred_at"),
    )


class ConsumerOffsetRow(Base):
    """Kafka positions stored in the same transaction as the rows they produced, so a redelivered message
    (after a crash between the database commit and the Kafka commit) is recognised and not counted twice."""

    __tablename__ = "consumer_offsets"

    group_id: Mapped[str] = mapped_column(Text, primary_key=True)
    topic: Mapped[str] = mapped_column(Text, primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    next_offset: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
