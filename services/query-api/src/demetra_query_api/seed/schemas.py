"""Response models of /api/test (the original backend's mock data)."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, Field

from demetra_common.contracts import Campaign as MockCampaign
from demetra_common.contracts import Channel


class MockData(BaseModel):
    """One channel's mock campaigns at an hour slot: what that channel's ingestor would fetch."""

    channel: Channel
    as_of: AwareDatetime = Field(description="The hour slot the data describes.")
    count: int
    campaigns: list[MockCampaign]


class MockAll(BaseModel):
    """Every channel's mock campaigns at an hour slot."""

    as_of: AwareDatetime
    count: int
    by_channel: dict[str, int] = Field(description="Campaigns per channel.")
    campaigns: list[MockCampaign]
