"""Alembic environment: runs migrations over asyncpg against DATABASE_URL (or the URL given in config)."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from demetra_common.db import asyncpg_url
from demetra_common.settings import CommonSettings
from demetra_common.tables import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    return asyncpg_url(config.get_main_option("sqlalchemy.url") or CommonSettings().database_url)


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    engine = create_async_engine(_url())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online())
