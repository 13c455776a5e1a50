"""campaign_daily rows in PostgreSQL's binary COPY format, encoded by the loader itself.

asyncpg's ``copy_records_to_table`` encodes each value through its type's codec: for a daily row that is
most of the loader's CPU (bench/loader/micro.py: 3.2 of 6 us a row), half of it the cost (a ``Decimal`` to
build, then ``numeric``'s encoder) and the version (the same ``timestamptz`` in every row of a message).
Here a message's constant fields (campaign_id, channel, fetched_at, sync_id and the staging table's message
index) are encoded once, and each row is one ``struct`` pack of the rest: 0.9 us a row.

Exact as before: ``cost`` is written as the decimal of its float's shortest repr (``Decimal(repr(cost))``,
what the loader sent before), which is the cents ``round(cost * 100)`` whenever those cents give the float
back (every cost an ad platform reports: the shortest repr of a float under 10^12 that is some n / 100 is
that n / 100, since it has at most 15 significant digits); any other cost goes through its ``Decimal``.
PostgreSQL rounds to the column's scale on input either way. The wire formats are PostgreSQL's ``*_send``
functions' (``src/backend/utils/adt``): text as its UTF-8 bytes, date as int32 days since 2000-01-01,
bigint int64, double float64, timestamptz int64 microseconds since 2000-01-01 UTC, numeric as ndigits,
weight, sign, dscale and base-10000 digits.
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from functools import lru_cache
from typing import Final

from demetra_common.tables import DAILY_COLUMNS

# One row of ``campaign_daily`` in DAILY_COLUMNS order; cost is the message's float (written exactly as its
# shortest repr, see above).
DailyValues = tuple[str, dt.date, str, int, int, int, float, float, float, dt.datetime, str]
# The daily rows of one message, with the message's index in its batch (staged with each row).
MessageDays = tuple[int, Sequence[DailyValues]]

# The PostgreSQL type of each DAILY_COLUMNS column, in that order, as the encoder writes them (a unit test
# holds it to the table's columns).
COLUMN_TYPES: Final = (
    "text",
    "date",
    "text",
    "bigint",
    "bigint",
    "bigint",
    "numeric",
    "double precision",
    "double precision",
    "timestamp with time zone",
    "text",
)
assert len(COLUMN_TYPES) == len(DAILY_COLUMNS)

SIGNATURE: Final = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)  # no flags, no header extension
TRAILER: Final = struct.pack(">h", -1)
_PG_EPOCH: Final = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_PG_EPOCH_DAY: Final = dt.date(2000, 1, 1).toordinal()
# numeric's sign word: positive, negative, NaN, +infinity, -infinity.
_NUMERIC_POS, _NUMERIC_NEG, _NUMERIC_NAN = 0x0000, 0x4000, 0xC000
_NUMERIC_PINF, _NUMERIC_NINF = 0xD000, 0xF000
# A cost below this is written from its cents when they give it back (see the module's docstring).
_CENTS_BELOW: Final = 1e12
_NUMERIC_HEADER = struct.Struct(">hhHH")
_FIELD_LENGTH = struct.Struct(">i")
_INT32_FIELD = struct.Struct(">ii")
_INT64_FIELD = struct.Struct(">iq")
# A row in one pack: its head (the field count and campaign_id), the date, the channel, then impressions,
# clicks, engagement, the cost (weight 2 and dscale 2: three base-10000 digits of whole units and one of
# cents, so any cost under 10^12 fits), conversions and revenue, and its tail (fetched_at, sync_id, the
# stage's message). Head, channel and tail are the message's, encoded once; their lengths make the format.
_CENTS_ROW = ">{}sii{}siqiqiqihhHH4Hidid{}s"
_METRICS_BEFORE_COST = struct.Struct(">iqiqiq")
_METRICS_AFTER_COST = struct.Struct(">idid")
_NOTHING: Final = object()


@lru_cache(maxsize=256)
def _cents_row(head: int, channel: int, tail: int) -> Callable[..., bytes]:
    return struct.Struct(_CENTS_ROW.format(head, channel, tail)).pack


class Unencodable(ValueError):
    """A value the column's wire format cannot hold (a count beyond int64, text that is not UTF-8...)."""


