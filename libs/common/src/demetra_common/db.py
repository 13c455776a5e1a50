"""Async SQLAlchemy engine on asyncpg. Nothing connects until first use."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from demetra_common.settings import CommonSettings


def asyncpg_url(url: str) -> str:
    """The same URL with the asyncpg driver (accepts postgres://, postgresql://, postgresql+psycopg://...)."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def plain_dsn(url: str) -> str:
    """The URL as libpq/asyncpg.connect want it (no SQLAlchemy driver suffix)."""
    parsed = make_url(asyncpg_url(url))
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def make_engine(settings: CommonSettings, **options: object) -> AsyncEngine:
    return create_async_engine(
        asyncpg_url(settings.database_url),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_s,
        pool_pre_ping=True,
        pool_recycle=1800,
        **options,
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
