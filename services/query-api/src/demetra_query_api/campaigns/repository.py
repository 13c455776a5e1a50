"""The campaign statements: a page of campaigns (filters from one table, keyset position), one by id, and
one campaign's daily history."""

from __future__ import annotations

import datetime as dt
import operator
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
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
    true,
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
from demetra_query_api.metrics.repository import doubles, metric_columns, with_doubles
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
# ends there (an index condition), so every row it reads matches that filter. Not a campaign id prefix: a
# generic plan cannot make a range of a LIKE pattern it does not know, so the walk checks it row by row;
# step 2 (a custom plan, with a time budget) reads it as a range (which PostgreSQL makes of a known prefix
# under the C collation; under another, the budget bounds the walk).
_RANGE_OPERATORS = (operator.ge, operator.le)
_CUSTOM_RANGE_OPERATORS = (*_RANGE_OPERATORS, starts_with)

# A page of one channel reads one range of its sort's (channel, key, id) index. Filters on the sort's column
# are the range's bounds; any other filter is checked row by row as the range is walked, and how far that
# walk goes depends on the data: a rare match, a filter anti-correlated with the sort or a campaign id prefix
# of another channel would walk most of the channel before a page (seconds at 1M rows). So a page walks at
# most WALK_ROWS rows of each channel, and may end short:
# 1. The walk (one statement, every channel, generic plan): at most WALK_ROWS rows of each channel's range,
#    each checked (~1 us a row); the first ``limit`` that match and, if the walk stopped there short of
#    ``limit`` matches (the channel is *capped*), the WALK_ROWS-th row (its frontier), merged in order. The
#    page is the matches in that order up to the first frontier met: every match of every channel before it
#    is known. Most pages are full before any frontier (or have none) and end here.
# 2. Only when a frontier came first (few rows match near the start of the order): filter first, for the
#    capped channels, if at most FILTER_FIRST_ROWS rows match: found through the filters' own indexes
#    (counted with a LIMIT), the first ``limit`` of them in order (a top-N sort of at most that many). A
#    capped channel with more matches than that (none near the start) is walked again as in step 1. One
#    statement, planned for its values (a custom plan: which filter's index reads the fewest rows depends on
#    them), the choice made by a CASE over the count, which PostgreSQL evaluates lazily, once; its rows are
#    read as step 1's.
#    Step 2 has a time budget (BEYOND_WALK_MS): past it, step 1's page stands.
# A page that meets a frontier ends there, short (possibly empty), and its next cursor is the frontier's
# position: paging stays exact keyset paging (every row before the frontier was served, none after). A page
# reads at most channels x WALK_ROWS rows in step 1, and step 2 runs for at most BEYOND_WALK_MS.
# WALK_ROWS stays where PostgreSQL's costs still read that many rows through the index rather than sort the
# channel; both are literals in the statements.
WALK_ROWS = 1000
FILTER_FIRST_ROWS = 1000
# Step 2's rows are bounded by the filters' selectivity, not by a number (counting FILTER_FIRST_ROWS matches
# may read many more rows that other filters reject, or collect a bitmap of every match first), so it runs
# with a time budget: past it PostgreSQL cancels it and step 1's page, short at its frontier, is served.
BEYOND_WALK_MS = 20
_BEYOND_WALK_SESSION = (
    f"SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL statement_timeout = {BEYOND_WALK_MS}"
)


