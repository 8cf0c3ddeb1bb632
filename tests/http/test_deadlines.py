"""Deadlines: slot timers cancel overdue tasks, and only those."""

from __future__ import annotations

import asyncio

import pytest

from greentic_runner.http.deadlines import Deadlines


async def _watched(deadlines: Deadlines, seconds: float, timeout: float) -> tuple[str, bool]:
    task = asyncio.current_task()
    assert task is not None
    slot = deadlines.watch(task, timeout)
    try:
        await asyncio.sleep(seconds)
        return "finished", deadlines.unwatch(task, slot)
    except asyncio.CancelledError:
        return "cancelled", deadlines.unwatch(task, slot)


async def test_a_task_past_its_deadline_is_cancelled_and_reported_expired() -> None:
    deadlines = Deadlines(resolution_secs=0.01)
    loop = asyncio.get_running_loop()
    start = loop.time()
    assert await _watched(deadlines, 5, 0.05) == ("cancelled", True)
    elapsed = loop.time() - start
    assert 0.05 <= elapsed < 1  # never early; late by at most a slot (plus scheduling)


async def test_a_task_finishing_in_time_is_left_alone() -> None:
    deadlines = Deadlines(resolution_secs=0.01)
    assert await _watched(deadlines, 0, 0.2) == ("finished", False)
    await asyncio.sleep(0.25)  # the slot's timer fires with nothing to cancel


async def test_tasks_in_one_slot_share_a_timer_and_each_is_cancelled() -> None:
    deadlines = Deadlines(resolution_secs=0.2)
    results = await asyncio.gather(*(_watched(deadlines, 5, 0.01) for _ in range(20)))
    assert results == [("cancelled", True)] * 20
    assert not deadlines._slots and not deadlines._expired  # nothing left behind


async def test_another_cancellation_is_not_an_expiry() -> None:
    deadlines = Deadlines()
    task = asyncio.create_task(_watched(deadlines, 5, 10))
    await asyncio.sleep(0)
    task.cancel()
    assert await task == ("cancelled", False)


def test_resolution_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Deadlines(0)
