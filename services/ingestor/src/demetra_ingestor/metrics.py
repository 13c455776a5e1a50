"""Prometheus metrics of the ingestor, served at /metrics (one registration per process)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

MESSAGES_PUBLISHED = Counter(
    "demetra_ingestor_messages_published",
    "Messages the ingestor published and Kafka acknowledged.",
    ["channel", "topic"],
)
FETCH_DURATION = Histogram(
    "demetra_ingestor_fetch_duration_seconds",
    "Duration of one channel's fetch of one sync, from fetch.started to fetch.completed or fetch.failed.",
    ["channel", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900),
)
FETCH_FAILURES = Counter(
    "demetra_ingestor_fetch_failures", "Fetches that ended in fetch.failed.", ["channel"]
)
SOURCE_RETRIES = Counter(
    "demetra_ingestor_source_retries", "Source page requests retried after a transient error.", ["channel"]
)
INVALID_REQUESTS = Counter(
    "demetra_ingestor_invalid_requests", "sync.requested messages skipped because they were invalid."
)
DAYS_PUBLISHED = Counter(
    "demetra_ingestor_days_published",
    "Daily rows (campaign x day) in the campaign.fetched messages Kafka acknowledged.",
    ["channel"],
)
REQUESTS_NOT_FETCHED = Counter(
    "demetra_ingestor_requests_not_fetched",
    "Requests answered without fetching: skipped (the channel was fetched completely) or expired.",
    ["channel", "reason"],
)
