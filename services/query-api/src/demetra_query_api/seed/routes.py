"""Compatibility with the original backend's test endpoints: mock data and "sync now"."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from demetra_common.contracts import ALL_CHANNELS, Channel, utcnow
from demetra_mock import mock_campaigns, mock_slot
from demetra_query_api.deps import ContextDep, SettingsDep
from demetra_query_api.http import json_response
from demetra_query_api.ranges import EARLIEST_DAY, LATEST_DAY
from demetra_query_api.schemas import Moment
from demetra_query_api.seed.schemas import MockAll, MockData
from demetra_query_api.syncs.routes import WRITE_RESPONSES, SyncBody, create_sync
from demetra_query_api.syncs.schemas import SyncAccepted

router = APIRouter(prefix="/api/test", tags=["seed compatibility"])
# Write endpoints: the app includes this router behind the API key check.
writes = APIRouter(prefix="/api/test", tags=["seed compatibility"])

AsOf = Annotated[
    Moment | None,
    Query(
        description="Moment whose hour slot to describe (ISO 8601 with seconds; UTC if no offset; years "
        f"{EARLIEST_DAY.year}-{LATEST_DAY.year}). Now when omitted."
    ),
]


def _slot(as_of: dt.datetime | None) -> dt.datetime:
    if as_of is None:
        return mock_slot(utcnow())
    if as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=dt.UTC)
    return mock_slot(as_of)


@router.get(
    "/mock-data",
    response_model=MockData,
    summary="One channel's mock campaigns",
    description="The campaigns the channel's mock source (the ingestors' own code) reports for an hour slot.",
)
async def mock_data(
    settings: SettingsDep,
    channel: Annotated[Channel, Query(description="The channel.")] = Channel.FACEBOOK,
    as_of: AsOf = None,
) -> Response:
    slot = _slot(as_of)
    campaigns = [
        c.model_dump(mode="json") for c in mock_campaigns(channel, slot, settings.mock_campaigns_per_channel)
    ]
    return json_response({"channel": channel, "as_of": slot, "count": len(campaigns), "campaigns": campaigns})


@router.get("/mock-all", response_model=MockAll, summary="Every channel's mock campaigns")
async def mock_all(settings: SettingsDep, as_of: AsOf = None) -> Response:
    slot = _slot(as_of)
    campaigns = []
    by_channel: dict[str, int] = {}
    for channel in ALL_CHANNELS:
        batch = [
            c.model_dump(mode="json")
            for c in mock_campaigns(channel, slot, settings.mock_campaigns_per_channel)
        ]
        by_channel[channel.value] = len(batch)
        campaigns.extend(batch)
    return json_response(
        {"as_of": slot, "count": len(campaigns), "by_channel": by_channel, "campaigns": campaigns}
    )


@writes.post(
    "/sync-now",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SyncAccepted,
    summary="Request a sync now (same as POST /api/syncs)",
    responses=WRITE_RESPONSES,
)
async def sync_now(request: Request, context: ContextDep, body: SyncBody = None) -> Response:
    return await create_sync(request, context, body)
