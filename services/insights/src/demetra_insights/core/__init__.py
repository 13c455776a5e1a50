"""The pure core of the insights service: daily panels in, explained insights and their lifecycle out.

No framework imports: the service's Kafka edge and repository (later) feed it ``ChannelPanel``s built from
``campaign_daily`` rows and store what ``reconcile`` returns.
"""

from demetra_common.contracts import InsightKind, Severity
from demetra_insights.core.detectors import Analysis, DetectorParams, analyse
from demetra_insights.core.insight import Insight, InsightKey
from demetra_insights.core.lifecycle import Changes, reconcile
from demetra_insights.core.panel import ChannelPanel

__all__ = [
    "Analysis",
    "Changes",
    "ChannelPanel",
    "DetectorParams",
    "Insight",
    "InsightKey",
    "InsightKind",
    "Severity",
    "analyse",
    "reconcile",
]
