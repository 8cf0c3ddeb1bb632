"""The test-component build script: cache keys follow sources and tool versions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import _builder


@pytest.fixture(scope="module")
def builder() -> Any:
    return _builder()


def test_every_spec_has_sources(builder: Any) -> None:
    for name, spec in builder.SPECS.items():
        source_dir = builder.SRC / name
        assert (source_dir / "world.wit").is_file(), name
        main = "app.py" if spec.kind == "python" else f"{name}.wat"
        assert (source_dir / main).is_file(), name
        for dep in spec.deps:
            assert (builder.WIT / f"{dep}.wit").is_file(), dep


def test_cache_key_changes_with_tool_versions(builder: Any) -> None:
    spec = builder.SPECS["echo06"]
    assert builder.cache_key(spec, "wasm-tools 1") == builder.cache_key(spec, "wasm-tools 1")
    assert builder.cache_key(spec, "wasm-tools 1") != builder.cache_key(spec, "wasm-tools 2")


def test_build_is_cached_by_key(builder: Any, built: dict[str, Path]) -> None:
    path = built["echo06"]
    assert path.parent.name == "echo06"
    assert builder.build("echo06", path.parent.parent) == path
