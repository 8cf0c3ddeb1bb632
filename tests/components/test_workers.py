"""WorkerThreads: calls leave the event loop, run in parallel, and come back intact."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import AsyncIterator

import pytest

from greentic_runner.components.workers import WorkerThreads

WAIT = 10.0  # generous safety bound on blocking waits; never a timing assertion
REQUEST = contextvars.ContextVar("REQUEST", default="none")


@pytest.fixture
async def workers() -> AsyncIterator[WorkerThreads]:
    pool = WorkerThreads(max_threads=4)
    pool.start()
    yield pool
    await asyncio.to_thread(pool.stop)


async def test_calls_run_off_the_event_loop_thread(workers: WorkerThreads) -> None:
    loop_thread = threading.get_ident()
    assert await workers.run(threading.get_ident) != loop_thread


async def test_results_exceptions_and_context_come_back(workers: WorkerThreads) -> None:
    assert await workers.run(lambda a, b: a + b, 2, 3) == 5
    error = ValueError("boom")

    def fail() -> None:
        raise error

    with pytest.raises(ValueError) as caught:
        await workers.run(fail)
    assert caught.value is error
    REQUEST.set("turn-7")
    assert await workers.run(REQUEST.get) == "turn-7"


async def test_stop_iteration_becomes_a_runtime_error(workers: WorkerThreads) -> None:
    def stop() -> None:
        raise StopIteration("done")

    with pytest.raises(RuntimeError, match="StopIteration"):
        await workers.run(stop)


async def test_blocked_calls_do_not_queue_others(workers: WorkerThreads) -> None:
    barrier = threading.Barrier(3, timeout=WAIT)  # only passes if 3 calls run at once
    results = await asyncio.gather(*(workers.run(barrier.wait) for _ in range(3)))
    assert sorted(results) == [0, 1, 2]
    assert workers.thread_count == 3


async def test_sequential_calls_reuse_one_thread(workers: WorkerThreads) -> None:
    names = {await workers.run(lambda: threading.current_thread().name) for _ in range(20)}
    assert len(names) == 1
    assert workers.thread_count == 1


async def test_thread_count_is_bounded() -> None:
    pool = WorkerThreads(max_threads=1)
    pool.start()
    try:
        names = await asyncio.gather(
            *(pool.run(lambda: threading.current_thread().name) for _ in range(5))
        )
        assert len(set(names)) == 1
        assert pool.thread_count == 1
    finally:
        await asyncio.to_thread(pool.stop)


async def test_a_cancelled_caller_does_not_break_the_pool(workers: WorkerThreads) -> None:
    started, release = threading.Event(), threading.Event()

    def blocked() -> str:
        started.set()
        release.wait(WAIT)
        return "late"

    task = asyncio.create_task(workers.run(blocked))
    await asyncio.to_thread(started.wait, WAIT)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    release.set()
    assert await workers.run(lambda: "next") == "next"


async def test_stop_lets_running_calls_finish_then_refuses_new_ones() -> None:
    pool = WorkerThreads()
    with pytest.raises(RuntimeError, match="not started"):
        await pool.run(lambda: 1)
    pool.start()
    started, release = threading.Event(), threading.Event()

    def blocked() -> str:
        started.set()
        release.wait(WAIT)
        return "finished"

    call = asyncio.create_task(pool.run(blocked))
    await asyncio.to_thread(started.wait, WAIT)
    stopping = asyncio.create_task(asyncio.to_thread(pool.stop))
    release.set()
    assert await call == "finished"
    await stopping
    assert pool.thread_count == 0 and not pool.running
    with pytest.raises(RuntimeError, match="not started"):
        await pool.run(lambda: 1)
    pool.start()
    try:
        assert await pool.run(lambda: 2) == 2
    finally:
        await asyncio.to_thread(pool.stop)


def test_max_threads_must_be_positive() -> None:
    with pytest.raises(ValueError):
        WorkerThreads(max_threads=0)
