"""The query API conforms to its OpenAPI document: schemathesis's whole run with every check.

In-process against the real app (lifespan included) with this test's own PostgreSQL database, seeded so
that responses are not empty, and Kafka topics: every accepted POST is published for real. What the schema
calls valid is accepted, what it calls invalid is refused, every response is documented and matches its
model, writes without the API key are refused (demetra_testkit.conformance says which failures it drops,
and why).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from demetra_common.contracts import Channel, SyncEventType
from demetra_common.topics import Topics
from demetra_query_api.app import create_app
from demetra_query_api.settings import QueryApiSettings
from demetra_testkit import read_topic
from demetra_testkit.conformance import check_conformance, documented_rules

pytestmark = pytest.mark.timeout(300)

API_KEY = "test-key-for-the-query-api"
SEED = 20261201
EXAMPLES_PER_OPERATION = 40
MIN_CASES = 900


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


def test_every_request_the_schema_allows_is_served_and_every_other_refused(
    settings_factory: Callable[..., QueryApiSettings],
    some_data: None,
    kafka_bootstrap: str,
    topics: Topics,
) -> None:
    # Writes are rate-limited per client; a limit this high lets every valid POST reach Kafka.
    settings = settings_factory(mock_campaigns_per_channel=20, sync_rate_limit="100000/minute")
    report = check_conformance(
        create_app(settings), api_key=API_KEY, seed=SEED, max_examples=EXAMPLES_PER_OPERATION
    )
    print(report.summary())
    report.assert_conforms(min_cases=MIN_CASES)
    assert report.statuses[200] > 100 and report.statuses[422] > 100, report.summary()
    published = asyncio.run(
        read_topic(kafka_bootstrap, topics.sync_requested, count=report.statuses[202], idle_after=1.0)
    )
    assert len(published) == report.statuses[202]


TODAY = dt.datetime.now(dt.UTC).date()
# One request breaking each rule the schema can only describe: (method, path template, query or body, the
# field the 422 must name). The conformance run excuses such 422s; here each is held to its description.
BROKEN_RULES: list[tuple[str, str, str | dict[str, Any], tuple[str, str]]] = [
    ("GET", "/api/campaigns", "min_roi=1&max_roi=0", ("query", "max_roi")),
    ("GET", "/api/campaigns", "min_cost=2&max_cost=1", ("query", "max_cost")),
    ("GET", "/api/campaigns", "date_from=2026-11-02&date_to=2026-11-01", ("query", "date_to")),
    ("GET", "/api/campaigns", "cursor=bm90LWlzc3VlZA", ("query", "cursor")),
    ("GET", "/api/metrics/summary", "date_from=2026-11-02&date_to=2026-11-01", ("query", "date_to")),
    ("GET", "/api/metrics/timeseries", "date_from=2000-01-01", ("query", "date_from")),
    ("GET", "/api/metrics/timeseries", "date_from=2026-11-02&date_to=2026-11-01", ("query", "date_to")),
    ("GET", "/api/insights", "date_from=2026-11-02&date_to=2026-11-01", ("query", "date_to")),
    ("GET", "/api/insights", "cursor=bm90LWlzc3VlZA", ("query", "cursor")),
    ("GET", "/api/restatements", "cursor=bm90LWlzc3VlZA", ("query", "cursor")),
    ("GET", "/api/syncs", "cursor=bm90LWlzc3VlZA", ("query", "cursor")),
    ("POST", "/api/syncs", {"date_from": "2026-11-02", "date_to": "2026-11-01"}, ("body", "date_to")),
    ("POST", "/api/syncs", {"date_from": "2026-11-01", "date_to": "2099-01-01"}, ("body", "date_to")),
    ("POST", "/api/syncs", {"date_from": "2000-01-01", "date_to": TODAY.isoformat()}, ("body", "date_from")),
]


async def test_each_documented_rule_broken_is_a_422_naming_its_documented_field(
    client: httpx.AsyncClient,
) -> None:
    rules = documented_rules((await client.get("/openapi.json")).json())
    for method, path, data, field in BROKEN_RULES:
        if isinstance(data, dict):
            response = await client.post(path, json=data, headers={"X-API-Key": API_KEY})
        else:
            response = await client.get(f"{path}?{data}")
        assert response.status_code == 422, (method, path, data, response.text)
        assert [tuple(error["loc"]) for error in response.json()["detail"]] == [field], (path, data)
        assert field in rules[(method, path)], f"{method} {path}: {field} has no (else 422) description"
