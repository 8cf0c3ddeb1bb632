"""The compiled-artifact cache: memory per digest, disk across invokers, never recompiling."""

from __future__ import annotations

from pathlib import Path

import pytest

from greentic_runner.components.cache import CACHE_DIR_ENV, ComponentCache, default_cache_dir
from greentic_runner.components.engine import EngineSettings, shared_engine
from greentic_runner.components.invoker import ComponentCall, ExecCtx
from greentic_runner.components.wasm import WasmInvoker

from .conftest import PackFactory


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def started(self, label: str, size: int) -> None:
        self.events.append(("started", label))

    def finished(self, label: str, seconds: float) -> None:
        self.events.append(("finished", label))


async def test_second_load_does_not_recompile(
    make_pack: PackFactory, ctx: ExecCtx, tmp_path: Path
) -> None:
    cache_dir = tmp_path / "cache"
    progress = Recorder()
    pack = make_pack("echo06")
    async with WasmInvoker(cache_dir=cache_dir, progress=progress) as first:
        assert await first.invoke(pack, ComponentCall("echo06", "run", 1, ctx)) == 1
        assert await first.invoke(pack, ComponentCall("echo06", "run", 2, ctx)) == 2
        assert first.cache.stats.compiles == 1
    assert progress.events == [("started", "demo/echo06"), ("finished", "demo/echo06")]
    artifacts = list((cache_dir / "components").glob("*.cwasm"))
    assert len(artifacts) == 1

    # A restart (new invoker, same cache dir) and a second pack with the same bytes.
    other = make_pack("echo06", pack_id="other")
    async with WasmInvoker(cache_dir=cache_dir, progress=progress) as second:
        assert await second.invoke(pack, ComponentCall("echo06", "run", 3, ctx)) == 3
        assert await second.invoke(other, ComponentCall("echo06", "run", 4, ctx)) == 4
        assert second.cache.stats.compiles == 0
        assert second.cache.stats.disk_hits == 1
        assert second.cache.stats.memory_hits == 1
    assert len(progress.events) == 2


async def test_corrupt_artifact_is_recompiled_and_replaced(
    make_pack: PackFactory, ctx: ExecCtx, tmp_path: Path
) -> None:
    pack = make_pack("echo06")
    async with WasmInvoker(cache_dir=tmp_path) as invoker:
        await invoker.invoke(pack, ComponentCall("echo06", "run", 1, ctx))
    (artifact,) = (tmp_path / "components").glob("*.cwasm")
    artifact.write_bytes(b"truncated")
    async with WasmInvoker(cache_dir=tmp_path) as invoker:
        assert await invoker.invoke(pack, ComponentCall("echo06", "run", 5, ctx)) == 5
        assert invoker.cache.stats.compiles == 1
    assert artifact.stat().st_size > len(b"truncated")


def test_key_covers_wasm_digest_and_engine_settings(built: dict[str, Path], tmp_path: Path) -> None:
    fast = EngineSettings()
    small = EngineSettings(cranelift_opt_level="speed_and_size")
    wasm = built["echo06"].read_bytes()
    digest = ComponentCache.digest(wasm)
    a = ComponentCache(shared_engine(fast), fast, tmp_path).artifact_path(digest)
    b = ComponentCache(shared_engine(small), small, tmp_path).artifact_path(digest)
    c = ComponentCache(shared_engine(fast), fast, tmp_path).artifact_path(
        ComponentCache.digest(wasm + b"\0")
    )
    assert len({a, b, c}) == 3
    assert a.name.startswith(digest)
    # the tick interval does not change compiled code, so it does not split the cache
    assert EngineSettings(epoch_tick_ms=5).fingerprint() == fast.fingerprint()


def test_unwritable_cache_dir_still_loads(built: dict[str, Path], tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    settings = EngineSettings()
    cache = ComponentCache(shared_engine(settings), settings, blocker)
    _digest, component = cache.load(built["echo06"].read_bytes(), "echo06")
    assert component is not None and cache.stats.compiles == 1


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path))
    assert default_cache_dir() == tmp_path
    monkeypatch.delenv(CACHE_DIR_ENV)
    assert default_cache_dir() == Path.home() / ".cache" / "greentic-runner"
