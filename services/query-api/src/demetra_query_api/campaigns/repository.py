"""The campaign statements: a page of campaigns (filters from one table, keyset position), one by id, and
one campaign's daily history."""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Mapping
from decimal import Decimal
from functools import lru_cache
from typing import Any

import asyncpg
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    Double,
    Numeric,
    Select,
    Text,
    bindparam,
    cast,
    select,
    tuple_,
    union_all,
)

from demetra_common.contracts import Channel
from demetra_common.tables import (
    CAMPAIGN_DATA_COLUMNS,
    CAMPAIGN_RATES,
    CAMPAIGN_SORT_KEYS,
    CampaignDayRow,
    CampaignRow,
)
from demetra_query_api.cursors import SortField, SortKey, SortOrder
from demetra_query_api.metrics.kpis import ADDITIVE, ALL_METRICS
from demetra_query_api.metrics.repository import metric_columns
from demetra_query_api.statements import (
    Compare,
    FilterTable,
    Shape,
    Statement,
    bind_filters,
    compile_statement,
    contains_ignoring_case,
    distinct_text,
    filtered,
    like_prefix,
    like_substring,
    starts_with,
)

campaigns = CampaignRow.__table__.c
days = CampaignDayRow.__table__.c


def _exact(value: float) -> Decimal:
    """A float parameter as the exact decimal it spells, as the numeric(14,2) column compares."""
    return Decimal(repr(value))


# Every filter of GET /api/campaigns but the channels, by its query parameter (CampaignQuery): a new filter is
# a row here and a field there. The order is the order of the WHERE clauses. The channels are not a clause:
# a page reads one range of its sort's (channel, key, id) index per channel (below).
CAMPAIGN_FILTERS: FilterTable = {
    "date_from": Compare(campaigns.date, operator.ge, Date()),
    "date_to": Compare(campaigns.date, operator.le, Date()),
    "min_roi": Compare(campaigns.roi, operator.ge, Double()),
    "max_roi": Compare(campaigns.roi, operator.le, Double()),
    "min_cost": Compare(campaigns.cost, operator.ge, Numeric(), _exact),
    "max_cost": Compare(campaigns.cost, operator.le, Numeric(), _exact),
    "campaign_id_prefix": Compare(campaigns.campaign_id, starts_with, Text(), like_prefix),
    "name": Compare(campaigns.name, contains_ignoring_case, Text(), like_substring),  # the trigram index
}


def _selected(table: Any, names: tuple[str, ...]) -> tuple[ColumnElement[Any], ...]:
    """The columns ``names`` of ``table``; cost as a double (numeric(14,2) is exact in one, JSON-ready)."""
    return tuple(cast(table.cost, Double).label("cost") if name == "cost" else table[name] for name in names)


# A campaign's fields in API responses (CampaignOut's, in order; the CSV export's columns): its data as the
# loader stores it, then the rates it implies (NULL without a denominator).
CAMPAIGN_FIELDS: tuple[str, ...] = (*CAMPAIGN_DATA_COLUMNS, *CAMPAIGN_RATES)
_CAMPAIGN_COLUMNS = (
    *_selected(campaigns, CAMPAIGN_DATA_COLUMNS),
    *(rate.label(name) for name, rate in CAMPAIGN_RATES.items()),
)


def _channels(filters: Mapping[str, Any]) -> list[str]:
    """The channels a page reads: those asked for (each once), or every channel."""
    return distinct_text(filters.get("channel") or Channel)


def _ordered(keys: list[Any], ascending: bool) -> list[Any]:
    return [key.asc() if ascending else key.desc() for key in keys]


def _channel_range(
    filters: Shape, channel: int, sort: SortField, order: SortOrder, after: bool
) -> Select[Any]:
    """The first ``limit`` rows of one channel after the position: one range of the sort's index."""
    key = CAMPAIGN_SORT_KEYS[sort]
    ascending = order is SortOrder.ASC
    # campaign_id is unique by itself; every other sort key needs the row id to break ties.
    keys = [key] if sort is SortField.CAMPAIGN_ID else [key, campaigns.id]
    statement: Select[Any] = select(*_CAMPAIGN_COLUMNS, key.label("sort_key"), campaigns.id).where(
        campaigns.channel == bindparam(f"channel_{channel}", type_=Text)
    )
    statement = filtered(statement, CAMPAIGN_FILTERS, filters)
    if after:
        bounds = [bindparam("after_key", type_=key.type), bindparam("after_id", type_=BigInteger)]
        position, bound = tuple_(*keys), tuple_(*bounds[: len(keys)])
        statement = statement.where(position > bound if ascending else position < bound)
    return statement.order_by(*_ordered(keys, ascending)).limit(bindparam("limit", type_=BigInteger))


