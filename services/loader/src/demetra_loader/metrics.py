"""Prometheus metrics of the loader (served by demetra_common.ops at /metrics).

Declared once per process, as prometheus_client expects; declaring a metric connects to nothing. The lag of
the loader's groups is measured outside the loader (the scheduler's ``demetra_consumer_lag``), so it is still
reported while the loader stalls.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from demetra_common.contracts import LoadCounts

BATCHES = Counter("demetra_loader_batches_total", "campaign.fetched batches committed to PostgreSQL.")
ROWS = Counter(
    "demetra_loader_rows_total",
    "campaign.fetched messages by what loading them did (inserted, updated, unchanged, rejected).",
    ["outcome"],
)
SKIPPED = Counter(
    "demetra_loader_redelivered_skipped_total",
    "Redelivered campaign.fetched messages skipped because an earlier delivery already applied them.",
)
DAILY_ROWS = Counter(
    "demetra_loader_daily_rows_total", "Daily rows (campaign x day) carried by the schema-2 messages counted."
)
RESTATED = Counter(
    "demetra_loader_restatements_total",
    "Past days' metrics that newer fetches changed (restatements recorded).",
)
ANNOUNCED = Counter(
    "demetra_loader_channels_announced_total",
    "ChannelLoaded announcements published on channel.loaded (a (sync, channel) completely loaded).",
)
DEAD_LETTERS = Counter("demetra_loader_dead_letters_total", "Messages published to campaign.fetched.dlq.")
BATCH_SECONDS = Histogram(
    "demetra_loader_batch_seconds",
    "Time to commit one batch, retries included.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
RETRIES = Counter(
    "demetra_loader_retries_total", "Failed attempts that were retried, by operation.", ["operation"]
)
EVENTS = Counter(
    "demetra_loader_sync_events_total",
    "sync.requested and sync.events messages by result (recorded, duplicate, rejected).",
    ["result"],
)


def record_batch(totals: LoadCounts, skipped: int, seconds: float) -> None:
    """One committed batch; each of its rejected records was dead-lettered."""
    BATCHES.inc()
    ROWS.labels("inserted").inc(totals.inserted)
    ROWS.labels("updated").inc(totals.updated)
    ROWS.labels("unchanged").inc(totals.unchanged)
    ROWS.labels("rejected").inc(totals.rejected)
    DAILY_ROWS.inc(totals.rows)
    RESTATED.inc(totals.restated)
    DEAD_LETTERS.inc(totals.rejected)
    SKIPPED.inc(skipped)
    BATCH_SECONDS.observe(seconds)
