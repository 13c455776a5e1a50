"""What each index of ``campaigns`` costs a write: ``run.py --index-costs``.

The same rows the loader writes are COPYed, in one transaction each, into a fresh copy of ``campaigns``
with no index at all (the base: heap, constraints, identity), then with each index of the migrated table
alone, then with all of them (the table as the loader and the peer write it), plus the alternative
definitions in ``CANDIDATES``. A variant's cost per row is its best time less the base's best time, over
the rows: what that index adds to every insert. Variants run round-robin, so interference spreads over
all of them; each figure is the best of the rounds.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from process_stats import cpu_seconds  # the backend's: the server runs on this machine

from demetra_common.db import plain_dsn
from demetra_common.tables import CAMPAIGN_DATA_COLUMNS

COPY = "campaigns_cost"
BASE = "base (no index)"
ALL = "all of campaigns"
# Alternatives worth pricing, alone and in place of the migrated index they would replace (in context: the
# caches and the WAL see the whole set): label -> (the index replaced, its definition; {table} is the copy).
CANDIDATES: dict[str, tuple[str, str]] = {
    **{
        f"trigram GIN, pending list {kb} kB": (
            "ix_campaigns_name_trgm",
            f"CREATE INDEX ON {{table}} USING gin (name gin_trgm_ops) WITH (gin_pending_list_limit = {kb})",
        )
        for kb in (1024, 16384)
    },
    "trigram GiST": ("ix_campaigns_name_trgm", "CREATE INDEX ON {table} USING gist (name gist_trgm_ops)"),
    "(channel, cost::float8, id)": (
        "ix_campaigns_channel_cost_id",
        "CREATE INDEX ON {table} (channel, (cost::double precision), id)",
    ),
    "(cost, id) without channel": ("ix_campaigns_channel_cost_id", "CREATE INDEX ON {table} (cost, id)"),
}


@dataclass(frozen=True)
class Variant:
    label: str
    statements: tuple[str, ...]  # CREATE INDEX ... ON {table}


@dataclass
class Cost:
    label: str
    rows_s: float
    us_per_row: float  # wall time over the base's
    cpu_us_per_row: float  # the server process's CPU over the base's
    index_mb: float
    table_mb: float


def _on_copy(definition: str) -> str:
    """A migrated index's definition (pg_indexes.indexdef) made to create an unnamed index on the copy."""
    return re.sub(r"^CREATE (UNIQUE )?INDEX \S+ ON \S+", r"CREATE \1INDEX ON {table}", definition)


async def variants(connection: asyncpg.Connection) -> list[Variant]:
    """The base, each index of the migrated ``campaigns`` alone, the candidates, and all of the table's."""
    migrated = await connection.fetch(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'campaigns' ORDER BY indexname"
    )
    alone = [Variant(row["indexname"], (_on_copy(row["indexdef"]),)) for row in migrated]
    definitions = {v.label: v.statements[0] for v in alone}

    def all_but(name: str, *instead: str) -> tuple[str, ...]:
        return (*(sql for other, sql in definitions.items() if other != name), *instead)

    return [
        Variant(BASE, ()),
        *alone,
        *(Variant(label, (sql,)) for label, (_, sql) in CANDIDATES.items()),
        Variant(ALL, tuple(definitions.values())),
        *(Variant(f"all but {name}", all_but(name)) for name in definitions),
        *(Variant(f"all, {label} instead", all_but(name, sql)) for label, (name, sql) in CANDIDATES.items()),
    ]


async def _copy_once(
    connection: asyncpg.Connection, variant: Variant, rows: Sequence[Sequence[Any]]
) -> tuple[float, float]:
    """Wall and backend CPU seconds of one COPY of ``rows`` (and its commit) into a fresh copy."""
    await connection.execute(f"DROP TABLE IF EXISTS {COPY}")
    await connection.execute(
        f"CREATE TABLE {COPY} (LIKE campaigns INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING IDENTITY)"
    )
    for statement in variant.statements:
        await connection.execute(statement.format(table=COPY))
    backend = connection.get_server_pid()
    began, cpu = time.perf_counter(), cpu_seconds(backend)
    async with connection.transaction():
        await connection.copy_records_to_table(COPY, records=rows, columns=CAMPAIGN_DATA_COLUMNS)
    return time.perf_counter() - began, cpu_seconds(backend) - cpu


async def measure(
    database_url: str, rows: Sequence[Sequence[Any]], rounds: int, only: Sequence[str] = ()
) -> list[Cost]:
    """Every variant (or those whose label contains one of ``only``, and the base), best of ``rounds``."""
    connection = await asyncpg.connect(plain_dsn(database_url))
    try:
        await connection.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        chosen = [
            v
            for v in await variants(connection)
            if not only or v.label in (BASE, ALL) or any(word in v.label for word in only)
        ]
        best: dict[str, float] = {}
        best_cpu: dict[str, float] = {}
        sizes: dict[str, tuple[float, float]] = {}
        for _ in range(rounds):
            for variant in chosen:
                seconds, cpu = await _copy_once(connection, variant, rows)
                best[variant.label] = min(seconds, best.get(variant.label, seconds))
                best_cpu[variant.label] = min(cpu, best_cpu.get(variant.label, cpu))
                sized = await connection.fetchrow(
                    f"SELECT pg_indexes_size('{COPY}') AS indexes, pg_table_size('{COPY}') AS heap"
                )
                sizes[variant.label] = (sized["indexes"] / 2**20, sized["heap"] / 2**20)
        await connection.execute(f"DROP TABLE IF EXISTS {COPY}")
    finally:
        await connection.close()
    base, base_cpu = best[BASE], best_cpu[BASE]
    return [
        Cost(
            v.label,
            len(rows) / best[v.label],
            (best[v.label] - base) / len(rows) * 1e6,
            (best_cpu[v.label] - base_cpu) / len(rows) * 1e6,
            *sizes[v.label],
        )
        for v in chosen
    ]
