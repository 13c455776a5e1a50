"""The loader's own binary COPY of daily rows (``demetra_loader.daily_copy``) against PostgreSQL: every
column arrives as asyncpg's COPY wrote it before (the cost as PostgreSQL parses its float's shortest repr),
numeric is exact for any decimal, the encoder's column types are the table's, and what the wire format or
the table cannot hold is a refusal."""

from __future__ import annotations

import datetime as dt
import random
import struct
from collections.abc import AsyncIterator
from decimal import Decimal

import asyncpg
import pytest

from demetra_common.tables import DAILY_COLUMNS, DAILY_PARTITIONS
from demetra_loader.daily_copy import COLUMN_TYPES, SIGNATURE, TRAILER, DailyValues, numeric
from demetra_loader.repository import PostgresDatabase, RejectedByDatabase

MONTH = dt.date(2026, 11, 1)
AT = dt.datetime(2026, 11, 25, 14, 30, 5, 123456, tzinfo=dt.UTC)
# Another zone, before PostgreSQL's epoch (negative microseconds), and at it.
ZONED = dt.datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.timezone(dt.timedelta(hours=-5, minutes=-30)))
EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
DAYS = 30


def _costs() -> list[float]:
    """Costs of every shape the table can store: whole cents, more decimals, halves to round, edges."""
    rng = random.Random(20261201)
    cents = [rng.randrange(0, 10**k) / 100 for k in range(1, 15) for _ in range(40)]
    uneven = [rng.uniform(0, 10.0**k) for k in range(-3, 12) for _ in range(20)]
    edges = [0.0, -0.0, 0.01, 0.005, 0.015, 0.125, 1.005, 2.675, 0.1 + 0.2, 999_999_999_999.99, 1e-7, 5e-324]
    return edges + cents + uneven + [round(value, 3) for value in uneven]


def _rows() -> list[DailyValues]:
    """Each cost a day of its own; the other columns varied: text beyond ASCII, days before and after 2000,
    counts up to int64's largest, doubles of any size, versions in other zones."""
    rows: list[DailyValues] = []
    versions = [AT, ZONED, EPOCH]
    for number, cost in enumerate(_costs()):
        campaign, day = divmod(number, DAYS)
        rows.append(
            (
                f"c{campaign}-ünï",
                (MONTH if number % 7 else dt.date(1999, 12, 1)) + dt.timedelta(days=day),
                "facebook",
                number * 1_000_003 if number % 11 else 2**63 - 1,
                number,
                0,
                cost,
                [0.0, 0.1, 1e308, 5e-324, 2.5][number % 5],
                number / 7,
                versions[campaign % 3],
                f"sync-{campaign % 4}-€",
            )
        )
    return rows


def _messages(rows: list[DailyValues]) -> list[tuple[int, list[DailyValues]]]:
    """The rows as messages: each campaign's days, sharing its objects as a message's rows do."""
    by_campaign: dict[str, list[DailyValues]] = {}
    for row in rows:
        by_campaign.setdefault(row[0], []).append(row)
    return list(enumerate(by_campaign.values()))


async def _partitions(db: asyncpg.Connection) -> None:
    for month in {MONTH, dt.date(1999, 12, 1), dt.date(2000, 1, 1)}:
        await db.execute(DAILY_PARTITIONS.create_sql(month))


def _as_before(row: DailyValues) -> tuple[object, ...]:
    """The row as the loader handed it to asyncpg before: the cost as the Decimal of its shortest repr."""
    return (*row[:6], Decimal(repr(row[6])), *row[7:])


