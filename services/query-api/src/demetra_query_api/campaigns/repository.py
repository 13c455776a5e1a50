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
    and_,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    or_,
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


# A filter of one of these kinds on the sort's own column is a range of the sort's index: the walk starts and
# ends there (an index condition), so every row it reads matches that filter.
_RANGE_OPERATORS = (operator.ge, operator.le, starts_with)

# A page of one channel reads one range of its sort's (channel, key, id) index. Filters on the sort's column
# are the range's bounds; any other filter is checked row by row as the range is walked, and how far that
# walk goes depends on the data: a rare match, a filter anti-correlated with the sort or a campaign id prefix
# of another channel walks most of the channel before a page (seconds at 1M rows). So such a page is read in
# two steps:
# 1. The walk (one statement, every channel, generic plan): at most WALK_ROWS rows of each channel's range,
#    each checked (~1 us a row: a few ms); a channel whose walk met ``limit`` matches, or the channel's end,
#    has its part of the page. Most pages end here.
# 2. Only for the channels whose walk stopped at WALK_ROWS short of ``limit`` matches (capped): few rows match
#    near the start of the order. Filter first: the matches through the filters' own indexes, counted up to
#    FILTER_FIRST_ROWS; if that is all of them, the channel's part is the first ``limit`` of them in order (a
#    top-N sort of at most that many); more than that, but none near the start of the order: the walk goes on
#    until a page of them (the one way without a bound). One statement, planned for its values (a custom
#    plan: which filter's index reads the fewest rows depends on them), the choice made by a CASE over the
#    count, which PostgreSQL evaluates lazily, once.
# WALK_ROWS stays where PostgreSQL's costs still read that many rows through the index rather than sort the
# channel; both are literals in the statements.
WALK_ROWS = 2000
FILTER_FIRST_ROWS = 10_000


def _split(shape: Shape, sort: SortField) -> tuple[Shape, Shape]:
    """The filters of ``shape`` that are a range of the sort's index, and the others (checked row by row)."""
    key = CAMPAIGN_SORT_KEYS[sort]
    on_key = tuple(
        (name, variant)
        for name, variant in shape
        if (row := CAMPAIGN_FILTERS[name]).column is key
        and isinstance(row, Compare)
        and row.operator in _RANGE_OPERATORS
    )
    return on_key, tuple(entry for entry in shape if entry not in on_key)


def _in_order(
    statement: Select[Any], sort: SortField, order: SortOrder, key: Any, row_id: Any
) -> Select[Any]:
    # campaign_id is unique by itself; every other sort key needs the row id to break ties.
    keys = [key] if sort is SortField.CAMPAIGN_ID else [key, row_id]
    return statement.order_by(*_ordered(keys, order is SortOrder.ASC))


def _channel_rows(
    columns: tuple[ColumnElement[Any], ...],
    filters: Shape,
    channel: int,
    sort: SortField,
    order: SortOrder,
    after: bool,
) -> Select[Any]:
    """``columns``, ``sort_key`` and ``id`` of one channel's rows after the position that pass ``filters``,
    in the sort's order (one range of its index)."""
    key = CAMPAIGN_SORT_KEYS[sort]
    statement: Select[Any] = select(*columns, key.label("sort_key"), campaigns.id).where(
        campaigns.channel == bindparam(f"channel_{channel}", type_=Text)
    )
    statement = filtered(statement, CAMPAIGN_FILTERS, filters)
    if after:
        keys = [key] if sort is SortField.CAMPAIGN_ID else [key, campaigns.id]
        bounds = [bindparam("after_key", type_=key.type), bindparam("after_id", type_=BigInteger)]
        position, bound = tuple_(*keys), tuple_(*bounds[: len(keys)])
        statement = statement.where(position > bound if order is SortOrder.ASC else position < bound)
    return _in_order(statement, sort, order, key, campaigns.id)


def _limit() -> Any:
    return bindparam("limit", type_=BigInteger)


def _literal(number: int) -> ColumnElement[int]:
    """``number`` written into the statement (the planner sees it, generic plans too), not bound."""
    return literal_column(str(number), BigInteger())


