"""The campaign list as CSV: a header of the response fields (CampaignOut's, CAMPAIGN_FIELDS), then one
line per campaign with the values the JSON list serves (ISO dates and times, shortest float repr, null as
empty)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import AsyncIterator, Iterable
from typing import Any

from demetra_query_api.campaigns.repository import CAMPAIGN_FIELDS

MEDIA_TYPE = "text/csv; charset=utf-8"
# How many campaigns each database read of an export fetches (one keyset page).
BATCH = 1000


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dt.date):  # dates and datetimes as the JSON list writes them
        return value.isoformat()
    return value


def csv_lines(items: Iterable[dict[str, Any]], *, header: bool = False) -> bytes:
    """``items`` as CSV lines (RFC 4180: CRLF, quoted where needed), after the header if asked."""
    out = io.StringIO()
    writer = csv.writer(out)
    if header:
        writer.writerow(CAMPAIGN_FIELDS)
    writer.writerows([_cell(item[field]) for field in CAMPAIGN_FIELDS] for item in items)
    return out.getvalue().encode()


async def csv_stream(
    batches: AsyncIterator[list[dict[str, Any]]], first: list[dict[str, Any]]
) -> AsyncIterator[bytes]:
    """The header and ``first`` (read before the response started, so that its errors are still HTTP
    errors), then every batch that follows, each as soon as it is read."""
    yield csv_lines(first, header=True)
    async for batch in batches:
        yield csv_lines(batch)