@pytest.mark.parametrize("path", ["copy_days", "upsert_days"])
async def test_every_column_arrives_as_asyncpg_wrote_it(
    path: str, database: PostgresDatabase, db: asyncpg.Connection
) -> None:
    """The loader's COPY (straight into the table, or through the staging table of the upsert) stores
    what asyncpg's ``copy_records_to_table`` of the same rows stores, value for value."""
    await _partitions(db)
    rows = _rows()
    async with database.transaction() as repository:
        await getattr(repository, path)(_messages(rows))
    columns = ", ".join(DAILY_COLUMNS)
    await db.execute("CREATE TEMPORARY TABLE before (LIKE campaign_daily INCLUDING DEFAULTS)")
    await db.copy_records_to_table("before", records=[_as_before(row) for row in rows], columns=DAILY_COLUMNS)
    differ = await db.fetchval(
        f"SELECT count(*) FROM ((SELECT {columns} FROM campaign_daily EXCEPT SELECT {columns} FROM before)"
        f" UNION ALL (SELECT {columns} FROM before EXCEPT SELECT {columns} FROM campaign_daily)) AS d"
    )
    assert differ == 0
    stored = {tuple(r) for r in await db.fetch(f"SELECT {columns} FROM campaign_daily")}
    assert len(stored) == len(rows)
    # Each cost is what PostgreSQL makes of its shortest repr, the text the message carried.
    reprs = [(row[0], row[1], repr(row[6])) for row in rows]
    await db.execute("CREATE TEMPORARY TABLE sent (campaign_id text, date date, cost text)")
    await db.copy_records_to_table("sent", records=reprs)
    wrong = await db.fetchval(
        "SELECT count(*) FROM campaign_daily d JOIN sent s USING (campaign_id, date)"
        " WHERE d.cost IS DISTINCT FROM s.cost::numeric(14, 2)"
    )
    assert wrong == 0 and len(reprs) == len(rows)


async def test_numeric_is_exact_for_any_decimal(db: asyncpg.Connection) -> None:
    """``numeric`` as PostgreSQL parses the same decimal's text: value and scale, signs, zeros, sizes far
    beyond a cost's, NaN and the infinities."""
    rng = random.Random(7)
    values = [
        "0", "-0", "0.000", "312.4", "312.40", "-17.5", "-0.0001", "1E+20", "-1E+20", "12345678.87654321",
        "123456789012345678901234567890.000001", "5E-324", "-1.7976931348623157E+308", "NaN", "Infinity",
        "-Infinity",
    ]  # fmt: skip
    for _ in range(300):
        values.append(str(Decimal(rng.randrange(-(10**30), 10**30)).scaleb(-rng.randrange(0, 40))))
    data = [SIGNATURE]
    for number, value in enumerate(values):
        encoded = numeric(Decimal(value))
        data.append(struct.pack(">hiii", 2, 4, number, len(encoded)) + encoded)
    data.append(TRAILER)
    await db.execute("CREATE TEMPORARY TABLE n (number integer, value numeric)")
    await db.copy_to_table("n", source=_source(data), format="binary")
    stored = [row[0] for row in await db.fetch("SELECT value::text FROM n ORDER BY number")]
    parsed = [await db.fetchval("SELECT $1::numeric::text", value) for value in values]
    assert stored == parsed


async def _source(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def test_the_encoders_types_are_the_tables(db: asyncpg.Connection) -> None:
    types = await db.fetch(
        "SELECT attname, format_type(atttypid, NULL) FROM pg_attribute"
        " WHERE attrelid = 'campaign_daily'::regclass AND attnum > 0 AND NOT attisdropped"
    )
    table = dict(tuple(row) for row in types)
    assert tuple(table[column] for column in DAILY_COLUMNS) == COLUMN_TYPES


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        ({3: 2**63}, "Unencodable"),  # impressions beyond bigint
        ({6: 1e12}, "NumericValueOutOfRangeError"),  # more than numeric(14, 2) holds
        ({6: float("inf")}, "NumericValueOutOfRangeError"),
        ({0: "nul\x00"}, "CharacterNotInRepertoireError"),
    ],
)
async def test_what_the_wire_or_the_table_cannot_hold_is_refused(
    change: dict[int, object], refusal: str, database: PostgresDatabase, db: asyncpg.Connection
) -> None:
    await _partitions(db)
    row = list(_rows()[1])
    for at, value in change.items():
        row[at] = value
    with pytest.raises(RejectedByDatabase, match=refusal):
        async with database.transaction() as repository:
            await repository.copy_days([(0, [tuple(row)])])  # type: ignore[list-item]
    assert await db.fetchval("SELECT count(*) FROM campaign_daily") == 0
