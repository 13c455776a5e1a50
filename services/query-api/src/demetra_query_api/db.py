"""The query API's connection pool: asyncpg directly, because every request is one or two short reads.

Why not the SQLAlchemy engine of ``demetra_common.db``: measured on this service's main query (a 51-row
keyset page), the engine's pre-ping round trip, its BEGIN/ROLLBACK around each checkout and its execution
layer cost 628 us per request against 129 us for a pooled asyncpg connection (bench/README.md). The
statements themselves are still SQLAlchemy Core (the ``repository`` modules), compiled once per shape.

The requests' connections are lent by ``Database`` itself, in turn (first come, first served); the background
loops' one comes from a pool of ``demetra_common.db.make_pool``. Both connect lazily and send no reset query
when a connection comes back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType

import asyncpg
import orjson

from demetra_common.db import make_pool, plain_dsn
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


# A connection idle this long is closed (its PostgreSQL backend freed); the next request opens a new one.
IDLE_LIFETIME_S = 300.0


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
    """The requests' connections (``connection()``: first come, first served, outages mapped to
    ``DatabaseUnavailable``) and the background loops' own one (``background_connection()``).

    Built without connecting; ``open()`` (in the app's lifespan) readies both, ``close()`` closes them.
    Connections are made on first use, so the API starts (and reports not ready) while PostgreSQL is down.

    The requests' connections are kept here rather than in an ``asyncpg.Pool``: the turns already bound how
    many requests hold one, so a request that has its turn takes an idle connection (the most recently used)
    or opens one, with no queue, future, timer or task of the pool's own. Lending and taking back one of the
    pool's cost ~120 us of CPU per request (its acquire timeout, its holder queue and proxy, and the task its
    release runs in), more than decoding a 90-row answer; lending one of these costs a few. What the pool
    did that matters here is kept: a connection idle for IDLE_LIFETIME_S is closed, one left broken or in a
    transaction by its request is closed instead of lent again, and nothing resets the session on return
    (``demetra_common.db.make_pool``'s rule: the API leaves no session state).
    """

    def __init__(self, settings: QueryApiSettings) -> None:
        self._settings = settings
        self._dsn = plain_dsn(settings.database_url)
        self._max_size = settings.db_pool_size + settings.db_max_overflow
        self._acquire_timeout_s = settings.db_pool_timeout_s
        self._open = False
        # Idle connections, the most recently returned last, each with the timer that closes it when idle
        # for IDLE_LIFETIME_S.
        self._idle: list[tuple[asyncpg.Connection, asyncio.TimerHandle]] = []
        self._closing: set[asyncio.Task[None]] = set()
        # The background loops' own connection (the summary refresher, the sync outcomes): a refresh of the
        # aggregate holds its connection for seconds, which, taken from the requests' few, would halve a
        # worker's capacity meanwhile and queue every request behind it.
        self._background_pool: asyncpg.Pool | None = None
        # asyncpg's pool hands a released connection to whichever task asks next, so under load a request
        # that just arrived overtakes ones that have waited (asyncio.Queue lets new getters barge in), and
        # the unlucky ones wait many times the median. asyncio.Semaphore queues strictly first come, first
        # served, so at most as many requests as there are connections hold or await one; the rest wait
        # their turn.
        self._turns = asyncio.Semaphore(self._max_size)

    async def open(self) -> None:
        self._background_pool = await make_pool(
            self._settings.database_url,
            max_size=1,
            timeout_s=self._acquire_timeout_s,
            max_inactive_connection_lifetime=IDLE_LIFETIME_S,
            init=_init_connection,
            server_settings=server_settings(self._settings),
        )
        self._open = True

    def connection(self) -> AbstractAsyncContextManager[asyncpg.Connection]:
        """A connection of the requests' own, in turn (first come, first served)."""
        return _Lease(self)

    async def _take(self) -> asyncpg.Connection:
        """Wait for a turn, then an idle connection, else a new one (the turn guarantees room for it)."""
        if self._turns.locked():  # others wait already: queue behind them, for at most the pool timeout
            try:
                async with asyncio.timeout(self._acquire_timeout_s):
                    await self._turns.acquire()
            except TimeoutError as exc:
                logger.warning("database unavailable: no connection free within %ss", self._acquire_timeout_s)
                raise DatabaseUnavailable("no database connection free in time") from exc
        else:
            await self._turns.acquire()  # a free turn: taken at once, no timer needed
        try:
            if not self._open:
                raise DatabaseUnavailable("the database pool is not open")
            while self._idle:
                connection, expiry = self._idle.pop()
                expiry.cancel()
                if not connection.is_closed():
                    return connection
            return await self._connect()
        except BaseException:
            self._turns.release()
            raise

    async def _connect(self) -> asyncpg.Connection:
        try:
            connection: asyncpg.Connection = await asyncpg.connect(
                self._dsn,
                timeout=self._acquire_timeout_s,
                server_settings=server_settings(self._settings),
            )
        except UNAVAILABLE_ERRORS as exc:
            raise _unavailable(exc) from exc
        try:
            await _init_connection(connection)
        except BaseException:
            connection.terminate()
            raise
        return connection

    def _give_back(self, connection: asyncpg.Connection, *, reusable: bool) -> None:
        try:
            if not reusable or not self._open or connection.is_closed() or connection.is_in_transaction():
                connection.terminate()
            else:
                expiry = asyncio.get_running_loop().call_later(IDLE_LIFETIME_S, self._expire, connection)
                self._idle.append((connection, expiry))
        finally:
            self._turns.release()

    def _expire(self, connection: asyncpg.Connection) -> None:
        """Close ``connection``, idle for IDLE_LIFETIME_S (its PostgreSQL backend is freed)."""
        self._idle = [(idle, expiry) for idle, expiry in self._idle if idle is not connection]
        self._close_later(connection)

    def _close_later(self, connection: asyncpg.Connection) -> None:
        task = asyncio.ensure_future(connection.close(timeout=self._acquire_timeout_s))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    @asynccontextmanager
    async def background_connection(self) -> AsyncIterator[asyncpg.Connection]:
        """The background loops' one connection, apart from the requests' pool."""
        if self._background_pool is None:
            raise DatabaseUnavailable("the database pool is not open")
        try:
            async with self._background_pool.acquire(timeout=self._acquire_timeout_s) as connection:
                yield connection
        except UNAVAILABLE_ERRORS as exc:
            raise _unavailable(exc) from exc

    async def ping(self) -> bool:
        async with self.connection() as connection:
            return bool(await connection.fetchval("SELECT 1") == 1)

    async def close(self, timeout_s: float = 10.0) -> None:
        self._open = False  # connections still lent are closed when given back
        idle, self._idle = self._idle, []
        for connection, expiry in idle:
            expiry.cancel()
            self._close_later(connection)
        if self._closing:
            await asyncio.wait(list(self._closing), timeout=timeout_s)
        for task in list(self._closing):
            task.cancel()
        pool, self._background_pool = self._background_pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), timeout_s)
            except TimeoutError:
                pool.terminate()


def _unavailable(exc: BaseException) -> DatabaseUnavailable:
    logger.warning("database unavailable: %s: %s", type(exc).__name__, exc)
    return DatabaseUnavailable(str(exc) or type(exc).__name__)


class _Lease:
    """``async with database.connection() as connection``: a class rather than an ``asynccontextmanager``,
    whose generator machinery would cost more than the lending itself. A failure of the database inside the
    block is a ``DatabaseUnavailable``; a connection the block left broken, in a transaction or interrupted
    (cancelled mid-statement) is closed instead of being lent again."""

    __slots__ = ("_connection", "_database")

    def __init__(self, database: Database) -> None:
        self._database = database
        self._connection: asyncpg.Connection | None = None

    async def __aenter__(self) -> asyncpg.Connection:
        self._connection = await self._database._take()
        return self._connection

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        connection, self._connection = self._connection, None
        assert connection is not None
        self._database._give_back(connection, reusable=exc is None or isinstance(exc, Exception))
        if isinstance(exc, UNAVAILABLE_ERRORS):
            raise _unavailable(exc) from exc
