"""Database access on asyncpg. Services use a bare asyncpg pool (``make_pool``: the loader's COPY, the query
API's reads), where an engine's per-checkout work would cost more than the query. Nothing connects until
first use."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Generic, TypeVar

import asyncpg
from sqlalchemy.engine import make_url


def asyncpg_url(url: str) -> str:
    """The same URL with the asyncpg driver (accepts postgres://, postgresql://, postgresql+psycopg://...)."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def plain_dsn(url: str) -> str:
    """The URL as libpq/asyncpg.connect want it (no SQLAlchemy driver suffix)."""
    parsed = make_url(asyncpg_url(url))
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Pool reset hook that sends nothing. Demetra's services leave no session state that could trip a later
    borrower (no SET, LISTEN, held advisory locks or open cursors; the loader's staging table is meant to
    stay), so asyncpg's reset query would only cost a round trip per checkout."""


async def make_pool(database_url: str, *, max_size: int, timeout_s: float, **options: Any) -> asyncpg.Pool:
    """An asyncpg pool that connects on first use (min_size 0): a service starts, and reports not ready,
    while PostgreSQL is down. ``options`` go to ``asyncpg.create_pool`` (init, server_settings, ...)."""
    return await asyncpg.create_pool(
        plain_dsn(database_url),
        min_size=0,
        max_size=max_size,
        timeout=timeout_s,
        reset=_keep_session,
        **options,
    )


R = TypeVar("R")


class TransactionalPool(Generic[R]):
    """An asyncpg pool (``make_pool``: connects lazily, so a service starts while PostgreSQL is down) that
    lends each transaction to a repository: ``repository(connection)`` is what the block receives.
    ``pool_options`` go to ``make_pool`` (init, command_timeout, ...)."""

    def __init__(
        self,
        database_url: str,
        repository: Callable[[asyncpg.Connection], R],
        *,
        max_size: int,
        connect_timeout_s: float,
        **pool_options: Any,
    ) -> None:
        self._database_url = database_url
        self._repository = repository
        self._max_size = max_size
        self._connect_timeout_s = connect_timeout_s
        self._pool_options = pool_options
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        self._pool = await make_pool(
            self._database_url,
            max_size=self._max_size,
            timeout_s=self._connect_timeout_s,
            **self._pool_options,
        )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError(f"{type(self).__name__}.open() was not called")
        return self._pool

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[R]:
        """One transaction: committed when the block ends normally, rolled back on any exception."""
        async with self.pool.acquire() as connection, connection.transaction():
            yield self._repository(connection)

    async def ping(self) -> bool:
        """PostgreSQL answers; false before ``open`` and after ``close``."""
        if self._pool is None:
            return False
        async with self._pool.acquire() as connection:
            return bool(await connection.fetchval("SELECT 1") == 1)
