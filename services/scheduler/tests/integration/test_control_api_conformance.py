"""The scheduler's control API conforms to its OpenAPI document: schemathesis's whole run with every check.

In-process against the real app (lifespan included) on this test's own Kafka topics: sync-now publishes
for real, start and stop write the durable state. Writes without the API key are refused.
"""

from __future__ import annotations

import asyncio

import pytest

from demetra_common.topics import Topics
from demetra_scheduler.app import create_app
from demetra_scheduler.settings import SchedulerSettings
from demetra_testkit import read_topic
from demetra_testkit.conformance import check_conformance

pytestmark = pytest.mark.timeout(180)

API_KEY = "scheduler-test-key"
SEED = 20261201
EXAMPLES_PER_OPERATION = 40
MIN_CASES = 100
NO_NEARBY_SLOT_CRON = "0 0 29 2 *"  # 29 February, midnight: no scheduled sync during the test


def test_the_control_api_serves_what_its_schema_allows_and_refuses_the_rest(
    kafka_bootstrap: str, topics: Topics, service_env: dict[str, str]
) -> None:
    settings = SchedulerSettings(_env_file=None, api_key=API_KEY, sync_cron=NO_NEARBY_SLOT_CRON)
    report = check_conformance(
        create_app(settings), api_key=API_KEY, seed=SEED, max_examples=EXAMPLES_PER_OPERATION
    )
    print(report.summary())
    report.assert_conforms(min_cases=MIN_CASES)
    # Every accepted sync-now is one SyncRequested on the topic.
    published = asyncio.run(
        read_topic(kafka_bootstrap, topics.sync_requested, count=report.statuses[202], idle_after=1.0)
    )
    assert len(published) == report.statuses[202]
