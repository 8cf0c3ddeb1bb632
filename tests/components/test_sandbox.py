"""Hostile components are stopped within their limits and never poison later calls."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from greentic_runner.components.invoker import ComponentCall, ExecCtx
from greentic_runner.components.policy import ComponentLimits
from greentic_runner.components.sandbox import ComponentCallError
from greentic_runner.components.wasm import WasmInvoker

from .conftest import PackFactory
from .test_engine import ticker_threads

PAGE = 65536


async def _fails(invoker: WasmInvoker, pack: object, op: str, ctx: ExecCtx) -> ComponentCallError:
    with pytest.raises(ComponentCallError) as caught:
        await invoker.invoke(pack, ComponentCall("hostile06", op, {}, ctx))  # type: ignore[arg-type]
    return caught.value


async def _still_works(invoker: WasmInvoker, pack: object, ctx: ExecCtx) -> None:
    call = ComponentCall("hostile06", "echo", {"after": "trap"}, ctx)
    assert await invoker.invoke(pack, call) == {"after": "trap"}  # type: ignore[arg-type]


async def test_infinite_loop_runs_out_of_fuel_then_next_call_succeeds(
    invoker: WasmInvoker, make_pack: PackFactory, ctx: ExecCtx, limits: ComponentLimits
) -> None:
    pack = make_pack("hostile06")
    error = await _fails(invoker, pack, "loop", ctx)
    assert error.kind == "fuel"
    assert (error.tenant, error.pack, error.component, error.operation) == (
        "acme",
        "demo",
        "hostile06",
        "loop",
    )
    assert f"out of fuel (limit {limits.fuel})" in str(error)
    assert "component hostile06 failed in operation loop (tenant acme, pack demo)" in str(error)
    await _still_works(invoker, pack, ctx)


async def test_infinite_loop_hits_the_wall_clock_deadline(
    make_pack: PackFactory, ctx: ExecCtx, tmp_path: Path
) -> None:
    # Fuel enough for minutes of looping: only the epoch deadline can stop it.
    limits = ComponentLimits(fuel=10**15, timeout_ms=300, memory_bytes=64 << 20)
    pack = make_pack("hostile06")
    async with WasmInvoker(limits=limits, cache_dir=tmp_path) as invoker:
        error = await _fails(invoker, pack, "loop", ctx)
        assert error.kind == "timeout"
        assert "wall-clock deadline of 300 ms exceeded" in str(error)
        await _still_works(invoker, pack, ctx)


async def test_memory_grower_is_capped_and_traps_then_next_call_succeeds(
    invoker: WasmInvoker, make_pack: PackFactory, ctx: ExecCtx, limits: ComponentLimits
) -> None:
    pack = make_pack("hostile06")
    # The guest grows 1 MiB at a time until memory.grow fails, and reports where it stopped.
    pages = await invoker.invoke(pack, ComponentCall("hostile06", "measure", {}, ctx))
    assert limits.memory_bytes - 16 * PAGE < pages * PAGE <= limits.memory_bytes
    error = await _fails(invoker, pack, "grow", ctx)  # grows, then aborts like an allocator
    assert error.kind == "trap"
    assert "unreachable" in str(error)
    await _still_works(invoker, pack, ctx)


async def test_trap_becomes_component_error_then_next_call_succeeds(
    invoker: WasmInvoker, make_pack: PackFactory, ctx: ExecCtx
) -> None:
    pack = make_pack("hostile06")
    error = await _fails(invoker, pack, "trap", ctx)
    assert error.kind == "trap"
    assert "wasm `unreachable` instruction executed" in str(error)
    await _still_works(invoker, pack, ctx)


async def test_should_cancel_reflects_the_callers_deadline(
    invoker: WasmInvoker, make_pack: PackFactory
) -> None:
    pack = make_pack("hostile06")
    past = ExecCtx(tenant="acme", deadline_unix_ms=int(time.time() * 1000) - 1)
    out = await invoker.invoke(pack, ComponentCall("hostile06", "cancel", {}, past))
    assert out == {
        "ok": False,
        "error": {
            "code": "cancelled",
            "message": "control.should-cancel returned true",
            "retryable": False,
        },
    }


async def test_should_cancel_is_false_within_the_deadline(
    invoker: WasmInvoker, make_pack: PackFactory, ctx: ExecCtx
) -> None:
    out = await invoker.invoke(make_pack("caps06"), ComponentCall("caps06", "cancel", {}, ctx))
    assert out == {"cancel": False}


async def test_calls_run_off_the_event_loop(
    make_pack: PackFactory, ctx: ExecCtx, tmp_path: Path
) -> None:
    limits = ComponentLimits(fuel=10**15, timeout_ms=1500, memory_bytes=64 << 20)
    pack = make_pack("hostile06", "echo06")
    finished: list[str] = []
    async with WasmInvoker(limits=limits, cache_dir=tmp_path) as invoker:
        await invoker.preload(pack)

        async def slow() -> None:
            with pytest.raises(ComponentCallError):
                await invoker.invoke(pack, ComponentCall("hostile06", "loop", {}, ctx))
            finished.append("loop")

        async def fast() -> None:
            await invoker.invoke(pack, ComponentCall("echo06", "run", 1, ctx))
            finished.append("echo")

        await asyncio.gather(slow(), fast())
    assert finished == ["echo", "loop"]


async def test_concurrent_calls_are_isolated(
    invoker: WasmInvoker, make_pack: PackFactory, ctx: ExecCtx
) -> None:
    pack = make_pack("hostile06")
    calls = [
        invoker.invoke(pack, ComponentCall("hostile06", "trap" if i % 2 else "echo", i, ctx))
        for i in range(8)
    ]
    results = await asyncio.gather(*calls, return_exceptions=True)
    for i, result in enumerate(results):
        if i % 2:
            assert isinstance(result, ComponentCallError) and result.kind == "trap"
        else:
            assert result == i


async def test_calls_need_the_running_lifespan(
    make_pack: PackFactory, ctx: ExecCtx, tmp_path: Path
) -> None:
    invoker = WasmInvoker(cache_dir=tmp_path)
    with pytest.raises(ComponentCallError, match="not started"):
        await invoker.invoke(make_pack("echo06"), ComponentCall("echo06", "run", 1, ctx))
    idle = ticker_threads()
    async with invoker:
        assert invoker.running
        assert ticker_threads() == idle  # no call yet: no epoch ticker
        assert (
            await invoker.invoke(make_pack("echo06"), ComponentCall("echo06", "run", 1, ctx)) == 1
        )
        assert ticker_threads() == idle + 1
    assert not invoker.running
    assert ticker_threads() == idle
