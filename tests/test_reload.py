"""reload_all: build every tenant first, swap atomically, record health (reload.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.pipeline import build_host, flow

from greentic_runner.config import HostConfig
from greentic_runner.errors import PackError, RunnerError
from greentic_runner.host import RunnerHost
from greentic_runner.reload import StaticPackSource, reload_all
from greentic_runner.runtime import RolloutIds
from greentic_runner.runtime_loader import PackRef
from greentic_runner.testing import make_pack


class NoComponents:
    async def invoke(self, pack: Any, call: Any) -> Any:
        raise AssertionError("no component calls in these tests")


def packs() -> dict[str, Any]:
    return {name: make_pack(name, [flow("chat")]) for name in ("a1", "a2", "b1", "b2")}


async def host() -> RunnerHost:
    built = build_host(packs(), NoComponents(), HostConfig(tenant="a"), HostConfig(tenant="b"))  # type: ignore[arg-type]
    in_memory = built._runtime_factory

    async def factory(config: HostConfig, refs: Any, **parts: Any) -> Any:
        for ref in refs:
            if ref.path.name == "missing":
                raise PackError(f"pack path {ref.path} does not exist")
        return await in_memory(config, refs, **parts)

    built._runtime_factory = factory
    await built.start()
    return built


def source(**tenants: list[str]) -> StaticPackSource:
    return StaticPackSource({t: [PackRef(Path(p)) for p in names] for t, names in tenants.items()})


async def test_success_swaps_every_tenant_and_records_the_reload() -> None:
    h = await host()
    h.health.record_error("old problem")
    new = await reload_all(h, source(a=["a1", "a2"], b=["b1"]))
    assert set(new) == {"a", "b"}
    a, b = h.active.load_pack("a"), h.active.load_pack("b")
    assert a is new["a"] and b is new["b"]
    assert a is not None and [p.pack_id for p in a.packs] == ["a1", "a2"]
    assert h.health.last_reload is not None and h.health.last_error is None


async def test_a_failing_tenant_changes_nothing() -> None:
    h = await host()
    await reload_all(h, source(a=["a1"], b=["b1"]))
    before = dict(h.active.snapshot())
    reloaded_at = h.health.last_reload
    with pytest.raises(RunnerError) as caught:
        await reload_all(h, source(a=["a2"], b=["missing"]))
    assert str(caught.value) == "failed to load tenant b: pack path missing does not exist"
    assert dict(h.active.snapshot()) == before
    assert h.health.last_error == str(caught.value)
    assert h.health.last_reload == reloaded_at


async def test_tenants_left_out_are_dropped_and_revisions_kept() -> None:
    h = await host()
    await reload_all(h, source(a=["a1"], b=["b1"]))
    revision = await h.build_runtime("a", [PackRef(Path("a2"))], rollout=RolloutIds("d", "b", "r"))
    h.active.insert_revision("a", "d", "b", "r", revision)
    await reload_all(h, source(a=["a2"]))
    assert h.active.load_pack("b") is None
    assert h.active.load_revision("a", "d", "b", "r") is revision


async def test_a_failing_source_is_recorded() -> None:
    class Broken:
        async def resolve(self) -> dict[str, list[PackRef]]:
            raise PackError("pack index index.json is unreadable")

    h = await host()
    with pytest.raises(PackError):
        await reload_all(h, Broken())
    assert h.health.last_error == "pack index index.json is unreadable"
    assert len(h.active) == 0


async def test_unknown_tenant_in_the_source_fails_the_reload() -> None:
    h = await host()
    with pytest.raises(
        RunnerError, match="failed to load tenant ghost: tenant ghost not registered"
    ):
        await reload_all(h, source(ghost=["a1"]))
