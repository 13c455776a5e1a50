"""One real pipeline for the console's browser tests: every service its own process over real Kafka and
PostgreSQL, with a month of mock history in all four channels and one injected tracking break (so there is an
insight to follow). Built once for the module: the console's tests only read, apart from the syncs they
start themselves."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from demetra_common.contracts import ALL_CHANNELS, Channel
from demetra_common.security import API_KEY_HEADER
from demetra_testkit import (
    Service,
    ServiceGroup,
    ServiceProcess,
    create_database,
    drop_database,
    eventually,
    pipeline_env,
    private_topics,
)
from demetra_testkit.syncs import timed_sync, wait_finished
from tests.mock_expectations import biggest_break

API_KEY = "console-test-key"
SIZE = 60  # campaigns per channel: the insights detectors need >= 30 with history
HISTORY_DAYS = 25
BREAK_DAYS = 3


@dataclass
class Pipeline:
    """The running services and what the tests need to reach them."""

    group: ServiceGroup
    api: ServiceProcess
    broken_campaign: str
    as_of: dt.date
    date_from: dt.date

    def start(self, module: str, name: str, **env: str) -> ServiceProcess:
        return self.group.start(module, name, **env)

    def stop(self, name: str) -> None:
        self.group.stop(name)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.api.url, headers={API_KEY_HEADER: API_KEY}, timeout=10)

    async def wait_finished(self, sync_id: str) -> dict[str, Any]:
        return await wait_finished(self.api.url, sync_id, timeout=60, interval=0.3)


def biggest_spender(slot: dt.datetime, date_from: dt.date) -> str:
    """The TikTok campaign that runs the whole window and spends most on its last days: its tracking break
    puts the most money at stake, so the insight it raises is sure to be reported."""
    return biggest_break(Channel.TIKTOK, slot, SIZE, date_from, BREAK_DAYS)[0]


@pytest.fixture(scope="module")
async def pipeline(
    kafka_bootstrap: str,
    postgres_server_url: str,
    migrated_template: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Pipeline]:
    slot = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)  # the API's sync slot
    as_of = slot.date()
    date_from = as_of - dt.timedelta(days=HISTORY_DAYS - 1)
    broken = biggest_spender(slot, date_from)
    name = f"t_console_{uuid.uuid4().hex[:8]}"
    async with private_topics(kafka_bootstrap) as topics:
        url = await create_database(postgres_server_url, name, template=migrated_template)
        env = pipeline_env(
            kafka_bootstrap,
            url,
            topics,
            api_key=API_KEY,
            MOCK_CAMPAIGNS_PER_CHANNEL=str(SIZE),
            LOG_FORMAT="text",
            FETCH_RETRY_ATTEMPTS="1",
        )
        group = ServiceGroup(env, tmp_path_factory.mktemp("console-logs"))
        try:
            ingestors = []
            for channel in ALL_CHANNELS:
                extra = {"CHANNEL": channel.value}
                if channel is Channel.TIKTOK:
                    start = as_of - dt.timedelta(days=BREAK_DAYS)
                    extra["MOCK_ANOMALIES"] = f"tracking_break:{broken}:{start}:{BREAK_DAYS + 7}"
                ingestors.append(Service("demetra_ingestor", f"ingestor-{channel.value}", extra))
            *_, api = group.start_all(
                Service("demetra_loader", "loader"),
                Service("demetra_insights", "insights"),
                *ingestors,
                Service("demetra_query_api", "query-api"),
            )
            pipeline = Pipeline(group, api, broken, as_of, date_from)
            await timed_sync(api.url, API_KEY, {"date_from": str(date_from), "date_to": str(as_of)})

            async def an_insight() -> bool:
                async with pipeline.client() as client:
                    page = (await client.get("/api/insights", params={"campaign_id": broken})).json()
                return bool(page["items"])

            await eventually(an_insight, timeout=60, interval=0.5, what="the tracking break's insight")

            async def summarised() -> bool:  # the summary's aggregate refreshes a few seconds behind
                async with pipeline.client() as client:
                    summary = (await client.get("/api/metrics/summary")).json()
                return all(channel["campaigns"] > 0 for channel in summary["channels"])

            await eventually(summarised, timeout=30, interval=0.5, what="the backfill in the summary")
            yield pipeline
        finally:
            group.close()
            await drop_database(postgres_server_url, name)
