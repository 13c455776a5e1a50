"""The loader's CPU per daily row, in process, stage by stage: judging the records (validation and rows) and
writing them (COPY into campaign_daily), on the messages a backfill's ingestors publish.

    uv run python bench/loader/micro.py [--campaigns 500] [--days 90] [--rounds 3]

The mock's daily report of 4 channels x --campaigns over --days days (``demetra_mock.mock_campaign_days``,
the ingestors' source), serialised as the ingestors publish it (``CampaignDaysFetched``, one message per
campaign), is judged as the loader judges a consumed batch (``check_batch``) and its rows written by the
loader's own repository (``PostgresRepository.copy_days``, one transaction) into the empty campaign_daily of
a private migrated database (on the server of DATABASE_URL). Prints, per stage, this process's CPU time per
row (PostgreSQL's own, a process of its own, is left out) and the wall time, best of --rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from demetra_common.contracts import ALL_CHANNELS, CampaignDaysFetched
from demetra_common.db import plain_dsn
from demetra_common.settings import CommonSettings
from demetra_common.tables import DAILY_PARTITIONS
from demetra_loader.core.batch import check_batch
from demetra_loader.repository import MessageDays, PostgresDatabase
from demetra_mock import mock_campaign_days
from demetra_testkit import private_database

SYNC_ID = "bench-micro"


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


def cpu_wall() -> tuple[float, float]:
    return time.process_time(), time.perf_counter()


async def main(campaigns: int, days: int, rounds: int) -> None:
    records = messages(campaigns, days)
    server = CommonSettings().database_url
    judged: list[tuple[float, float]] = []
    written: list[tuple[float, float]] = []
    staged: list[MessageDays] = []
    for _ in range(rounds):
        gc.collect()
        cpu, wall = cpu_wall()
        batch = check_batch(records)
        plan = batch.plan
        cpu_after, wall_after = cpu_wall()
        judged.append((cpu_after - cpu, wall_after - wall))
        staged = [(index, plan.staged[index]) for index in sorted(plan.staged)]
        async with private_database(server, prefix="bench_loader_micro") as url:
            connection = await asyncpg.connect(plain_dsn(url))
            try:
                for month in batch.months:
                    await connection.execute(DAILY_PARTITIONS.create_sql(month))
            finally:
                await connection.close()
            database = PostgresDatabase(url, max_size=1, connect_timeout_s=10)
            await database.open()
            try:
                async with database.transaction() as repository:
                    await repository.known_campaigns([])  # the connection made and prepared first
                    cpu, wall = cpu_wall()
                    await repository.copy_days(staged)
                cpu_after, wall_after = cpu_wall()
                written.append((cpu_after - cpu, wall_after - wall))
            finally:
                await database.close()
        del batch, plan
    count = sum(len(rows) for _, rows in staged)
    print(f"{len(records):,} messages, {count:,} daily rows, {rounds} rounds, {os.cpu_count()} cores")
    for name, figures in (("judge (check_batch + plan)", judged), ("write (copy_days, commit)", written)):
        cpu = min(figure[0] for figure in figures) / count * 1e6
        wall = min(figure[1] for figure in figures) / count * 1e6
        print(f"  {name:<28} CPU {cpu:5.2f} us/row   wall {wall:5.2f} us/row")
    total = sum(min(figure[0] for figure in figures) for figures in (judged, written)) / count * 1e6
    print(f"loader_micro_cpu_us_per_row={total:.2f} rows={count}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--campaigns", type=int, default=500, help="campaigns per channel")
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.campaigns, arguments.days, arguments.rounds))
