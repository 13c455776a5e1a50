"""The PostgreSQL schema every service shares. Alembic migrations (``demetra_migrations``) create it; the
loader writes it, the query API reads it (and refreshes the summary view declared at the end).

``campaign_daily`` is range-partitioned by month: ``DAILY_PARTITIONS`` names, creates and drops its
partitions (the migration creates some ahead, the loader any a batch needs, retention drops old ones).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Double,
    Identity,
    Index,
    Integer,
    MetaData,
    Numeric,
    TableClause,
    Text,
    cast,
    column,
    func,
    literal_column,
    table,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine

from demetra_common.contracts import Channel, DailyMetric, InsightKind, InsightStatus, Severity

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

CHANNEL_CHECK = "channel IN ({})".format(", ".join(f"'{channel.value}'" for channel in Channel))


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
        # The query API's sort indexes (one per CampaignSort) are declared below, after the sort keys.
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


class CampaignSort(StrEnum):
    """Every order of the campaign list (GET /api/campaigns ``sort``): the one list of sort keys, read by the
    API (route, OpenAPI, cursors), its repository, the indexes below and the benchmarks."""

    IMPRESSIONS = "impressions"
    CLICKS = "clicks"
    ENGAGEMENT = "engagement"
    COST = "cost"
    CONVERSION_RATE = "conversion_rate"
    ROI = "roi"
    CTR = "ctr"
    CPC = "cpc"
    CPM = "cpm"
    DATE = "date"
    FETCHED_AT = "fetched_at"
    CAMPAIGN_ID = "campaign_id"
    NAME = "name"


_campaigns = CampaignRow.__table__.c


def _rate(numerator: Any, denominator: Any, scale: float = 1.0) -> ColumnElement[float]:
    """``scale x numerator / denominator`` as a double, NULL when the denominator is 0 (the kpis.RATES
    arithmetic of the query API, in the same order)."""
    top: ColumnElement[float] = cast(numerator, Double())
    if scale != 1.0:
        top = cast(literal_column(repr(float(scale))), Double()) * top
    bottom: ColumnElement[float] = func.nullif(
        cast(denominator, Double()), literal_column("0"), type_=Double()
    )
    return top / bottom


# The rates a campaign's row implies (NULL when the denominator is 0), as its API responses carry them.
CAMPAIGN_RATES: dict[str, ColumnElement[float]] = {
    "ctr": _rate(_campaigns.clicks, _campaigns.impressions),
    "cpc": _rate(_campaigns.cost, _campaigns.clicks),
    "cpm": _rate(_campaigns.cost, _campaigns.impressions, 1000.0),
}
# A rate with no denominator sorts as this value: below every real rate (rates are >= 0: the counts and the
# cost are non-negative), so first in ascending order and last in descending.
NO_RATE = -1.0


def _sort_key(sort: CampaignSort) -> ColumnElement[Any]:
    rate = CAMPAIGN_RATES.get(sort.value)
    if rate is None:
        key: ColumnElement[Any] = _campaigns[sort.value]
        return key
    return func.coalesce(rate, literal_column(repr(NO_RATE)), type_=Double())


# Each sort's key, never NULL: a column, or a rate with NO_RATE for "no denominator". The index of a sort is
# (channel, key, id): a page of one channel is a range of it; several channels (or none) read one range per
# channel and merge them (the query API's repository). campaign_id is unique: its index needs no id.
CAMPAIGN_SORT_KEYS: dict[CampaignSort, ColumnElement[Any]] = {sort: _sort_key(sort) for sort in CampaignSort}
CAMPAIGN_SORT_INDEXES: dict[CampaignSort, Index] = {
    sort: Index(
        f"ix_campaigns_channel_{sort.value}" + ("" if sort is CampaignSort.CAMPAIGN_ID else "_id"),
        _campaigns.channel,
        key,
        *(() if sort is CampaignSort.CAMPAIGN_ID else (_campaigns.id,)),
    )
    for sort, key in CAMPAIGN_SORT_KEYS.items()
}
# Name search (case-insensitive substring, ILIKE): a trigram index (extension pg_trgm).
CAMPAIGN_NAME_SEARCH_INDEX = Index(
    "ix_campaigns_name_trgm", _campaigns.name, postgresql_using="gin", postgresql_ops={"name": "gin_trgm_ops"}
)


class EventRow(Base):
    """The sync history. Sync status is derived from these rows alone (and kept, derived, in the sync
    projection below, in the transaction that writes them).

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


