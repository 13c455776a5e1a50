"""The loader's binary COPY of daily rows, without a database: a cost written from its cents is the number
its shortest repr names, and chunking changes nothing of the bytes (tests/integration/test_daily_copy.py
holds both to PostgreSQL's own parsing)."""

from __future__ import annotations

import datetime as dt
import random
import struct
from decimal import Decimal, localcontext

import pytest

from demetra_loader.daily_copy import SIGNATURE, TRAILER, DailyValues, Unencodable, encode_days, numeric

T = dt.datetime(2026, 11, 25, 14, 30, 5, 123456, tzinfo=dt.UTC)
# Where a row's cost field sits in the COPY data of one row (``_row``): the field count, then campaign_id
# "c" (4 + 1 bytes), date (4 + 4), channel "facebook" (4 + 8), three bigints (3 x (4 + 8)).
COST_AT = len(SIGNATURE) + 2 + 5 + 8 + 12 + 36


def _row(cost: float, campaign_id: str = "c", day: int = 0) -> DailyValues:
    date = dt.date(2026, 11, 1) + dt.timedelta(days=day)
    return (campaign_id, date, "facebook", 1000, 10, 3, cost, 1.5, 20.25, T, "s")


def _decoded(data: bytes) -> Decimal:
    """A numeric field (length, then the value) back to the Decimal it stands for, at its scale."""
    (length,) = struct.unpack_from(">i", data)
    ndigits, weight, sign, scale = struct.unpack_from(">hhHH", data, 4)
    assert length == 8 + 2 * ndigits and sign in (0x0000, 0x4000)
    whole = 0
    for digit in struct.unpack_from(f">{ndigits}H", data, 12):
        assert 0 <= digit < 10_000
        whole = whole * 10_000 + digit
    value = Decimal((1 if sign else 0, tuple(int(d) for d in str(whole)), 4 * (weight - ndigits + 1)))
    with localcontext(prec=100_000):
        return value.quantize(Decimal((0, (1,), -scale)))


def _cost_written(cost: float) -> Decimal:
    return _decoded(b"".join(encode_days([(0, [_row(cost)])]))[COST_AT:])


def _costs() -> list[float]:
    rng = random.Random(20261201)
    cents = [rng.randrange(0, 10**k) / 100 for k in range(1, 15) for _ in range(300)]
    uneven = [rng.uniform(0, 10.0**k) for k in range(-3, 13) for _ in range(100)]
    edges = [0.0, -0.0, 0.01, 0.005, 0.125, 1.005, 2.675, 0.1 + 0.2, 999_999_999_999.99, 1e12, 1e-7, 5e-324]
    return edges + cents + uneven + [round(value, 3) for value in uneven]


def test_a_cost_is_written_as_the_number_its_shortest_repr_names() -> None:
    """Both ways of writing a cost (from its cents, or through its Decimal) give ``Decimal(repr(cost))``."""
    for cost in _costs():
        assert _cost_written(cost) == Decimal(repr(cost)), cost


@pytest.mark.parametrize(
    "value",
    ["0", "-0.0", "312.4", "312.40", "-17.5", "1E+20", "123456789012345678901234567890.000001", "5E-324"],
)
def test_numeric_is_exact_and_keeps_the_scale(value: str) -> None:
    data = numeric(Decimal(value))
    decoded = _decoded(struct.pack(">i", len(data)) + data)
    assert decoded == Decimal(value)
    assert struct.unpack_from(">H", data, 6)[0] == max(0, -int(Decimal(value).as_tuple().exponent))


def test_chunks_change_nothing_of_the_data() -> None:
    days = [(index, [_row(1.25 * day, f"c{index}", day) for day in range(7)]) for index in range(5)]
    whole = list(encode_days(days, message_column=True))
    chunked = list(encode_days(days, message_column=True, chunk_rows=3))
    assert len(whole) == 1 and len(chunked) == 12  # 35 rows: 11 chunks of 3, then the last 2 and the trailer
    assert b"".join(chunked) == whole[0]
    assert whole[0].startswith(SIGNATURE) and whole[0].endswith(TRAILER)


def test_a_value_the_wire_format_cannot_hold_is_unencodable() -> None:
    too_many = ("c", dt.date(2026, 11, 1), "facebook", 2**63, 0, 0, 1.0, 0.0, 0.0, T, "s")
    naive = ("c", dt.date(2026, 11, 1), "facebook", 1, 0, 0, 1.0, 0.0, 0.0, T.replace(tzinfo=None), "s")
    for row in (too_many, naive):
        with pytest.raises(Unencodable):
            b"".join(encode_days([(0, [row])]))
