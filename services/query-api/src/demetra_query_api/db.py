"""The query API's connection pool: asyncpg directly, because every request is one or two short reads.

Why not the SQLAlchemy engine of ``demetra_common.db``: measured on this service's main query (a 51-row
keyset page), the engine's pre-ping round trip, its BEGIN/ROLLBACK around each checkout and its execution
layer cost 628 us per request against 129 us for a pooled asyncpg connection (bench/README.md). The
statements themselves are still SQLAlchemy Core (the ``repository`` modules), compiled once per shape.

The pool (``demetra_common.db.make_pool``) connects lazily and skips asyncpg's reset query on release.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import orjson

from demetra_common.db import make_pool
from demetra_query_api.settings import QueryApiSettings

logger = logging.getLogger(__name__)

# Failures of the database as a service (as opposed to a bad statement): they become 503, not 500.
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.InsufficientResourcesError,
    asyncpg.OperatorInterventionError,  # statement timeout, admin shutdown, cannot connect now
    OSError,
    TimeoutError,
)


class DatabaseUnavailable(RuntimeError):
    """PostgreSQL did not answer (down, overloaded, or the query ran past its timeout)."""


async def _init_connection(connection: asyncpg.Connection) -> None:
    for json_type in ("json", "jsonb"):
        await connection.set_type_codec(
            json_type,
            schema="pg_catalog",
            encoder=lambda value: orjson.dumps(value).decode(),
            decoder=orjson.loads,
        )


def server_settings(settings: QueryApiSettings) -> dict[str, str]:
    """The PostgreSQL session of every API connection.

    ``plan_cache_mode``: every statement is prepared (asyncpg) and planned once per connection, for any
    values: the API's statements are built so that their generic plans are index-backed whatever the values
    (the plan tests check them), and the campaign list's bounds are decided while it runs, not by the
    planner. PostgreSQL's default would plan many of them anew on every execution (their generic plan looks
    dearer than a custom one to it), which costs more than running them (bench/README.md).
    """
    return {
        "application_name": "demetra-query-api",
        "statement_timeout": str(settings.db_statement_timeout_ms),
        "plan_cache_mode": "force_generic_plan",
    }


class Database:
    """A lazily connecting asyncpg pool; ``connection()`` maps outages to ``DatabaseUnavailable``.

    Built without connecting; ``open()`` (in the app's lifespan) creates the pool, ``close()`` closes it.
    """

    def __init__(self, settings: QueryApiSettings) -> None:
        self._settings = settings
        self._max_size = settings.db_pool_size + settings.db_max_overflow
        self._acquire_timeout_s = settings.db_pool_timeout_s
        self._pool: asyncpg.Pool | None = None
        # The background loops' own connection (the summary refresher, the sync outcomes): a refresh of the
        # aggregate holds its connection for seconds, which, taken from the requests' few, would halve a
        # worker's capacity meanwhile and queue every request behind it.
        self._background_pool: asyncpg.Pool | None = None
        # asyncpg's pool hands a released connection to whichever task asks next, so under load a request
        # that just arrived overtakes ones that have waited (asyncio.Queue lets new getters barge in), and
        # the unlucky ones wait many times the median. asyncio.Semaphore queues strictly first come, first
        # served, so at most as many requests as the pool has connections hold or await one; the rest wait
        # their turn.
        self._turns = asyncio.Semaphore(self._max_size)

    async def open(self) -> None:
        self._pool = await self._make_pool(self._max_size)
        self._background_pool = await self._make_pool(1)

    async def _make_pool(self, max_size: int) -> asyncpg.Pool:
        return await make_pool(
            self._settings.database_url,
            max_size=max_size,
            timeout_s=self._acquire_timeout_s,
            max_inactive_connection_lifetime=300.0,
            init=_init_connection,
            server_settings=server_settings(self._settings),
        )

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection of the requests' pool, in turn (first come, first served)."""
        try:
            async with asyncio.timeout(self._acquire_timeout_s):
                await self._turns.acquire()
        except TimeoutError as exc:
            logger.warning("database unavailable: no connection free within %ss", self._acquire_timeout_s)
            raise DatabaseUnavailable("no database connection free in time") from exc
        try:
            async with self._acquired(self._pool) as connection:
                yield connection
        finally:
            self._turns.release()

    @asynccontextmanager
    async def background_connection(self) -> AsyncIterator[asyncpg.Connection]:
        """The background loops' one connection, apart from the requests' pool."""
        async with self._acquired(self._background_pool) as connection:
            yield connection

    @asynccontextmanager
    async def _acquired(self, pool: asyncpg.Pool | None) -> AsyncIterator[asyncpg.Connection]:
        if pool is None:
            raise DatabaseUnavailable("the database pool is not open")
        try:
            async with pool.acquire(timeout=self._acquire_timeout_s) as connection:
                yield connection
        except UNAVAILABLE_ERRORS as exc:
            logger.warning("database unavailable: %s: %s", type(exc).__name__, exc)
            raise DatabaseUnavailable(str(exc) or type(exc).__name__) from exc

    async def ping(self) -> bool:
        async with self.connection() as connection:
            return bool(await connection.fetchval("SELECT 1") == 1)

    async def close(self, timeout_s: float = 10.0) -> None:
        pools = [pool for pool in (self._pool, self._background_pool) if pool is not None]
        self._pool = self._background_pool = None
        for pool in pools:
            try:
                await asyncio.wait_for(pool.close(), timeout_s)
            except TimeoutError:
                pool.terminate()
