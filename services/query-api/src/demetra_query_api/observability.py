"""The query API's HTTP metrics per route (prometheus-fastapi-instrumentator; the ops endpoints left out),
and the gauge of recent sync outcomes that the alert rules watch (failed, partial, timed out). Its HTTP spans
are FastAPI's own (``demetra_common.ops.http_telemetry``)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from fastapi import FastAPI
from prometheus_client import Gauge
from prometheus_fastapi_instrumentator import Instrumentator

from demetra_common.contracts import utcnow
from demetra_common.ops import OPS_PATHS
from demetra_common.sync_status import SyncState
from demetra_query_api.db import Database, DatabaseUnavailable
from demetra_query_api.syncs import service as syncs

logger = logging.getLogger(__name__)

# demetra_query_api_http_requests_total{handler,method,status}, ..._http_request_duration_seconds, ...
METRIC_NAMESPACE, METRIC_SUBSYSTEM = "demetra", "query_api"


def instrument(app: FastAPI) -> None:
    Instrumentator(excluded_handlers=list(OPS_PATHS)).instrument(
        app, metric_namespace=METRIC_NAMESPACE, metric_subsystem=METRIC_SUBSYSTEM
    )


SYNCS_RECENT = Gauge(
    "demetra_syncs_recent",
    "Syncs started in the last SYNC_METRICS_WINDOW_S seconds, by derived status and whether a channel timed "
    "out (derived from the events table, as GET /api/syncs does).",
    ["status", "timed_out"],
)


async def export_sync_outcomes_periodically(
    database: Database, *, interval: dt.timedelta, window: dt.timedelta, timeout: dt.timedelta
) -> None:
    """Every ``interval``, count the recent syncs by outcome into ``demetra_syncs_recent`` (every status
    exported, 0 included, so an alert rule always has a series to compare)."""
    while True:
        try:
            now = utcnow()
            async with database.connection() as connection:
                counts = await syncs.recent_outcomes(connection, since=now - window, now=now, timeout=timeout)
            for state in SyncState:
                for timed_out in (False, True):
                    SYNCS_RECENT.labels(state.value, str(timed_out).lower()).set(counts[state, timed_out])
        except DatabaseUnavailable:
            pass  # already logged; try again next round
        except Exception as exc:  # a background loop must outlive any one failure
            logger.warning("counting recent sync outcomes failed: %s", exc)
        await asyncio.sleep(interval.total_seconds())
