"""Fixtures for the WebAssembly tests: built test components, packs holding them, invokers."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from greentic_runner.components.invoker import ExecCtx
from greentic_runner.components.policy import ComponentLimits
from greentic_runner.components.scope import HostServices
from greentic_runner.components.wasm import WasmInvoker
from greentic_runner.packs.files import DirectoryFiles
from greentic_runner.packs.pack import ComponentSpec, PackRuntime

ROOT = Path(__file__).resolve().parents[2]
# Compiled artifacts of the test components survive between runs (the big Python guests
# take seconds to compile); tests that check caching use their own tmp directory.
ARTIFACTS = ROOT / ".build" / "components" / "compiled"


def _builder() -> Any:
    spec = importlib.util.spec_from_file_location(
        "build_components", ROOT / "tools" / "build_components.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("build_components", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def built() -> dict[str, Path]:
    """Every test component, built from tests/components/wasm_src (cached in .build/)."""
    return dict(_builder().build_all())


PackFactory = Callable[..., PackRuntime]


@pytest.fixture
def make_pack(built: dict[str, Path], tmp_path: Path) -> PackFactory:
    """make_pack("echo06", ..., pack_id="demo", extra={ref: bytes}) -> a directory pack."""

    def make(
        *names: str,
        pack_id: str = "demo",
        extra: dict[str, bytes] | None = None,
        extensions: dict[str, Any] | None = None,
    ) -> PackRuntime:
        root = tmp_path / pack_id
        (root / "components").mkdir(parents=True, exist_ok=True)
        components: dict[str, ComponentSpec] = {}
        for name in names:
            shutil.copy(built[name], root / "components" / f"{name}.wasm")
            components[name] = ComponentSpec(id=name, wasm_path=f"components/{name}.wasm")
        for ref, data in (extra or {}).items():
            (root / "components" / f"{ref}.wasm").write_bytes(data)
            components[ref] = ComponentSpec(id=ref, wasm_path=f"components/{ref}.wasm")
        return PackRuntime(
            pack_id=pack_id,
            version="0.1.0",
            flows={},
            files=DirectoryFiles(root),
            source=root,
            generation="directory",
            components=components,
            extensions=extensions or {},
        )

    return make


# Small enough that hostile components stop quickly, large enough for the Python guests.
TEST_LIMITS = ComponentLimits(fuel=2_000_000_000, timeout_ms=20_000, memory_bytes=64 << 20)


@pytest.fixture
def limits() -> ComponentLimits:
    return TEST_LIMITS


@pytest.fixture
def services() -> HostServices:
    return HostServices()


@pytest.fixture
async def invoker(services: HostServices, limits: ComponentLimits) -> AsyncIterator[WasmInvoker]:
    async with WasmInvoker(services=services, limits=limits, cache_dir=ARTIFACTS) as running:
        yield running


@pytest.fixture
def ctx() -> ExecCtx:
    return ExecCtx(tenant="acme", flow_id="welcome", node_id="greet")
