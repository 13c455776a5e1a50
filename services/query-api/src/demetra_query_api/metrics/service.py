"""The metrics summary, the core: totals and KPIs per channel (and day), and keeping its aggregate fresh."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

import asyncpg

from demetra_common.contracts import ALL_CHANNELS
from demetra_query_api.db import Database, DatabaseUnavailable
from demetra_query_api.metrics import repository
from demetra_query_api.metrics.kpis import Totals

logger = logging.getLogger(__name__)


async def metrics_summary(
    connection: asyncpg.Connection, filters: Mapping[str, Any], *, per_day: bool
) -> dict[str, Any]:
    """Totals and KPIs per channel (every asked channel, zeros if it has no data), optionally per day.

    ``filters`` are the request's parameters by name (SummaryQuery's): ``channel`` (a list), ``date_from``
    and ``date_to``; the repository's filter table says how each one filters.
    """
    wanted = list(dict.fromkeys(filters.get("channel") or ALL_CHANNELS))
    rows = await repository.daily_totals(connection, filters, per_day=per_day)
    as_of, computed_at = await repository.freshness(connection)
    per_channel: dict[str, Totals] = {}
    days: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        per_channel[row.channel] = per_channel.get(row.channel, Totals()) + row.totals
        if per_day and row.date is not None:
            days.setdefault(row.channel, []).append({"date": row.date, **row.totals.as_dict()})
    summaries = []
    for channel in wanted:
        entry: dict[str, Any] = {
            "channel": channel.value,
            **per_channel.get(channel.value, Totals()).as_dict(),
            "as_of": as_of.get(channel.value),
        }
        if per_day:
            entry["days"] = days.get(channel.value, [])
        summaries.append(entry)
    total = sum((per_channel.get(c.value, Totals()) for c in wanted), Totals())
    return {
        "date_from": filters.get("date_from"),
        "date_to": filters.get("date_to"),
        "computed_at": computed_at,
        "channels": summaries,
        "totals": total.as_dict(),
    }


async def refresh_summary(
    connection: asyncpg.Connection, *, max_age: dt.timedelta, force: bool = False
) -> bool:
    """Refresh the summary aggregate if campaigns changed (or it is older than ``max_age``), in a
    transaction of its own: the advisory lock that keeps refreshers apart lasts until it commits."""
    async with connection.transaction():
        return await repository.refresh_daily_metrics(connection, max_age=max_age, force=force)


async def refresh_summary_periodically(
    database: Database, *, interval: dt.timedelta, max_age: dt.timedelta
) -> None:
    """Keep the metrics summary aggregate fresh: every ``interval``, refresh it if campaigns changed.

    Runs in every API process; an advisory lock lets only one refresh at a time, and the change marker stored
    with the aggregate stops the others from refreshing again for nothing.
    """
    while True:
        try:
            async with database.connection() as connection:
                if await refresh_summary(connection, max_age=max_age):
                    logger.info("metrics summary aggregate refreshed")
        except DatabaseUnavailable:
            pass  # already logged; try again next round
        except Exception as exc:  # a background loop must outlive any one failure
            logger.warning("refreshing the metrics summary aggregate failed: %s", exc)
        await asyncio.sleep(interval.total_seconds())
