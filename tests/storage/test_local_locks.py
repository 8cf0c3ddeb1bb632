"""LocalLocks: in-process named locks with hand-off, cancellation and cleanup."""

from __future__ import annotations

import asyncio

import pytest

from greentic_runner.storage.locks import LocalLocks


async def test_holders_of_one_name_run_one_at_a_time_in_arrival_order() -> None:
    locks = LocalLocks()
    order: list[str] = []

    async def turn(tag: str) -> None:
        async with locks.hold("conv"):
            order.append(f"{tag}+")
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            order.append(f"{tag}-")

    await asyncio.gather(*(turn(str(i)) for i in range(5)))
    assert order == [f"{i}{sign}" for i in range(5) for sign in "+-"]
    assert locks._held == {}


async def test_other_names_are_not_blocked() -> None:
    locks = LocalLocks()
    async with locks.hold("a"):
        await asyncio.wait_for(_enter_and_leave(locks, "b"), 1)


async def _enter_and_leave(locks: LocalLocks, name: str) -> None:
    async with locks.hold(name):
        pass


async def test_an_error_in_the_block_releases_the_lock() -> None:
    locks = LocalLocks()
    with pytest.raises(RuntimeError):
        async with locks.hold("conv"):
            raise RuntimeError("turn failed")
    await asyncio.wait_for(_enter_and_leave(locks, "conv"), 1)
    assert locks._held == {}


async def _waiter(locks: LocalLocks, tag: str, entered: list[str]) -> None:
    async with locks.hold("conv"):
        entered.append(tag)


async def test_a_cancelled_waiter_does_not_block_the_next_one() -> None:
    locks = LocalLocks()
    entered: list[str] = []
    async with locks.hold("conv"):
        first = asyncio.create_task(_waiter(locks, "first", entered))
        second = asyncio.create_task(_waiter(locks, "second", entered))
        await asyncio.sleep(0)
        first.cancel()
        await asyncio.sleep(0)
    await asyncio.wait_for(second, 1)
    assert first.cancelled()
    assert entered == ["second"]
    assert locks._held == {}


async def test_a_waiter_cancelled_after_the_hand_off_passes_the_lock_on() -> None:
    locks = LocalLocks()
    entered: list[str] = []
    holder = locks.hold("conv")
    await holder.__aenter__()
    first = asyncio.create_task(_waiter(locks, "first", entered))
    second = asyncio.create_task(_waiter(locks, "second", entered))
    await asyncio.sleep(0)
    await holder.__aexit__(None, None, None)  # hands the lock to `first`...
    first.cancel()  # ...which is cancelled before it runs
    await asyncio.wait_for(second, 1)
    assert first.cancelled()
    assert entered == ["second"]
    assert locks._held == {}
