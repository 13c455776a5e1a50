"""Database access on asyncpg. Services use a bare asyncpg pool (``make_pool``: the loader's COPY, the query
API's reads), where an engine's per-checkout work would cost more than the query. Nothing connects until
first use."""

from __future__ import annotations

from typing import Any

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
