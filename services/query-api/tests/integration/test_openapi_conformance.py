"""schemathesis over /openapi.json, in-process against the ASGI app with a real database and Kafka.

Every operation gets generated requests, valid and invalid; no response may be a 5xx, and every response
must match what the schema declares (status code, content type, body).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.generation import GenerationMode
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from demetra_common.contracts import Channel, SyncEventType
from demetra_query_api.app import create_app
from demetra_query_api.settings import QueryApiSettings

API_KEY = "test-key-for-the-query-api"
EXAMPLES_PER_OPERATION = 40
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
async def some_data(seed: Any) -> None:
    """A few rows so that generated requests also hit real campaigns, insights and syncs."""
    await seed.campaigns(
        [
            seed.row(f"fb_{i:04d}", roi=i / 10 - 1, cost=i * 1.5, date=dt.date(2026, 11, 1 + i % 20))
            for i in range(60)
        ]
    )
    today = dt.datetime.now(dt.UTC).date()
    await seed.days(
        [
            seed.day(f"fb_{i:04d}", today - dt.timedelta(days=day), clicks=i, conversions=i % 3, cost=i * 0.5)
            for i in range(10)
            for day in range(0, 120, 7)
        ]
    )
    await seed.restatements(
        [seed.restatement(f"fb_{i:04d}", today - dt.timedelta(days=i)) for i in range(10)]
    )
    await seed.insights(
        [
            seed.insight(
                f"fb_{i:04d}" if i else None,
                today - dt.timedelta(days=i),
                kind=("cpa_spike", "tracking_break")[i % 2],
                severity=("info", "warning", "critical")[i % 3],
                status="resolved" if i % 4 == 0 else "open",
                resolved_at=dt.datetime.now(dt.UTC) if i % 4 == 0 else None,
                money_at_stake=50.0 * i,
            )
            for i in range(8)
        ]
    )
    await seed.refreshed_summary()
    sync = seed.sync("sched-20261125T1400Z", dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2))
    await sync.requested([Channel.FACEBOOK, Channel.TIKTOK])
    await sync.fetch(Channel.FACEBOOK, SyncEventType.FETCH_COMPLETED, 1, count=2)
    await sync.load(Channel.FACEBOOK, 2, inserted=2)


def test_no_generated_request_gets_a_server_error_or_an_undeclared_response(
    settings_factory: Callable[..., QueryApiSettings], some_data: None
) -> None:
    app = create_app(settings_factory(mock_campaigns_per_channel=20))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    results = list(schema.get_all_operations())
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) == len(results), "every operation in the schema is valid"
    assert len(operations) >= 15
    statuses: Counter[int] = Counter()
    try:
        for operation, mode in itertools.product(operations, GenerationMode):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            def exercise(case: Any) -> None:
                headers = {"X-API-Key": API_KEY} if case.method == "POST" else {}
                response = case.call(headers=headers)
                statuses[response.status_code] += 1
                case.validate_response(response, checks=CHECKS)

            try:
                exercise()
            except Unsatisfiable:
                if mode is GenerationMode.POSITIVE:
                    raise
                # nothing to get wrong: the operation takes no parameters and no body
    finally:
        asgi.shutdown_lifespans()  # stop the app before its database is dropped
    # Both kinds of data reached the app: accepted requests and refused ones.
    assert statuses[200] > 100 and statuses[422] > 50 and statuses[202] > 0, statuses
    print("status codes of generated requests:", dict(sorted(statuses.items())))
