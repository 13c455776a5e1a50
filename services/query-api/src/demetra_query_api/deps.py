"""What routes receive, as annotated dependencies (built once per app in the lifespan)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from demetra_query_api.cache import ResponseCache
from demetra_query_api.db import Database
from demetra_query_api.publisher import SyncRequestPublisher
from demetra_query_api.ratelimit import SyncRateLimiter
from demetra_query_api.settings import QueryApiSettings


@dataclass(frozen=True, slots=True)
class Services:
    settings: QueryApiSettings
    database: Database
    publisher: SyncRequestPublisher
    rate_limiter: SyncRateLimiter
    cache: ResponseCache


def services_of(request: Request) -> Services:
    """For hot routes that skip dependency injection (see routes/campaigns.py)."""
    services: Services = request.app.state.services
    return services


# async on purpose: FastAPI runs plain `def` dependencies in a thread pool, a costly hop per request.
async def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def _database(request: Request) -> Database:
    services: Services = request.app.state.services
    return services.database


async def _settings(request: Request) -> QueryApiSettings:
    services: Services = request.app.state.services
    return services.settings


ServicesDep = Annotated[Services, Depends(_services)]
DatabaseDep = Annotated[Database, Depends(_database)]
SettingsDep = Annotated[QueryApiSettings, Depends(_settings)]
