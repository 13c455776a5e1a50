"""Lighthouse on the console: performance and accessibility of the overview, as a user's browser sees it.

A private pipeline (topics and a migrated database on the Kafka and PostgreSQL of KAFKA_BOOTSTRAP_SERVERS /
DATABASE_URL, every service a process) is filled with a 28-day backfill of the mock's channels; then
Lighthouse (npm, pinned by bench/console/package-lock.json, installed into ~/.cache/demetra on first use,
never into the repo) audits the console's pages with the system Chromium, headless, with its default
mobile profile and simulated throttling. Each page is audited --rounds times; the median score is reported.

Target (issue 15): the overview's performance >= 90 and accessibility >= 90. The last line:
``console_perf=N console_a11y=N``. Without Node/npm or Chromium the bench says so and prints nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from demetra_common.contracts import ALL_CHANNELS
from demetra_common.db import asyncpg_url
from demetra_testkit import ServiceProcess, pipeline_env, private_database, private_topics
from demetra_testkit.browser import CHROMIUM, CHROMIUM_FLAGS
from demetra_testkit.syncs import timed_sync

HERE = Path(__file__).resolve().parent
API_KEY = "bench-console-key"
SERVER_URL = asyncpg_url(
    os.environ.get("DATABASE_URL", "postgresql+asyncpg://demetra:demetra@127.0.0.1:5432/demetra")
)
BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
PAGES = {"overview": "/console/#/overview", "campaigns": "/console/#/campaigns", "syncs": "/console/#/syncs"}


def say(message: str) -> None:
    print(message, flush=True)


def lighthouse() -> Path:
    """The pinned Lighthouse, installed with `npm ci` into a cache folder named after its lockfile."""
    lock = (HERE / "package-lock.json").read_bytes()
    folder = Path.home() / ".cache" / "demetra" / f"lighthouse-{hashlib.sha256(lock).hexdigest()[:12]}"
    binary = folder / "node_modules" / ".bin" / "lighthouse"
    if not binary.exists():
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(HERE / name, folder / name)
        say(f"installing Lighthouse into {folder} (npm ci)")
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=folder, check=True)
    return binary


def audit(binary: Path, url: str, profile: Path) -> dict[str, float]:
    """One Lighthouse run of ``url``: category -> score (0-100)."""
    flags = " ".join((*CHROMIUM_FLAGS, f"--user-data-dir={profile}"))
    result = subprocess.run(
        [
            str(binary),
            url,
            "--only-categories=performance,accessibility",
            "--output=json",
            "--quiet",
            f"--chrome-flags={flags}",
        ],
        env={**os.environ, "CHROME_PATH": CHROMIUM},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"lighthouse failed on {url}: {result.stderr[-2000:]}")
    report = json.loads(result.stdout)
    if report.get("runtimeError"):
        raise RuntimeError(f"lighthouse could not audit {url}: {report['runtimeError']}")
    return {name: round(100 * (category["score"] or 0)) for name, category in report["categories"].items()}


async def run(campaigns: int, days: int, rounds: int) -> dict[str, dict[str, float]]:
    binary = lighthouse()
    async with (
        private_topics(BOOTSTRAP, prefix="benchc") as topics,
        private_database(SERVER_URL, prefix="bench_console") as url,
    ):
        env = pipeline_env(BOOTSTRAP, url, topics, api_key=API_KEY, MOCK_CAMPAIGNS_PER_CHANNEL=str(campaigns))
        logs = Path(tempfile.mkdtemp(prefix="bench-console-"))
        api = ServiceProcess("query-api", "demetra_query_api", env, logs)
        services = [ServiceProcess("loader", "demetra_loader", env, logs), api]
        services += [
            ServiceProcess(f"ingestor-{c.value}", "demetra_ingestor", {**env, "CHANNEL": c.value}, logs)
            for c in ALL_CHANNELS
        ]
        try:
            for service in services:
                service.start()
            today = dt.datetime.now(dt.UTC).date()
            window = {"date_from": str(today - dt.timedelta(days=days - 1)), "date_to": str(today)}
            backfill = await timed_sync(api.url, API_KEY, window)
            say(f"backfill of {days} days x {len(ALL_CHANNELS)} x {campaigns}: {backfill.seconds:.1f} s")
            for service in services:  # Lighthouse measures the page, not a machine busy with the pipeline
                if service is not api:
                    service.stop()
            scores: dict[str, dict[str, float]] = {}
            for page, path in PAGES.items():
                runs = []
                for _ in range(rounds):
                    with tempfile.TemporaryDirectory(prefix="lighthouse-") as profile:
                        runs.append(await asyncio.to_thread(audit, binary, f"{api.url}{path}", Path(profile)))
                scores[page] = {name: statistics.median(r[name] for r in runs) for name in runs[0]}
                say(f"{page}: " + ", ".join(f"{name} {[r[name] for r in runs]}" for name in runs[0]))
            return scores
        finally:
            for service in services:
                service.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--campaigns", type=int, default=500, help="campaigns per channel (default 500)")
    parser.add_argument("--days", type=int, default=28, help="days of history (default 28)")
    parser.add_argument("--rounds", type=int, default=3, help="Lighthouse runs per page (default 3)")
    args = parser.parse_args()
    missing = [tool for tool in ("npm", "node") if shutil.which(tool) is None]
    missing += [] if Path(CHROMIUM).exists() else [CHROMIUM]
    if missing:
        say(f"bench/console skipped: {', '.join(missing)} missing (apt-get install nodejs npm chromium)")
        return 0
    scores = asyncio.run(run(args.campaigns, args.days, args.rounds))
    overview = scores["overview"]
    print(f"console_perf={overview['performance']:.0f} console_a11y={overview['accessibility']:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