class SyncRow(Base):
    """The sync projection, one row per sync: what its events say the clock aside
    (``demetra_common.sync_status.SyncFacts``), kept by the loader in the transaction that records them
    (``demetra_common.sync_projection``). The query API lists and serves syncs from it and its channels.

    The list is newest first by the sync's first event (``listed_at``, then that event's ``listed_id``).
    ``state`` / ``timed_out_state`` / ``idle_at`` are the ``SyncOutcome``: the status filter is ``state``
    until ``idle_at`` + timeout, ``timed_out_state`` after. A finished sync (``idle_at`` NULL) also holds its
    status as served (``finished_status``), so a page of finished syncs needs no channel rows.
    """

    __tablename__ = "syncs"

    sync_id: Mapped[str] = mapped_column(Text, primary_key=True)
    listed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    listed_id: Mapped[int] = mapped_column(BigInteger)
    trigger: Mapped[str | None] = mapped_column(Text)
    request_seen: Mapped[bool] = mapped_column(Boolean)
    requested_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    date_from: Mapped[dt.date | None] = mapped_column(Date)
    date_to: Mapped[dt.date | None] = mapped_column(Date)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    idle_since: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    requested: Mapped[int] = mapped_column(Integer)
    request: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    state: Mapped[str] = mapped_column(Text)
    timed_out_state: Mapped[str] = mapped_column(Text)
    idle_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # A finished sync's status is the same at every moment: its JSON, as the query API serves it
    # (``sync_status.finished_status``; a change of the status's shape refreshes the projection).
    finished_status: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SyncChannelRow(Base):
    """The sync projection, one row per (sync, channel): the channel's ``ChannelStatus`` the clock aside
    (never timed out; the query API settles it), and whether the loader announced it (channel.loaded)."""

    __tablename__ = "sync_channels"

    sync_id: Mapped[str] = mapped_column(Text, primary_key=True)
    channel: Mapped[str] = mapped_column(Text, primary_key=True)
    status: Mapped[str] = mapped_column(Text)
    requested: Mapped[bool] = mapped_column(Boolean)
    fetched: Mapped[int | None] = mapped_column(BigInteger)
    loaded: Mapped[int] = mapped_column(BigInteger)
    inserted: Mapped[int] = mapped_column(BigInteger)
    updated: Mapped[int] = mapped_column(BigInteger)
    unchanged: Mapped[int] = mapped_column(BigInteger)
    rejected: Mapped[int] = mapped_column(BigInteger)
    date_from: Mapped[dt.date | None] = mapped_column(Date)
    date_to: Mapped[dt.date | None] = mapped_column(Date)
    through: Mapped[dt.date | None] = mapped_column(Date)
    rows_fetched: Mapped[int | None] = mapped_column(BigInteger)
    rows_loaded: Mapped[int] = mapped_column(BigInteger)
    restated: Mapped[int] = mapped_column(BigInteger)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_event_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    timed_out: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(Text)
    attempt: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    skipped: Mapped[int] = mapped_column(Integer)
    announced: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        CheckConstraint(CHANNEL_CHECK, name="channel_known"),
        # The announcer's candidates: completed, not yet announced (a few rows at any time).
        Index(
            "ix_sync_channels_unannounced",
            "finished_at",
            postgresql_where=text("status = 'completed' AND NOT announced"),
        ),
    )


# The columns of sync_channels that hold a ChannelStatus, in its field order (a unit test holds them to it).
SYNC_CHANNEL_STATUS_COLUMNS: tuple[str, ...] = tuple(
    column.name
    for column in SyncChannelRow.__table__.columns
    if column.name not in ("sync_id", "announced", "updated_at")
)

