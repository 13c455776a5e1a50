"""The query API's connection pool serves waiting requests first come, first served, and lends again only
the connections its requests left clean.

Under load every request waits for one of a few connections. asyncpg's pool alone lets a request that just
arrived take a connection released for one that has waited (its queue lets new getters barge in), which made
the p99 of GET /api/campaigns ten times its median in bench/query_api.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import asyncpg
import pytest

from demetra_query_api.db import Database, DatabaseUnavailable
from demetra_query_api.settings import QueryApiSettings


@asynccontextmanager
async def one_connection(settings_factory: Callable[..., QueryApiSettings]) -> AsyncIterator[Database]:
    """A Database of one connection, open for the block."""
    database = Database(settings_factory(db_pool_size=1, db_max_overflow=0))
    await database.open()
    try:
        yield database
    finally:
        await database.close()


async def test_waiting_requests_get_a_connection_in_arrival_order(
    settings_factory: Callable[..., QueryApiSettings],
) -> None:
    database = Database(settings_factory(db_pool_size=2, db_max_overflow=0))
    await database.open()
    served: list[int] = []

    async def request(number: int) -> None:
        async with database.connection() as connection:
            served.append(number)
            # A new request arrives while this one holds its connection, as under steady load.
            if number < 60:
                arrivals.append(asyncio.create_task(request(number + 40)))
            await connection.fetchval("SELECT pg_sleep(0.002)")

    try:
        # Connections exist already, so the 40 first requests queue without waiting on a connect.
        await asyncio.gather(*(database.ping() for _ in range(2)))
        arrivals = [asyncio.create_task(request(number)) for number in range(40)]
        while len(served) < 100:
            await asyncio.gather(*list(arrivals))
        assert served == sorted(served), f"served out of arrival order: {served}"
    finally:
        await database.close()


async def test_a_request_that_waits_past_the_pool_timeout_is_told_the_database_is_unavailable(
    settings_factory: Callable[..., QueryApiSettings],
) -> None:
    database = Database(settings_factory(db_pool_size=1, db_max_overflow=0, db_pool_timeout_s=0.2))
    await database.open()
    try:
        async with database.connection():
            with pytest.raises(DatabaseUnavailable, match="no database connection free"):
                async with database.connection():
                    pass
        assert await database.ping()  # the slot given back after the timeout is usable again
    finally:
        await database.close()


async def test_a_connection_its_request_left_in_a_transaction_is_closed_not_lent_again(
    settings_factory: Callable[..., QueryApiSettings],
) -> None:
    async with one_connection(settings_factory) as database:
        async with database.connection() as connection:
            await connection.execute("BEGIN")
            left_open = connection
        async with database.connection() as connection:
            assert connection is not left_open
            assert not connection.is_in_transaction()
        assert left_open.is_closed()


async def test_a_connection_whose_statement_failed_is_lent_again(
    settings_factory: Callable[..., QueryApiSettings],
) -> None:
    async with one_connection(settings_factory) as database:
        with pytest.raises(asyncpg.DivisionByZeroError):
            async with database.connection() as connection:
                failed = connection
                await connection.fetchval("SELECT 1 / 0")
        async with database.connection() as connection:
            assert connection is failed
            assert await connection.fetchval("SELECT 1") == 1
