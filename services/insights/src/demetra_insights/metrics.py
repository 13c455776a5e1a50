"""Prometheus metrics of the insights service (served by demetra_common.ops at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

ANALYSES = Counter(
    "demetra_insights_analyses_total",
    "Channel analyses completed (committed and published), by trigger (channel.loaded, metric.restated).",
    ["trigger"],
)
CHANGES = Counter(
    "demetra_insights_changes_total",
    "Insight changes committed, by what happened (opened, updated, resolved).",
    ["change"],
)
PUBLISHED = Counter(
    "demetra_insights_events_published_total",
    "insight.detected / insight.resolved events published.",
)
ANALYSIS_SECONDS = Histogram(
    "demetra_insights_analysis_seconds",
    "One channel's analysis: rows read, judged, reconciled and committed.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
