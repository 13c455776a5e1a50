"""Retrying until success: a batch is never dropped because PostgreSQL or Kafka is away."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential, wait_random

from demetra_loader import metrics

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retry until success with capped exponential backoff; only shutdown (cancellation) ends the retries."""

    initial_s: float = 0.2
    max_s: float = 10.0

    def retrying(self, what: str) -> AsyncRetrying:
        def before_sleep(state: RetryCallState) -> None:
            metrics.RETRIES.labels(what).inc()
            error = state.outcome.exception() if state.outcome else None
            logger.warning(
                "%s failed (attempt %d), retrying in %.1fs: %r",
                what,
                state.attempt_number,
                state.next_action.sleep if state.next_action else 0.0,
                error,
            )

        return AsyncRetrying(
            retry=retry_if_exception_type(Exception),
            wait=wait_exponential(multiplier=self.initial_s, max=self.max_s) + wait_random(0, self.initial_s),
            before_sleep=before_sleep,
            reraise=True,
        )
