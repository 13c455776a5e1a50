"""The loader's cost per daily row, in process, stage by stage: judging a batch (validation, rows, plan) and
writing it (the batch's transaction), on the messages a backfill's ingestors publish.

    uv run python bench/loader/micro.py [--campaigns 500] [--days 90] [--rounds 3] [--months-kept 0]

The mock's daily report of 4 channels x --campaigns over --days days (``demetra_mock.mock_campaign_days``,
the ingestors' source), serialised as the ingestors publish it (``CampaignDaysFetched``, one message per
campaign), is one batch: judged as the loader judges a consumed batch (``check_batch``), then loaded by the
loader's own ``CampaignLoader`` (its one transaction: the COPY of the days, the derived campaigns, the load
events and offsets) into a private migrated database on the server of DATABASE_URL, its partitions made
before (with ``--months-kept N``, also the N monthly partitions before the batch's last month, as
HISTORY_RETENTION_DAYS keeps them: every one of them a known campaign's derive probes). Prints this
process's CPU time per row for each (PostgreSQL's own, a process of its own, is left out), the wall time,
and the wall time of each of the repository's statements; best of --rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import functools
import gc
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from demetra_common.contracts import ALL_CHANNELS, CampaignDaysFetched
from demetra_common.settings import CommonSettings
from demetra_common.tables import DAILY_PARTITIONS
from demetra_loader.core.batch import check_batch
from demetra_loader.core.dead_letters import DeadLetter
from demetra_loader.core.loading import CampaignLoader
from demetra_loader.core.partitions import DailyPartitions
from demetra_loader.core.retry import RetryPolicy
from demetra_loader.repository import PostgresDatabase, PostgresRepository
from demetra_mock import mock_campaign_days
from demetra_testkit import private_database

SYNC_ID = "bench-micro"
TIMED = ("lock_offsets", "known_campaigns", "copy_days", "upsert_days", "derive_campaigns", "finish_batch")


@dataclass(frozen=True)
class Record:
    """A consumed record, as the core sees it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int = 0
    headers: Sequence[tuple[str, bytes]] = ()


class NoDeadLetters:
    async def send(self, letters: Sequence[DeadLetter]) -> None:
        assert not letters, letters


def messages(campaigns: int, days: int) -> list[Record]:
    as_of = dt.datetime.now(dt.UTC)
    last = as_of.date()
    first = last - dt.timedelta(days=days - 1)
    records: list[Record] = []
    for channel in ALL_CHANNELS:
        for report in mock_campaign_days(channel, as_of, campaigns, first, last):
            message = CampaignDaysFetched(
                sync_id=SYNC_ID,
                channel=channel,
                attempt="a1",
                fetched_at=as_of,
                campaign_id=report.campaign_id,
                name=report.name,
                days=list(report.days),
            )
            value = message.model_dump_json().encode()
            records.append(Record("campaign.fetched", 0, len(records), report.campaign_id.encode(), value))
    return records


def timing(statements: list[defaultdict[str, float]]) -> None:
    """Every TIMED method of the repository adds its wall time to the last counter of ``statements``."""

    def timed(method: Callable[..., Awaitable[Any]], name: str) -> Callable[..., Awaitable[Any]]:
        @functools.wraps(method)
        async def run(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return await method(*args, **kwargs)
            finally:
                statements[-1][name] += time.perf_counter() - began

        return run

    for name in TIMED:
        setattr(PostgresRepository, name, timed(getattr(PostgresRepository, name), name))


async def main(campaigns: int, days: int, rounds: int, months_kept: int) -> None:
    records = messages(campaigns, days)
    server = CommonSettings().database_url
    judged: list[tuple[float, float]] = []
    written: list[tuple[float, float]] = []
    statements: list[defaultdict[str, float]] = [defaultdict(float)]
    timing(statements)
    rows = 0
    for _ in range(rounds):
        gc.collect()
        cpu, wall = time.process_time(), time.perf_counter()
        batch = check_batch(records)
        _ = batch.plan, batch.months
        judged.append((time.process_time() - cpu, time.perf_counter() - wall))
        rows = sum(len(days) for days in batch.plan.staged.values())
        async with private_database(server, prefix="bench_loader_micro") as url:
            database = PostgresDatabase(url, max_size=1, connect_timeout_s=10)
            await database.open()
            try:
                partitions = DailyPartitions(database, retention_days=0)
                last = max(batch.months)
                kept = DAILY_PARTITIONS.months(dt.date(last.year - months_kept // 12 - 1, 1, 1), last)[
                    -months_kept - 1 :
                ]
                # made before, as the loader makes them ahead (and as retention keeps them)
                await partitions.ensure(batch.months | set(kept if months_kept else ()))
                loader = CampaignLoader(
                    database, NoDeadLetters(), group_id="micro", retry=RetryPolicy(), partitions=partitions
                )
                statements.append(defaultdict(float))
                cpu, wall = time.process_time(), time.perf_counter()
                outcome = await loader.load(batch)
                written.append((time.process_time() - cpu, time.perf_counter() - wall))
                assert outcome.totals.rows == rows, (outcome.totals, rows)
            finally:
                await database.close()
        del batch
    print(f"{len(records):,} messages, {rows:,} daily rows (one batch), best of {rounds}")
    for name, figures in (("judge (check_batch, plan)", judged), ("write (CampaignLoader.load)", written)):
        cpu = min(figure[0] for figure in figures) / rows * 1e6
        wall = min(figure[1] for figure in figures) / rows * 1e6
        print(f"  {name:<28} CPU {cpu:5.2f} us/row   wall {wall:5.2f} us/row")
    for name in TIMED:
        if best := min(counter[name] for counter in statements[1:]):
            print(f"    {name:<26}              wall {best / rows * 1e6:5.2f} us/row")
    total = sum(min(figure[0] for figure in figures) for figures in (judged, written)) / rows * 1e6
    print(f"loader_micro_cpu_us_per_row={total:.2f} rows={rows}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--campaigns", type=int, default=500, help="campaigns per channel")
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--months-kept", type=int, default=0, help="monthly partitions before the batch's last month"
    )
    arguments = parser.parse_args()
    asyncio.run(main(arguments.campaigns, arguments.days, arguments.rounds, arguments.months_kept))