_syncs = SyncRow.__table__.c
# The list's order and its filters: each filter set (none, status, trigger, both) has its (filter columns,
# listed_at, listed_id) index, so a page is one index range. A status filter also reads the running syncs
# whose channels all timed out (``idle_at`` set): the partial indexes on timed_out_state.
SYNC_LIST_INDEXES: tuple[Index, ...] = (
    *(
        Index(None, *(_syncs[name] for name in filters), _syncs.listed_at, _syncs.listed_id)
        for filters in ((), ("state",), ("trigger",), ("trigger", "state"))
    ),
    *(
        Index(
            "ix_syncs_" + "_".join((*filters, "timed_out_state", "listed_at")),
            *(_syncs[name] for name in (*filters, "timed_out_state")),
            _syncs.listed_at,
            _syncs.listed_id,
            postgresql_where=_syncs.idle_at.isnot(None),
        )
        for filters in ((), ("trigger",))
    ),
)


class CampaignDayRow(Base):
    """One row per (campaign_id, date): the day's metrics as the newest fetch (by fetched_at) reported them.
    ``campaigns`` holds each campaign's totals, derived from these rows by the loader."""

    __tablename__ = "campaign_daily"

    campaign_id: Mapped[str] = mapped_column(Text, primary_key=True)
    date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    channel: Mapped[str] = mapped_column(Text)
    impressions: Mapped[int] = mapped_column(BigInteger)
    clicks: Mapped[int] = mapped_column(BigInteger)
    engagement: Mapped[int] = mapped_column(BigInteger)
    cost: Mapped[float] = mapped_column(Numeric(14, 2, asdecimal=False))
    conversions: Mapped[float] = mapped_column(Double)
    revenue: Mapped[float] = mapped_column(Double)
    fetched_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    sync_id: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        CheckConstraint(CHANNEL_CHECK, name="channel_known"),
        CheckConstraint("clicks <= impressions", name="clicks_within_impressions"),
        CheckConstraint(
            "impressions >= 0 AND clicks >= 0 AND engagement >= 0 AND cost >= 0 AND conversions >= 0 "
            "AND revenue >= 0",
            name="non_negative",
        ),
        Index(None, "channel", "date"),
        {"postgresql_partition_by": "RANGE (date)"},
    )


# The columns of a daily row as the loader writes them, in this order.
DAILY_COLUMNS: tuple[str, ...] = (
    "campaign_id",
    "date",
    "channel",
    "impressions",
    "clicks",
    "engagement",
    "cost",
    "conversions",
    "revenue",
    "fetched_at",
    "sync_id",
)
# The metrics among them: what a restatement compares.
DAILY_METRIC_COLUMNS: tuple[str, ...] = tuple(metric.value for metric in DailyMetric)


@dataclass(frozen=True, slots=True)
class MonthlyPartitions:
    """The monthly range partitions of a table partitioned by a date column: one fact for their names and
    bounds, used by the migration, the loader (partitions a batch needs) and retention."""

    parent: str

    @staticmethod
    def month_of(day: dt.date) -> dt.date:
        return day.replace(day=1)

    @staticmethod
    def next_month(month: dt.date) -> dt.date:
        return (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)

    def name(self, month: dt.date) -> str:
        return f"{self.parent}_p{month:%Y%m}"

    def month_from_name(self, name: str) -> dt.date | None:
        """The month of a partition named by ``name``; None for any other table."""
        prefix = f"{self.parent}_p"
        digits = name.removeprefix(prefix)
        if not name.startswith(prefix) or len(digits) != 6 or not digits.isdigit():
            return None
        return dt.date(int(digits[:4]), int(digits[4:]), 1)

    def months(self, first: dt.date, last: dt.date) -> list[dt.date]:
        """Every month from ``first``'s to ``last``'s, inclusive."""
        months, month = [], self.month_of(first)
        while month <= last:
            months.append(month)
            month = self.next_month(month)
        return months

    def create_sql(self, month: dt.date) -> str:
        month = self.month_of(month)
        return (
            f"CREATE TABLE IF NOT EXISTS {self.name(month)} PARTITION OF {self.parent} "
            f"FOR VALUES FROM ('{month.isoformat()}') TO ('{self.next_month(month).isoformat()}')"
        )

    def drop_sql(self, month: dt.date) -> str:
        return f"DROP TABLE IF EXISTS {self.name(self.month_of(month))}"

    @property
    def list_sql(self) -> str:
        """The names of the existing partitions."""
        return (
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            f"WHERE i.inhparent = '{self.parent}'::regclass"
        )