def encode_days(
    days: Iterable[MessageDays], *, message_column: bool = False, chunk_rows: int = 2000
) -> Iterator[bytes]:
    """The COPY data of these messages' daily rows, in chunks of ``chunk_rows`` rows (the first begins with
    the signature, the last ends with the trailer), so that PostgreSQL parses a chunk while the next is
    encoded. ``message_column``: each row gets its message's index as one more column (int32: the staging
    table's ``message``). Raises ``Unencodable``."""
    chunk: list[bytes] = [SIGNATURE]
    append = chunk.append
    row_header = struct.pack(">h", len(DAILY_COLUMNS) + message_column)
    in_chunk = 0
    for index, rows in days:
        message_field = _INT32_FIELD.pack(4, index) if message_column else b""
        # The rows of a message share these objects, so they are encoded once per message (the same object
        # is the same value: a coincidence across messages is still right).
        shared_id: object = _NOTHING
        shared_channel: object = _NOTHING
        shared_at: object = _NOTHING
        shared_sync: object = _NOTHING
        head = channel_field = tail = b""
        pack = _cents_row(0, 0, 0)
        for row in rows:
            c_id, date, chan, impressions, clicks, engagement, cost, conversions, revenue, at, sync = row
            try:
                if (
                    c_id is not shared_id
                    or chan is not shared_channel
                    or at is not shared_at
                    or sync is not shared_sync
                ):
                    shared_id, shared_channel, shared_at, shared_sync = c_id, chan, at, sync
                    head = row_header + _text(c_id)
                    channel_field = _text(chan)
                    tail = _timestamptz(at) + _text(sync) + message_field
                    pack = _cents_row(len(head), len(channel_field), len(tail))
                day = date.toordinal() - _PG_EPOCH_DAY
                if 0 <= cost < _CENTS_BELOW and (cents := round(cost * 100)) / 100 == cost:
                    units, hundredths = divmod(cents, 100)
                    high, low = divmod(units, 100_000_000)
                    middle, low = divmod(low, 10_000)
                    # fmt: off
                    append(pack(
                        head, 4, day, channel_field, 8, impressions, 8, clicks, 8, engagement,
                        16, 4, 2, _NUMERIC_POS, 2, high, middle, low, hundredths * 100,
                        8, conversions, 8, revenue, tail,
                    ))
                    # fmt: on
                else:
                    append(head)
                    append(_INT32_FIELD.pack(4, day))
                    append(channel_field)
                    append(_METRICS_BEFORE_COST.pack(8, impressions, 8, clicks, 8, engagement))
                    append(_numeric_field(Decimal(repr(cost))))
                    append(_METRICS_AFTER_COST.pack(8, conversions, 8, revenue))
                    append(tail)
            except (struct.error, ArithmeticError, AttributeError, TypeError, ValueError) as exc:
                raise Unencodable(f"{type(exc).__name__}: {exc} (row {row!r})") from exc
            in_chunk += 1
            if in_chunk == chunk_rows:
                yield b"".join(chunk)
                chunk.clear()
                in_chunk = 0
    append(TRAILER)
    yield b"".join(chunk)


def _text(value: str) -> bytes:
    data = value.encode()
    return _FIELD_LENGTH.pack(len(data)) + data


def _timestamptz(value: dt.datetime) -> bytes:
    since = value - _PG_EPOCH  # a TypeError for a naive datetime: it names no instant
    return _INT64_FIELD.pack(8, (since.days * 86_400 + since.seconds) * 1_000_000 + since.microseconds)


def _numeric_field(value: Decimal) -> bytes:
    """A numeric field (length and value) of exactly ``value``."""
    data = numeric(value)
    return _FIELD_LENGTH.pack(len(data)) + data


def numeric(value: Decimal) -> bytes:
    """``value`` in numeric's binary format, exactly: what PostgreSQL's ``numeric_send`` writes for it, up
    to leading and trailing zero digits, which ``numeric_recv`` drops."""
    sign, digits, exponent = value.as_tuple()
    if exponent == "n" or exponent == "N":
        return _NUMERIC_HEADER.pack(0, 0, _NUMERIC_NAN, 0)
    if exponent == "F":
        return _NUMERIC_HEADER.pack(0, 0, _NUMERIC_NINF if sign else _NUMERIC_PINF, 0)
    assert isinstance(exponent, int)
    coefficient = int("".join(map(str, digits)))
    scale = max(0, -exponent)  # decimal digits after the point: numeric_recv keeps exactly these
    groups = -(-scale // 4)  # base-10000 digits after the point
    whole = coefficient * 10 ** (exponent + 4 * groups)  # value x 10000^groups, an integer
    base_10000: list[int] = []  # least significant first
    while whole:
        whole, digit = divmod(whole, 10_000)
        base_10000.append(digit)
    while base_10000 and base_10000[0] == 0:  # trailing zero digits
        base_10000.pop(0)
        groups -= 1
    if not base_10000:
        return _NUMERIC_HEADER.pack(0, 0, _NUMERIC_POS, scale)
    base_10000.reverse()
    weight = len(base_10000) - 1 - groups
    header = _NUMERIC_HEADER.pack(len(base_10000), weight, _NUMERIC_NEG if sign else _NUMERIC_POS, scale)
    return header + struct.pack(f">{len(base_10000)}H", *base_10000)
