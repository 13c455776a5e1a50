"""Where campaigns come from. ``base`` is the interface; ``mock`` a deterministic stand-in for the APIs."""

from demetra_ingestor.sources.base import (
    CampaignReport,
    CampaignSource,
    Page,
    SourceError,
    SourceRejected,
    SourceUnavailable,
)

__all__ = ["CampaignReport", "CampaignSource", "Page", "SourceError", "SourceRejected", "SourceUnavailable"]