DAILY_PARTITIONS = MonthlyPartitions(CampaignDayRow.__tablename__)


class RestatementRow(Base):
    """A past day's metric that a newer fetch changed: written in the transaction that changed the day, and
    published as ``metric.restated`` after it commits (``published_at`` set then; rows still NULL there are
    published again by the loader, so none is lost)."""

    __tablename__ = "restatements"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), unique=True)
    campaign_id: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(Text)
    date: Mapped[dt.date] = mapped_column(Date)
    metric: Mapped[str] = mapped_column(Text)
    old_value: Mapped[float] = mapped_column(Double)
    new_value: Mapped[float] = mapped_column(Double)
    sync_id: Mapped[str] = mapped_column(Text)
    fetched_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    previous_fetched_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(CHANNEL_CHECK, name="channel_known"),
        CheckConstraint(
            "metric IN ({})".format(", ".join(f"'{m}'" for m in DAILY_METRIC_COLUMNS)), name="metric_known"
        ),
        Index(None, "campaign_id", "date"),
        Index(None, "channel", "id"),
        Index(None, "date", "id"),
        Index("ix_restatements_unpublished", "id", postgresql_where="published_at IS NULL"),
    )


class InsightRow(Base):
    """An insight of the insights service: at most one open per (channel, campaign, kind), updated in place
    (``version`` grows) while the anomaly lasts, then resolved. ``published_version`` trails ``version``
    until its insight.detected / insight.resolved event is on Kafka (the outbox: none is lost)."""

    __tablename__ = "insights"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    channel: Mapped[str] = mapped_column(Text)
    campaign_id: Mapped[str | None] = mapped_column(Text)  # NULL: the channel's total
    kind: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    first_day: Mapped[dt.date] = mapped_column(Date)
    last_day: Mapped[dt.date] = mapped_column(Date)
    metric: Mapped[str] = mapped_column(Text)
    observed: Mapped[float] = mapped_column(Double)
    expected: Mapped[float] = mapped_column(Double)
    baseline_from: Mapped[dt.date] = mapped_column(Date)
    baseline_to: Mapped[dt.date] = mapped_column(Date)
    money_at_stake: Mapped[float] = mapped_column(Double)
    explanation: Mapped[str] = mapped_column(Text)
    sync_id: Mapped[str] = mapped_column(Text)  # the sync whose analysis made the current version
    version: Mapped[int] = mapped_column(Integer)
    published_version: Mapped[int] = mapped_column(Integer, server_default="0")
    opened_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(CHANNEL_CHECK, name="channel_known"),
        CheckConstraint(
            "kind IN ({})".format(", ".join(f"'{kind.value}'" for kind in InsightKind)), name="kind_known"
        ),
        CheckConstraint(
            "severity IN ({})".format(", ".join(f"'{s.value}'" for s in Severity)), name="severity_known"
        ),
        CheckConstraint(
            "status IN ({})".format(", ".join(f"'{s.value}'" for s in InsightStatus)), name="status_known"
        ),
        # One open insight per (channel, campaign or channel total, kind).
        Index(
            "ux_insights_open_key",
            "channel",
            text("coalesce(campaign_id, '')"),
            "kind",
            unique=True,
            postgresql_where=text("status = 'open'"),
        ),
        Index(None, "money_at_stake", "id"),
        Index(None, "opened_at", "id"),
        Index(None, "campaign_id", "opened_at"),
        Index("ix_insights_unpublished", "id", postgresql_where=text("published_version < version")),
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


# ------------------------------------------------------------------------------ the metrics summary view

