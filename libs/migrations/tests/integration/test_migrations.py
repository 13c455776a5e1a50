import asyncio

import asyncpg

from demetra_common.db import plain_dsn
from demetra_common.tables import DAILY_PARTITIONS
from demetra_migrations.migrate import downgrade, upgrade

EXPECTED = {"campaigns", "events", "consumer_offsets", "campaign_daily", "restatements", "insights"}


async def _tables(url: str) -> set[str]:
    connection = await asyncpg.connect(plain_dsn(url))
    try:
        rows = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await connection.close()
    names = {row["tablename"] for row in rows} - {"alembic_version"}
    return {name for name in names if DAILY_PARTITIONS.month_from_name(name) is None}


async def test_migrations_upgrade_an_empty_database_and_downgrade_it_again(empty_database_url: str) -> None:
    assert await _tables(empty_database_url) == set()
    await asyncio.to_thread(upgrade, empty_database_url)
    assert await _tables(empty_database_url) == EXPECTED
    await asyncio.to_thread(downgrade, empty_database_url)
    assert await _tables(empty_database_url) == set()
    await asyncio.to_thread(upgrade, empty_database_url)
    assert await _tables(empty_database_url) == EXPECTED
