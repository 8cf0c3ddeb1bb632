"""The shared engine and the epoch ticker lifespan."""

from __future__ import annotations

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


async def test_ticker_thread_lives_inside_the_async_with() -> None:
    ticker = EpochTicker(shared_engine(EngineSettings()), tick_ms=5)
    assert not ticker.running
    async with ticker:
        assert ticker.running
        ticker.start()  # idempotent
        assert ticker.running
    assert not ticker.running