def _walk(filters: Shape, channel: int, sort: SortField, order: SortOrder, after: bool) -> Select[Any]:
    """Step 1 of one channel: the first ``limit`` of its first WALK_ROWS rows that match (``matched``), and
    the WALK_ROWS-th row whether it matches or not (``walked`` = WALK_ROWS: the walk stopped there)."""
    on_key, others = _split(filters, sort)
    matched = and_(*(CAMPAIGN_FILTERS[name].clause(name, variant) for name, variant in others))
    walk_rows = _literal(WALK_ROWS)
    ranged = _channel_rows(
        (*_CAMPAIGN_COLUMNS, matched.label("matched")), on_key, channel, sort, order, after
    )
    read = ranged.limit(walk_rows).subquery(f"walk_{channel}")
    numbered = select(*read.c, func.row_number().over().label("walked")).subquery(f"walked_{channel}")
    # A subquery's rows reach the window in its order (the walk's), so the numbers count the rows walked.
    return select(*numbered.c).where(or_(numbered.c.matched, numbered.c.walked == walk_rows)).limit(_limit())


_FILTER_FIRST, _WALK_ON = _literal(1), _literal(2)


def _beyond_walk(filters: Shape, channel: int, sort: SortField, order: SortOrder, after: bool) -> Select[Any]:
    """Step 2 of one channel whose walk was capped: the first ``limit`` matches filter first if there are
    at most FILTER_FIRST_ROWS of them, else by walking on."""
    first_rows = _literal(FILTER_FIRST_ROWS)
    matching = _channel_rows(_CAMPAIGN_COLUMNS, filters, channel, sort, order, after)
    found = matching.order_by(None).cte(f"found_{channel}")
    counted = select(func.count()).select_from(select(found.c.id).limit(first_rows + 1).subquery())
    few = counted.scalar_subquery() <= first_rows
    way = select(select(case((few, _FILTER_FIRST), else_=_WALK_ON).label("way")).cte(f"way_{channel}"))
    taken = way.scalar_subquery()
    filter_first = _in_order(
        select(*found.c).where(taken == _FILTER_FIRST), sort, order, found.c.sort_key, found.c.id
    ).limit(_limit())
    walk_on = matching.where(taken == _WALK_ON).limit(_limit())
    return union_all(filter_first, walk_on).subquery(f"beyond_{channel}").select()


def _merged(
    ranges: list[Select[Any]], sort: SortField, order: SortOrder, limited: bool = True
) -> Select[Any]:
    """The channels' ranges (each in order, at most ``limit`` rows) in order: their first ``limit`` rows."""
    merged = union_all(*ranges).subquery("channel_ranges") if len(ranges) > 1 else ranges[0].subquery()
    statement = _in_order(select(*merged.c), sort, order, merged.c.sort_key, merged.c.id)
    return statement.limit(_limit()) if limited else statement


@lru_cache(maxsize=1024)
def _campaign_page_statement(
    filters: Shape, channels: int, sort: SortField, order: SortOrder, after: bool
) -> Statement:
    """Filters only on the sort's column: one range per channel, the whole page. Others: step 1."""
    if _split(filters, sort)[1]:  # every row walked, those matching first, the last walked if it stopped
        walks = [_walk(filters, channel, sort, order, after) for channel in range(channels)]
        return compile_statement(_merged(walks, sort, order, limited=False))
    ranges = [
        _channel_rows(_CAMPAIGN_COLUMNS, filters, channel, sort, order, after).limit(_limit())
        for channel in range(channels)
    ]
    return compile_statement(ranges[0] if channels == 1 else _merged(ranges, sort, order))


@lru_cache(maxsize=1024)
def _beyond_walk_statement(
    filters: Shape, capped: tuple[bool, ...], sort: SortField, order: SortOrder, after: bool
) -> Statement:
    """Step 2: the capped channels beyond their walk, the others as their walk found them (within it)."""
    ranges = [
        _beyond_walk(filters, channel, sort, order, after)
        if stopped
        else _channel_rows(_CAMPAIGN_COLUMNS, filters, channel, sort, order, after).limit(_limit())
        for channel, stopped in enumerate(capped)
    ]
    return compile_statement(_merged(ranges, sort, order))