# The daily table's insert/update/delete counter (summed over its partitions): stored with the summary at
# refresh time, so the query API refreshes it only when daily rows changed since (or a partition went).
DAILY_CHANGE_MARKER = (
    "(SELECT coalesce(sum(s.n_tup_ins + s.n_tup_upd + s.n_tup_del), 0)::bigint"
    " FROM pg_stat_user_tables s JOIN pg_inherits i ON i.inhrelid = s.relid"
    " WHERE i.inhparent = 'campaign_daily'::regclass)"
)


@dataclass(frozen=True, slots=True)
class ViewColumn:
    name: str
    expression: str  # SQL over the view's source table
    type: TypeEngine[Any]


@dataclass(frozen=True, slots=True)
class MaterializedView:
    """A materialised view declared once: the migration creates it from this, the repository reads it."""

    name: str
    source: str
    columns: tuple[ViewColumn, ...]
    group_by: tuple[str, ...]  # also its unique index, which REFRESH ... CONCURRENTLY requires
    indexes: tuple[tuple[str, ...], ...] = ()  # further indexes, by their columns

    @property
    def table(self) -> TableClause:
        """The view as a SQLAlchemy Core table, to build statements over it."""
        return table(self.name, *(column(c.name, c.type) for c in self.columns))

    @property
    def create_sql(self) -> str:
        selected = ",\n       ".join(
            c.name if c.expression == c.name else f"{c.expression} AS {c.name}" for c in self.columns
        )
        return (
            f"CREATE MATERIALIZED VIEW {self.name} AS\nSELECT {selected}\n  FROM {self.source}\n"
            f" GROUP BY {', '.join(self.group_by)}\nWITH DATA"
        )

    @property
    def unique_index_sql(self) -> str:
        keys = ", ".join(self.group_by)
        return f"CREATE UNIQUE INDEX ux_{self.name}_{'_'.join(self.group_by)} ON {self.name} ({keys})"

    @property
    def index_sql(self) -> list[str]:
        """The CREATE INDEX of each of ``indexes``."""
        return [
            f"CREATE INDEX {self.index_name(columns)} ON {self.name} ({', '.join(columns)})"
            for columns in self.indexes
        ]

    def index_name(self, columns: tuple[str, ...]) -> str:
        return f"ix_{self.name}_{'_'.join(columns)}"

    @property
    def refresh_sql(self) -> str:
        return f"REFRESH MATERIALIZED VIEW CONCURRENTLY {self.name}"

    @property
    def drop_sql(self) -> str:
        return f"DROP MATERIALIZED VIEW IF EXISTS {self.name}"


# Additive totals per (channel, day) of the daily history, behind the query API's metrics summary and
# timeseries: rates are kept as their numerators and denominators so that any grouping sums correctly.
CAMPAIGN_DAILY_METRICS = MaterializedView(
    name="campaign_daily_metrics",
    source=CampaignDayRow.__tablename__,
    columns=(
        ViewColumn("channel", "channel", Text()),
        ViewColumn("date", "date", Date()),
        ViewColumn("campaigns", "count(*)", BigInteger()),
        ViewColumn("impressions", "sum(impressions)", Numeric()),
        ViewColumn("clicks", "sum(clicks)", Numeric()),
        ViewColumn("engagement", "sum(engagement)", Numeric()),
        ViewColumn("cost", "sum(cost)", Numeric()),
        # The doubles are added up as numeric: exact, so a day's sums do not depend on the order the rows
        # are read in (a refresh of the same rows gives the same values, to the last bit).
        ViewColumn("conversions", "sum(conversions::numeric)", Numeric()),
        ViewColumn("revenue", "sum(revenue::numeric)", Numeric()),
        ViewColumn("net_return", "sum(revenue::numeric) - sum(cost)", Numeric()),
        ViewColumn("as_of", "max(fetched_at)", DateTime(timezone=True)),
        ViewColumn("refreshed_at", "now()", DateTime(timezone=True)),
        ViewColumn("change_marker", DAILY_CHANGE_MARKER, BigInteger()),
    ),
    group_by=("channel", "date"),
    # Each channel's newest as_of (the summary's freshness) in one index probe, not a scan of the view.
    indexes=(("channel", "as_of"),),
)
