"""``demetra-migrate [upgrade|downgrade|current|history] [REV]``: Alembic without an alembic.ini.

The migrations ship inside this package, so the same command works from a checkout, a container image or
a Kubernetes Job.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from alembic import command
from alembic.config import Config

from demetra_common.db import asyncpg_url
from demetra_common.settings import CommonSettings


def alembic_config(database_url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    url = asyncpg_url(database_url or CommonSettings().database_url)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(database_url: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str | None = None, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="demetra-migrate", description=__doc__)
    parser.add_argument("action", choices=["upgrade", "downgrade", "current", "history"])
    parser.add_argument("revision", nargs="?", help="target revision (upgrade: head, downgrade: base)")
    parser.add_argument("--database-url", help="defaults to DATABASE_URL")
    args = parser.parse_args(argv)
    config = alembic_config(args.database_url)
    if args.action == "upgrade":
        command.upgrade(config, args.revision or "head")
    elif args.action == "downgrade":
        command.downgrade(config, args.revision or "base")
    elif args.action == "current":
        command.current(config, verbose=True)
    else:
        command.history(config, verbose=True)


if __name__ == "__main__":
    main()
