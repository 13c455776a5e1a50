"""End-to-end latency: POST /api/syncs -> the sync reported `completed`, for 4 x 500 and 4 x 10k campaigns.

Runs the real services as processes (one ingestor per channel, one loader, the query API) on a private
topic prefix and a private database of the running Kafka and PostgreSQL (`make up` / `stack.py up --infra`,
or KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL). Each run starts from an empty campaigns table, so every run
inserts every campaign. Prints each run, the median per size, and ends with
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
import time
from pathlib import Path

import asyncpg
import httpx

from demetra_common.contracts import ALL_CHANNELS
from demetra_common.db import asyncpg_url, plain_dsn
from demetra_common.security import API_KEY_HEADER
from demetra_testkit import ServiceProcess, private_database, private_topics

API_KEY = "bench-e2e-key"
SERVER_URL = asyncpg_url(
    os.environ.get("DATABASE_URL", "postgresql+asyncpg://demetra:demetra@127.0.0.1:5432/demetra")
)
BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")


async def truncate_campaigns(url: str) -> None:
    connection = await asyncpg.connect(plain_dsn(url))
    try:
        await connection.execute("TRUNCATE campaigns")
    finally:
        await connection.close()


async def one_sync(api: ServiceProcess, deadline_s: float = 900) -> tuple[float, dict[str, int]]:
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as client:
        began = time.perf_counter()
        response = await client.post("/api/syncs", json={}, headers={API_KEY_HEADER: API_KEY})
        response.raise_for_status()
        sync_id = response.json()["sync_id"]
        while time.perf_counter() - began < deadline_s:
            status = await client.get(f"/api/syncs/{sync_id}", headers={"Cache-Control": "no-cache"})
            if status.status_code == 200 and status.json()["status"] != "running":
                elapsed = time.perf_counter() - began
                body = status.json()
                if body["status"] != "completed":
                    raise SystemExit(f"sync {sync_id} ended {body['status']}: {body}")
                return elapsed, body["counts"]
            await asyncio.sleep(0.05)
    raise SystemExit(f"sync {sync_id} did not complete within {deadline_s}s")


async def measure(size: int, runs: int, env: dict[str, str], url: str, logs: Path) -> list[float]:
    env = {**env, "MOCK_CAMPAIGNS_PER_CHANNEL": str(size)}
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
            assert counts["inserted"] == 4 * size, counts
            print(f"4x{size}: run {run}: {elapsed:.2f}s  ({counts['inserted']} inserted)", flush=True)
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
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": BOOTSTRAP,
            "DATABASE_URL": url,
            "KAFKA_TOPIC_PREFIX": topics.prefix,
            "API_KEY": API_KEY,
            "SYNC_RATE_LIMIT": "1000/minute",
            "RESPONSE_CACHE_TTL_S": "0",
            "LOG_LEVEL": "WARNING",
        }
        logs = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
        print(f"services' logs: {logs}", flush=True)
        small = await measure(500, args.runs, env, url, logs)
        large = await measure(10_000, args.runs, env, url, logs)
    print(f"median 4x500: {statistics.median(small):.2f}s   median 4x10k: {statistics.median(large):.2f}s")
    print(f"e2e_4x500_s={statistics.median(small):.2f} e2e_4x10k_s={statistics.median(large):.2f}")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
