"""End-to-end latency: POST /api/syncs -> the sync reported `completed`, for 4 x 500 and 4 x 10k campaigns.

Runs the real services as processes (one ingestor per channel, one loader, the query API) on a private
topic prefix and a private database of the running Kafka and PostgreSQL (`make up` / `stack.py up --infra`,
or KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL). A sync fetches each campaign's days of a one-day lookback
(SYNC_LOOKBACK_DAYS=1: yesterday and today so far), so that the figure stays comparable across the hours
of a day. Each run starts from empty campaigns and campaign_daily tables, so every run inserts every
campaign the sync fetched. Prints each run, the median per size, and ends with
`e2e_4x500_s=N e2e_4x10k_s=N`.

    uv run python bench/e2e/run.py [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
from pathlib import Path

import asyncpg

from demetra_common.contracts import ALL_CHANNELS
from demetra_common.db import asyncpg_url, plain_dsn
from demetra_testkit import ServiceProcess, pipeline_env, private_database, private_topics
from demetra_testkit.syncs import timed_sync

API_KEY = "bench-e2e-key"
SERVER_URL = asyncpg_url(
    os.environ.get("DATABASE_URL", "postgresql+asyncpg://demetra:demetra@127.0.0.1:5432/demetra")
)
BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")


async def truncate_campaigns(url: str) -> None:
    connection = await asyncpg.connect(plain_dsn(url))
    try:
        await connection.execute("TRUNCATE campaigns, campaign_daily")
    finally:
        await connection.close()


async def one_sync(api: ServiceProcess, deadline_s: float = 900) -> tuple[float, dict[str, int]]:
    sync = await timed_sync(api.url, API_KEY, timeout=deadline_s)
    return sync.seconds, sync.status["counts"]


async def measure(size: int, runs: int, env: dict[str, str], url: str, logs: Path) -> list[float]:
    env = {**env, "MOCK_CAMPAIGNS_PER_CHANNEL": str(size), "SYNC_LOOKBACK_DAYS": "1"}
    services = [ServiceProcess("loader", "demetra_loader", env, logs)]
    services += [
        ServiceProcess(
            f"ingestor-{channel.value}", "demetra_ingestor", {**env, "CHANNEL": channel.value}, logs
        )
        for channel in ALL_CHANNELS
    ]
    api = ServiceProcess("query-api", "demetra_query_api", env, logs)
    services.append(api)
    try:
        for service in services:
            service.start()
        times = []
        for run in range(1, runs + 1):
            await truncate_campaigns(url)
            elapsed, counts = await one_sync(api)
            assert counts["inserted"] == counts["loaded"] == counts["fetched"] >= 4 * size, counts
            assert counts["rows_loaded"] == counts["rows_fetched"], counts
            print(
                f"4x{size}: run {run}: {elapsed:.2f}s  ({counts['inserted']} campaigns inserted, "
                f"{counts['rows_loaded']} daily rows)",
                flush=True,
            )
            times.append(elapsed)
        return times
    finally:
        for service in services:
            service.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    async with (
        private_topics(BOOTSTRAP, prefix="bench") as topics,
        private_database(SERVER_URL, prefix="bench_e2e") as url,
    ):
        env = pipeline_env(BOOTSTRAP, url, topics, api_key=API_KEY)
        logs = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
        print(f"services' logs: {logs}", flush=True)
        small = await measure(500, args.runs, env, url, logs)
        large = await measure(10_000, args.runs, env, url, logs)
    print(f"median 4x500: {statistics.median(small):.2f}s   median 4x10k: {statistics.median(large):.2f}s")
    print(f"e2e_4x500_s={statistics.median(small):.2f} e2e_4x10k_s={statistics.median(large):.2f}")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