@lru_cache(maxsize=1024)
def _campaign_page_statement(
    filters: Shape, channels: int, sort: SortField, order: SortOrder, after: bool
) -> Statement:
    ranges = [_channel_range(filters, channel, sort, order, after) for channel in range(channels)]
    if channels == 1:
        return compile_statement(ranges[0])
    # Several channels: the first ``limit`` rows of each, merged (at most channels x limit rows to order).
    merged = union_all(*ranges).subquery("channel_ranges")
    keys = [merged.c.sort_key] if sort is SortField.CAMPAIGN_ID else [merged.c.sort_key, merged.c.id]
    statement = (
        select(*merged.c)
        .order_by(*_ordered(keys, order is SortOrder.ASC))
        .limit(bindparam("limit", type_=BigInteger))
    )
    return compile_statement(statement)


def campaign_page_statement(
    filters: Mapping[str, Any], sort: SortField, order: SortOrder, after: bool
) -> Statement:
    """The statement for one page of campaigns (exposed for EXPLAIN in tests and benchmarks)."""
    shape = bind_filters(CAMPAIGN_FILTERS, filters, {})
    return _campaign_page_statement(shape, len(_channels(filters)), sort, order, after)


def _page_values(
    filters: Mapping[str, Any], after: tuple[SortKey, int] | None, limit: int
) -> tuple[Shape, int, dict[str, Any]]:
    values: dict[str, Any] = {"limit": limit}
    shape = bind_filters(CAMPAIGN_FILTERS, filters, values)
    channels = _channels(filters)
    values.update((f"channel_{number}", channel) for number, channel in enumerate(channels))
    if after is not None:
        values["after_key"], values["after_id"] = after
    return shape, len(channels), values


def campaign_page_values(
    filters: Mapping[str, Any], after: tuple[SortKey, int] | None, limit: int
) -> dict[str, Any]:
    """The values of ``campaign_page_statement(filters, ...)``."""
    return _page_values(filters, after, limit)[2]


async def campaign_page(
    connection: asyncpg.Connection,
    filters: Mapping[str, Any],
    sort: SortField,
    order: SortOrder,
    after: tuple[SortKey, int] | None,
    limit: int,
) -> list[asyncpg.Record]:
    """Up to ``limit`` campaigns after ``after`` (sort key, id): each record has the CAMPAIGN_FIELDS, then
    ``sort_key`` (never NULL: CAMPAIGN_SORT_KEYS) and the row ``id``.

    ``filters``: request parameters by name; ``channel`` and those named in CAMPAIGN_FILTERS filter, None or
    empty ones not.
    """
    shape, channels, values = _page_values(filters, after, limit)
    statement = _campaign_page_statement(shape, channels, sort, order, after is not None)
    return await statement.fetch(connection, **values)


_CAMPAIGN_BY_ID = compile_statement(
    select(*_CAMPAIGN_COLUMNS).where(campaigns.campaign_id == bindparam("campaign_id", type_=Text))
)


async def campaign_by_id(connection: asyncpg.Connection, campaign_id: str) -> asyncpg.Record | None:
    return await _CAMPAIGN_BY_ID.fetchrow(connection, campaign_id=campaign_id)


# A day's fields in a campaign's history, in order: the date, every metric (the rates in SQL from the
# kpis declaration: metrics.repository.metric_columns), the version; the channel after them.
HISTORY_DAY_FIELDS: tuple[str, ...] = (
    "date",
    *(metric.value for metric in ALL_METRICS),
    "fetched_at",
    "sync_id",
)
_DAY_METRICS = metric_columns(ALL_METRICS, {metric.value: days[metric.value] for metric in ADDITIVE})

# A campaign's days in a range (public for EXPLAIN in tests): HISTORY_DAY_FIELDS, then the channel.
CAMPAIGN_DAYS = compile_statement(
    select(days.date, *_DAY_METRICS, days.fetched_at, days.sync_id, days.channel)
    .where(
        days.campaign_id == bindparam("campaign_id", type_=Text),
        days.date >= bindparam("date_from", type_=Date),
        days.date <= bindparam("date_to", type_=Date),
    )
    .order_by(days.date)
)


async def campaign_days(
    connection: asyncpg.Connection, campaign_id: str, first: dt.date, last: dt.date
) -> list[asyncpg.Record]:
    """The campaign's daily rows from ``first`` to ``last``, oldest first (HISTORY_DAY_FIELDS, then the
    channel): the primary key (campaign_id, date) of only the partitions of that range serves it."""
    return await CAMPAIGN_DAYS.fetch(connection, campaign_id=campaign_id, date_from=first, date_to=last)
