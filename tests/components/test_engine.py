"""The shared engine and the epoch ticker lifespan."""

from __future__ import annotations

import threading

import pytest

from greentic_runner.components.engine import EngineSettings, EpochTicker, shared_engine


def test_one_engine_per_settings() -> None:
    assert shared_engine(EngineSettings()) is shared_engine(EngineSettings())
    assert shared_engine(EngineSettings()) is not shared_engine(
        EngineSettings(cranelift_opt_level="none")
    )


def test_ticks_cover_the_timeout_plus_the_partial_tick() -> None:
    ticker = EpochTicker(shared_engine(EngineSettings()), tick_ms=10)
    assert ticker.ticks_for(1) == 2
    assert ticker.ticks_for(10) == 2
    assert ticker.ticks_for(11) == 3
    with pytest.raises(ValueError):
        EpochTicker(shared_engine(EngineSettings()), tick_ms=0)


async def test_ticker_thread_runs_from_the_first_deadline_to_the_end_of_the_block() -> None:
    ticker = EpochTicker(shared_engine(EngineSettings()), tick_ms=5)
    ticker.ensure_running()  # before the block: nothing to tick for
    assert not ticker.running and not ticker.open
    async with ticker:
        assert ticker.open and not ticker.running  # no deadline armed yet: no thread
        ticker.ensure_running()
        assert ticker.running
        ticker.ensure_running()  # idempotent
        assert ticker_threads() == 1
    assert not ticker.running and not ticker.open
    ticker.ensure_running()  # after the block: a late deadline does not restart it
    assert not ticker.running


async def test_deadlines_armed_at_once_from_many_threads_start_one_thread() -> None:
    ticker = EpochTicker(shared_engine(EngineSettings()), tick_ms=5)
    async with ticker:
        barrier = threading.Barrier(8)

        def arm() -> None:
            barrier.wait()
            ticker.ensure_running()

        workers = [threading.Thread(target=arm) for _ in range(8)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert ticker_threads() == 1
    assert ticker_threads() == 0


def ticker_threads() -> int:
    return sum(thread.name == "wasm-epoch-ticker" for thread in threading.enumerate())