def _split(shape: Shape, sort: SortField, custom: bool = False) -> tuple[Shape, Shape]:
    """The filters of ``shape`` that are a range of the sort's index (in a ``custom`` plan or any), and the
    others (checked row by row)."""
    key = CAMPAIGN_SORT_KEYS[sort]
    ranges = _CUSTOM_RANGE_OPERATORS if custom else _RANGE_OPERATORS
    on_key = tuple(
        (name, variant)
        for name, variant in shape
        if (row := CAMPAIGN_FILTERS[name]).column is key
        and isinstance(row, Compare)
        and row.operator in ranges
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


# Where a row version lies in the table: the walk's kept rows are read there again (a TID scan, within the
# statement's snapshot), not through the primary key.
_ROW_VERSION: ColumnElement[Any] = literal_column("campaigns.ctid").label("row_version")


def _walk(
    filters: Shape, channel: int, sort: SortField, order: SortOrder, after: bool, custom: bool = False
) -> Select[Any]:
    """Step 1 of one channel: the first ``limit`` of its first WALK_ROWS rows that match (``matched``), and
    the WALK_ROWS-th row whether it matches or not (``walked`` = WALK_ROWS: the walk stopped there). The
    walk reads only what it checks; the rows it keeps are read again where they lie, for their fields."""
    on_key, others = _split(filters, sort, custom)
    checks = [CAMPAIGN_FILTERS[name].clause(name, variant) for name, variant in others]
    matched = and_(*checks) if checks else true()  # in step 2 every filter may be a range
    walk_rows = _literal(WALK_ROWS)
    ranged = _channel_rows((matched.label("matched"), _ROW_VERSION), on_key, channel, sort, order, after)
    read = ranged.limit(walk_rows).subquery(f"walk_{channel}")
    numbered = select(*read.c, func.row_number().over().label("walked")).subquery(f"walked_{channel}")
    # A subquery's rows reach the window in its order (the walk's), so the numbers count the rows walked.
    kept = (
        select(*numbered.c)
        .where(or_(numbered.c.matched, numbered.c.walked == walk_rows))
        .limit(_limit())
        .subquery(f"kept_{channel}")
    )
    fields = select(*_CAMPAIGN_COLUMNS, kept.c.matched, kept.c.sort_key, kept.c.id, kept.c.walked)
    # At most ``limit`` rows already; the LIMIT shows the planner (and the plan rule) as much.
    row = CampaignRow.__table__
    return fields.join_from(kept, row, kept.c.row_version == _ROW_VERSION).limit(_limit())


_FILTER_FIRST, _WALK_AGAIN = _literal(1), _literal(2)


def _beyond_walk(filters: Shape, channel: int, sort: SortField, order: SortOrder, after: bool) -> Select[Any]:
    """Step 2 of one channel whose walk was capped: its first ``limit`` matches filter first if there are
    at most FILTER_FIRST_ROWS of them, else its walk (step 1's rows) again."""
    first_rows = _literal(FILTER_FIRST_ROWS)
    matching = _channel_rows(_CAMPAIGN_COLUMNS, filters, channel, sort, order, after)
    found = matching.order_by(None).cte(f"found_{channel}")
    counted = select(func.count()).select_from(select(found.c.id).limit(first_rows + 1).subquery())
    few = counted.scalar_subquery() <= first_rows
    way = select(select(case((few, _FILTER_FIRST), else_=_WALK_AGAIN).label("way")).cte(f"way_{channel}"))
    taken = way.scalar_subquery()
    every_match = (*(found.c[name] for name in CAMPAIGN_FIELDS), true().label("matched"))
    filter_first = select(*every_match, found.c.sort_key, found.c.id, _literal(0).label("walked"))
    filter_first = _in_order(
        filter_first.where(taken == _FILTER_FIRST), sort, order, found.c.sort_key, found.c.id
    )
    walk_again = _walk(filters, channel, sort, order, after, custom=True).where(taken == _WALK_AGAIN)
    return union_all(filter_first.limit(_limit()), walk_again).subquery(f"beyond_{channel}").select()


def _merged(ranges: list[Select[Any]], sort: SortField, order: SortOrder) -> Select[Any]:
    """The channels' ranges (each in order, at most ``limit`` rows) in order: their first ``limit`` rows."""
    merged = union_all(*ranges).subquery("channel_ranges") if len(ranges) > 1 else ranges[0].subquery()
    return _in_order(select(*merged.c), sort, order, merged.c.sort_key, merged.c.id).limit(_limit())


@lru_cache(maxsize=1024)
def _campaign_page_statement(
    filters: Shape, channels: int, sort: SortField, order: SortOrder, after: bool
) -> Statement:
    """Filters only on the sort's column: one range per channel, the whole page. Others: step 1."""
    if _split(filters, sort)[1]:  # the rows walked that match, and the last walked if the walk stopped
        walks = [_walk(filters, channel, sort, order, after) for channel in range(channels)]
        # The page's scan (_walked_page) ends within the first ``limit`` rows: each is a match or a frontier.
        return compile_statement(_merged(walks, sort, order))
    ranges = [
        _channel_rows(_CAMPAIGN_COLUMNS, filters, channel, sort, order, after).limit(_limit())
        for channel in range(channels)
    ]
    return compile_statement(ranges[0] if channels == 1 else _merged(ranges, sort, order))


@lru_cache(maxsize=1024)
def _beyond_walk_statement(
    filters: Shape, capped: tuple[bool, ...], sort: SortField, order: SortOrder, after: bool
) -> Statement:
    """Step 2: the capped channels beyond their walk, the others walked as in step 1."""
    ranges = [
        _beyond_walk(filters, channel, sort, order, after)
        if stopped
        else _walk(filters, channel, sort, order, after, custom=True)
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


@dataclass(frozen=True, slots=True)
class PageRows:
    """A page's rows: at most ``limit``, in order (each with the CAMPAIGN_FIELDS, then possibly columns of
    the statement's own, then ``sort_key``, never NULL: CAMPAIGN_SORT_KEYS, and the row ``id``)."""

    records: list[asyncpg.Record]
    # Set when the page ended short of ``limit`` at a walk's frontier: its (sort key, id), where the next
    # page starts. None: the records are every row up to ``limit``.
    frontier: tuple[SortKey, int] | None = None


def _short(records: list[asyncpg.Record], limit: int) -> set[str]:
    """The channels whose walk (in ``records``, a walk's first ``limit`` rows) stopped at WALK_ROWS short of
    ``limit`` matches: capped. (One whose frontier lies beyond those rows is walked again in step 2.)"""
    matches: Counter[str] = Counter()
    stopped = set()
    for record in records:
        matches[record["channel"]] += record["matched"]
        if record["walked"] == WALK_ROWS:
            stopped.add(record["channel"])
    return {channel for channel in stopped if matches[channel] < limit}


def _walked_page(records: list[asyncpg.Record], limit: int) -> PageRows:
    """The page in a walk's merged rows: the matches, in order, up to ``limit`` or to the first frontier
    (included if it matches), where the page ends short. A channel's frontier is among its rows only if it
    had fewer than ``limit`` matches before it, all of them before it in the merged order: met before the
    page is full, it is the frontier of a capped channel."""
    page = []
    for record in records:
        if record["matched"]:
            page.append(record)
            if len(page) == limit:
                break
        if record["walked"] == WALK_ROWS:
            return PageRows(page, (record["sort_key"], record["id"]))
    return PageRows(page)


async def campaign_page_steps(
    connection: asyncpg.Connection,
    filters: Mapping[str, Any],
    sort: SortField,
    order: SortOrder,
    after: tuple[SortKey, int] | None,
    limit: int,
) -> tuple[PageRows, list[tuple[Statement, bool]], dict[str, Any]]:
    """A page of campaigns (``campaign_page``), every statement it ran with whether as a generic plan
    (step 2 as well if a capped channel's frontier came first: exposed for EXPLAIN in tests and
    benchmarks), and their values."""
    shape, channels, values = _page_values(filters, after, limit)
    statement = _campaign_page_statement(shape, len(channels), sort, order, after is not None)
    records = await statement.fetch(connection, **values)
    if not _split(shape, sort)[1]:
        return PageRows(records), [(statement, True)], values
    page = _walked_page(records, limit)
    if page.frontier is None:
        return page, [(statement, True)], values
    capped = _short(records, limit)
    beyond = _beyond_walk_statement(
        shape, tuple(channel in capped for channel in channels), sort, order, after is not None
    )
    try:
        async with connection.transaction():  # a custom plan and the budget for this statement only
            await connection.execute(_BEYOND_WALK_SESSION)
            records = await beyond.fetch(connection, **values)
    except asyncpg.QueryCanceledError:  # past BEYOND_WALK_MS: step 1's page, short, stands
        return page, [(statement, True), (beyond, False)], values
    return _walked_page(records, limit), [(statement, True), (beyond, False)], values


async def campaign_page(
    connection: asyncpg.Connection,
    filters: Mapping[str, Any],
    sort: SortField,
    order: SortOrder,
    after: tuple[SortKey, int] | None,
    limit: int,
) -> PageRows:
    """Up to ``limit`` campaigns after ``after`` (sort key, id), fewer if the page ended short at a walk's
    frontier (then the next page starts there).

    ``filters``: request parameters by name; ``channel`` and those named in CAMPAIGN_FILTERS filter, None or
    empty ones not.
    """
    return (await campaign_page_steps(connection, filters, sort, order, after, limit))[0]


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
_DAY_VALUES = {metric.value: days[metric.value] for metric in ADDITIVE}
# A campaign's days in a range (public for EXPLAIN in tests): HISTORY_DAY_FIELDS, then the channel. Each
# additive metric once per row as a double (``with_doubles``: cost is numeric, in five of the fields).
_DAYS_IN_RANGE = (
    select(days.date, days.channel, days.fetched_at, days.sync_id, *with_doubles(_DAY_VALUES))
    .where(
        days.campaign_id == bindparam("campaign_id", type_=Text),
        days.date >= bindparam("date_from", type_=Date),
        days.date <= bindparam("date_to", type_=Date),
    )
    .order_by(days.date)
    .subquery("days")
)
CAMPAIGN_DAYS = compile_statement(
    select(
        _DAYS_IN_RANGE.c.date,
        *metric_columns(ALL_METRICS, *doubles(_DAYS_IN_RANGE)),
        _DAYS_IN_RANGE.c.fetched_at,
        _DAYS_IN_RANGE.c.sync_id,
        _DAYS_IN_RANGE.c.channel,
    ).order_by(_DAYS_IN_RANGE.c.date)
)


async def campaign_days(
    connection: asyncpg.Connection, campaign_id: str, first: dt.date, last: dt.date
) -> list[asyncpg.Record]:
    """The campaign's daily rows from ``first`` to ``last``, oldest first (HISTORY_DAY_FIELDS, then the
    channel): the primary key (campaign_id, date) of only the partitions of that range serves it."""
    return await CAMPAIGN_DAYS.fetch(connection, campaign_id=campaign_id, date_from=first, date_to=last)
