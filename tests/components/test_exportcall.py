"""ExportCall: the compiled call path returns what wasmtime-py's generic path returns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import wasmtime
from wasmtime import component as cm

from greentic_runner.components.cache import ComponentCache
from greentic_runner.components.engine import EngineSettings, shared_engine
from greentic_runner.components.exportcall import ExportCall
from greentic_runner.components.host_imports import build_linker
from greentic_runner.components.invoker import ExecCtx
from greentic_runner.components.payloads import json_to_cbor
from greentic_runner.components.wit_values import field
from greentic_runner.components.world_node import Node06
from greentic_runner.components.worlds import plan

from .conftest import ARTIFACTS


@pytest.fixture(scope="module")
def engine() -> wasmtime.Engine:
    return shared_engine(EngineSettings())


@pytest.fixture(scope="module")
def linker(engine: wasmtime.Engine) -> cm.Linker:
    return build_linker(engine)


def _node(built: dict[str, Path], engine: wasmtime.Engine, name: str) -> tuple[Any, Node06]:
    # The shared compiled-artifact cache: the Python guests take seconds to compile.
    cache = ComponentCache(engine, EngineSettings(), ARTIFACTS, None)
    _, component = cache.load(built[name].read_bytes(), name)
    adapter = plan(component, engine).node
    assert isinstance(adapter, Node06)
    return component, adapter


def _call(
    engine: wasmtime.Engine, linker: cm.Linker, component: Any, export: ExportCall, *args: Any
) -> Any:
    store = wasmtime.Store(engine)
    store.set_fuel(10_000_000)
    store.set_epoch_deadline(1_000_000)
    try:
        return export(store, linker.instantiate(store, component), *args)
    finally:
        store.close()


def test_node_exports_use_the_compiled_path(
    built: dict[str, Path], engine: wasmtime.Engine
) -> None:
    for name in ("echo06", "hostile06", "caps06", "router06"):
        _, adapter = _node(built, engine, name)
        assert adapter.call.fast, name


def test_compiled_and_generic_calls_agree(
    built: dict[str, Path], engine: wasmtime.Engine, linker: cm.Linker
) -> None:
    component, adapter = _node(built, engine, "echo06")
    generic = ExportCall(adapter.call.label, adapter.call.index, None)
    assert not generic.fast
    ctx = ExecCtx(tenant="acme", flow_id="f", node_id="n", deadline_unix_ms=123)
    payload = json_to_cbor({"text": "héllo", "n": [1, 2, 3], "blob": "x" * 5000})
    envelope = adapter.envelope(ctx, "echo06", payload)
    fast = _call(engine, linker, component, adapter.call, "echo", envelope)
    slow = _call(engine, linker, component, generic, "echo", envelope)
    assert fast == slow
    assert isinstance(fast, cm.Variant) and fast.tag == "ok"
    assert field(fast.payload, "ok") is True
    assert field(fast.payload, "output-cbor") == payload


def test_argument_count_is_checked(
    built: dict[str, Path], engine: wasmtime.Engine, linker: cm.Linker
) -> None:
    component, adapter = _node(built, engine, "echo06")
    with pytest.raises(TypeError, match="takes 2 arguments, got 1"):
        _call(engine, linker, component, adapter.call, "echo")


def test_a_trap_raises_and_the_next_call_on_a_fresh_store_succeeds(
    built: dict[str, Path], engine: wasmtime.Engine, linker: cm.Linker
) -> None:
    component, adapter = _node(built, engine, "hostile06")
    envelope = adapter.envelope(ExecCtx(tenant="acme"), "hostile06", json_to_cbor({}))
    with pytest.raises(wasmtime.WasmtimeError):
        _call(engine, linker, component, adapter.call, "trap", envelope)
    result = _call(engine, linker, component, adapter.call, "echo", envelope)
    assert result.tag == "ok"
