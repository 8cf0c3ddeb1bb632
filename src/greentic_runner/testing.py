"""Test helpers shipped as public API: the same ones greentic-runner's own tests use.

- :class:`FakeClock` drives TTLs and timers without sleeping.
- :class:`MemoryFiles` and :func:`make_pack` build packs in memory.
- :func:`write_pack_dir` writes a pack directory (pack.yaml + flows) into a folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from .flows.model import Flow
from .packs.pack import ComponentSpec, PackRuntime


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds


class MemoryFiles:
    """PackFiles over a dict of path → bytes."""

    def __init__(self, files: Mapping[str, bytes] | None = None) -> None:
        self._files = dict(files or {})

    def read(self, name: str) -> bytes | None:
        return self._files.get(name)

    def names(self) -> list[str]:
        return sorted(self._files)


def make_pack(
    pack_id: str,
    flows: list[Flow] | None = None,
    *,
    version: str = "0.1.0",
    entry_flows: tuple[str, ...] = (),
    extensions: dict[str, Any] | None = None,
    components: dict[str, ComponentSpec] | None = None,
    files: Mapping[str, bytes] | None = None,
    has_manifest: bool = True,
) -> PackRuntime:
    """A PackRuntime built in memory (no files on disk)."""
    return PackRuntime(
        pack_id=pack_id,
        version=version,
        flows={flow.id: flow for flow in flows or []},
        files=MemoryFiles(files),
        source=Path(f"<memory:{pack_id}>"),
        generation="directory",
        components=dict(components or {}),
        declared_entry_flows=entry_flows,
        extensions=dict(extensions or {}),
        has_manifest=has_manifest,
    )


def write_pack_dir(root: Path, pack_id: str, flows: Mapping[str, str], **pack_yaml: Any) -> Path:
    """Write ``pack.yaml`` and ``flows/<name>.ygtc`` (YGTC source text) under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "flows").mkdir(exist_ok=True)
    for name, text in flows.items():
        (root / "flows" / f"{name}.ygtc").write_text(text)
    manifest = {"pack_id": pack_id, "version": "0.1.0", **pack_yaml}
    (root / "pack.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return root