def campaign_page_statement(
    filters: Mapping[str, Any], sort: SortField, order: SortOrder, after: bool
) -> Statement:
    """The statement a page of campaigns runs first: the whole page, or step 1."""
    shape = bind_filters(CAMPAIGN_FILTERS, filters, {})
    return _campaign_page_statement(shape, len(_channels(filters)), sort, order, after)


def campaign_page_statements(
    filters: Mapping[str, Any], sort: SortField, order: SortOrder, after: bool
) -> list[tuple[Statement, bool]]:
    """Every statement one page of campaigns may run, with whether it runs as a generic plan (exposed for
    EXPLAIN in tests and benchmarks): the first, and step 2 with every channel capped if there is one."""
    first = campaign_page_statement(filters, sort, order, after)
    shape = bind_filters(CAMPAIGN_FILTERS, filters, {})
    if not _split(shape, sort)[1]:
        return [(first, True)]
    capped = (True,) * len(_channels(filters))
    return [(first, True), (_beyond_walk_statement(shape, capped, sort, order, after), False)]


def _page_values(
    filters: Mapping[str, Any], after: tuple[SortKey, int] | None, limit: int
) -> tuple[Shape, list[str], dict[str, Any]]:
    values: dict[str, Any] = {"limit": limit}
    shape = bind_filters(CAMPAIGN_FILTERS, filters, values)
    channels = _channels(filters)
    values.update((f"channel_{number}", channel) for number, channel in enumerate(channels))
    if after is not None:
        values["after_key"], values["after_id"] = after
    return shape, channels, values


def campaign_page_values(
    filters: Mapping[str, Any], after: tuple[SortKey, int] | None, limit: int
) -> dict[str, Any]:
    """The values of ``campaign_page_statements(filters, ...)``."""
    return _page_values(filters, after, limit)[2]


def _capped(walked: list[asyncpg.Record], channels: list[str], limit: int) -> tuple[bool, ...]:
    """Per channel: did its walk stop at WALK_ROWS short of ``limit`` matches?"""
    matches = dict.fromkeys(channels, 0)
    stopped = set()
    for record in walked:
        matches[record["channel"]] += record["matched"]
        if record["walked"] == WALK_ROWS:
            stopped.add(record["channel"])
    return tuple(channel in stopped and matches[channel] < limit for channel in channels)


async def campaign_page_steps(
    connection: asyncpg.Connection,
    filters: Mapping[str, Any],
    sort: SortField,
    order: SortOrder,
    after: tuple[SortKey, int] | None,
    limit: int,
) -> tuple[list[asyncpg.Record], list[tuple[Statement, bool]], dict[str, Any]]:
    """Runs the page's first statement: its page (or step 1's records), every statement the page runs with
    whether as a generic plan (step 2 as well if some channel's walk was capped: exposed for EXPLAIN in
    benchmarks), and their values."""
    shape, channels, values = _page_values(filters, after, limit)
    statement = _campaign_page_statement(shape, len(channels), sort, order, after is not None)
    records = await statement.fetch(connection, **values)
    if not _split(shape, sort)[1]:
        return records, [(statement, True)], values
    capped = _capped(records, channels, limit)
    if not any(capped):
        return [record for record in records if record["matched"]][:limit], [(statement, True)], values
    beyond = _beyond_walk_statement(shape, capped, sort, order, after is not None)
    return records, [(statement, True), (beyond, False)], values


async def campaign_page(
    connection: asyncpg.Connection,
    filters: Mapping[str, Any],
    sort: SortField,
    order: SortOrder,
    after: tuple[SortKey, int] | None,
    limit: int,
) -> list[asyncpg.Record]:
    """Up to ``limit`` campaigns after ``after`` (sort key, id): each record has the CAMPAIGN_FIELDS, then
    possibly columns of the statement's own, then ``sort_key`` (never NULL: CAMPAIGN_SORT_KEYS) and the row
    ``id``.

    ``filters``: request parameters by name; ``channel`` and those named in CAMPAIGN_FILTERS filter, None or
    empty ones not.
    """
    records, steps, values = await campaign_page_steps(connection, filters, sort, order, after, limit)
    if len(steps) == 1:
        return records
    beyond, _ = steps[1]
    async with connection.transaction():  # a custom plan for this statement only
        await connection.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        return await beyond.fetch(connection, **values)


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
