"""What routes receive: the app's context (its wired parts), and annotated dependencies for cooler routes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Concatenate, ParamSpec, TypeVar

import asyncpg
from fastapi import Depends, Request

from demetra_common.ops import ReadinessCheck
from demetra_query_api.cache import Rendered, ResponseCache
from demetra_query_api.db import Database
from demetra_query_api.publisher import SyncRequestPublisher
from demetra_query_api.ratelimit import SyncRateLimiter
from demetra_query_api.settings import QueryApiSettings

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class AppContext:
    """The query API's parts, wired but not connected: the app's lifespan connects and closes them."""

    settings: QueryApiSettings
    database: Database
    publisher: SyncRequestPublisher
    rate_limiter: SyncRateLimiter
    cache: ResponseCache[Rendered]

    def readiness_checks(self) -> dict[str, ReadinessCheck]:
        return {"database": self.database.ping, "kafka": self.publisher.ping}

    async def read(
        self,
        core: Callable[Concatenate[asyncpg.Connection, P], Awaitable[T]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """``core(connection, ...)`` with a connection of the pool for its duration."""
        async with self.database.connection() as connection:
            return await core(connection, *args, **kwargs)


def context_of(request: Request) -> AppContext:
    """For hot routes that skip dependency injection (see ``http.cached_read``)."""
    context: AppContext = request.app.state.context
    return context


# async on purpose: FastAPI runs plain `def` dependencies in a thread pool, a costly hop per request.
async def _context(request: Request) -> AppContext:
    return context_of(request)


async def _settings(request: Request) -> QueryApiSettings:
    return context_of(request).settings


ContextDep = Annotated[AppContext, Depends(_context)]
SettingsDep = Annotated[QueryApiSettings, Depends(_settings)]
