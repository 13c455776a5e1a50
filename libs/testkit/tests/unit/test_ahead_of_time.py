"""AheadOfTime: resources made one ahead and disposed of in the background, on a thread of their own."""

from __future__ import annotations

import itertools
import threading

import pytest

from demetra_testkit import AheadOfTime


class Ledger:
    """What the make and dispose coroutines did, and on which thread."""

    def __init__(self) -> None:
        self.numbers = itertools.count(1)
        self.made: list[int] = []
        self.disposed: list[int] = []
        self.threads: set[str] = set()

    async def make(self) -> int:
        self.threads.add(threading.current_thread().name)
        number = next(self.numbers)
        self.made.append(number)
        return number

    async def dispose(self, number: int) -> None:
        self.threads.add(threading.current_thread().name)
        self.disposed.append(number)


async def test_each_take_gets_a_new_resource_and_close_disposes_of_every_one_made() -> None:
    ledger = Ledger()
    ahead = AheadOfTime(ledger.make, ledger.dispose, name="ledger")
    first = await ahead.take()
    ahead.give_back(first)
    second = await ahead.take()
    ahead.give_back(second)
    ahead.close()
    assert (first, second) == (1, 2)
    # The one made ahead for a third test that never came is disposed of too.
    assert sorted(ledger.disposed) == ledger.made == [1, 2, 3]
    assert ledger.threads == {"ledger"}


async def test_a_failure_to_make_is_raised_by_the_take_that_gets_it() -> None:
    async def broken() -> int:
        raise RuntimeError("no server")

    async def dispose(number: int) -> None:
        raise AssertionError("nothing was made, nothing to dispose of")

    ahead = AheadOfTime(broken, dispose)
    with pytest.raises(RuntimeError, match="no server"):
        await ahead.take()
    ahead.close()


async def test_close_raises_a_failed_disposal_after_running_the_others() -> None:
    ledger = Ledger()

    async def dispose(number: int) -> None:
        await ledger.dispose(number)
        if number == 1:
            raise RuntimeError("could not drop 1")

    ahead = AheadOfTime(ledger.make, dispose)
    ahead.give_back(await ahead.take())
    with pytest.raises(RuntimeError, match="could not drop 1"):
        ahead.close()
    assert sorted(ledger.disposed) == [1, 2]
