"""Build the test WebAssembly components from their sources in tests/components/wasm_src/.

Small components are WAT + WIT turned into components with ``wasm-tools component embed``
and ``wasm-tools component new``; Python ones are built with ``componentize-py``. Outputs are
cached under ``.build/components/`` keyed by a hash of the sources and the tool versions, so a
second run (or a second pytest session) costs a few hashes. Built ``.wasm`` files are never
committed (they are ignored by ``.gitignore``).

Usage: ``python tools/build_components.py [--out DIR] [NAME ...]`` (prints ``name<TAB>path``).
The pytest session fixture in tests/components/conftest.py calls :func:`build_all`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "tests" / "components" / "wasm_src"
WIT = SRC / "wit"
DEFAULT_OUT = ROOT / ".build" / "components"


@dataclass(frozen=True)
class Spec:
    """One test component: its world and the WIT packages (files in wasm_src/wit) it needs."""

    name: str
    kind: str  # "wat" | "python"
    world: str
    deps: tuple[str, ...]


_NODE06 = ("types-core@0.6.0", "component@0.6.0")
_HOST = (
    "interfaces-types@0.1.0",
    "secrets-store@1.1.0",
    "state@1.1.0",
    "http@1.1.0",
    "telemetry@1.0.0",
    "runtime-config@1.0.0",
)
_IDENTITY = ("provider-instance-identity@0.1.0",)

SPECS: dict[str, Spec] = {
    spec.name: spec
    for spec in (
        Spec("echo06", "wat", "echo06", _NODE06),
        Spec("hostile06", "wat", "hostile06", _NODE06),
        Spec("json04", "wat", "json04", ("component@0.4.0-l8",)),
        Spec("json05", "wat", "json05", ("component@0.5.0-l9",)),
        Spec("json05_l19", "wat", "json05-l19", ("component@0.5.0-l19", "interfaces-types@0.1.0")),
        Spec("identity_none", "wat", "identity-none", _IDENTITY),
        Spec("noworld", "wat", "noworld", ()),
        Spec("needs_import", "wat", "needs-import", _NODE06),
        Spec("caps06", "python", "caps06", _NODE06 + _HOST),
        Spec(
            "provider",
            "python",
            "provider",
            ("provider-schema-core@1.0.0", "secrets-store@1.1.0", *_IDENTITY),
        ),
    )
}


def _tool(name: str) -> str:
    """The tool next to this interpreter (the venv), else from PATH."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(
            f"{name} not found; install the dev dependencies (pip install -e '.[dev]')"
        )
    return found


def _version(tool: str) -> str:
    return subprocess.run(
        [_tool(tool), "--version"], check=True, capture_output=True, text=True
    ).stdout.strip()


def _source_files(spec: Spec) -> list[Path]:
    files = sorted(
        p for p in (SRC / spec.name).rglob("*") if p.is_file() and "__pycache__" not in p.parts
    )
    return files + [WIT / f"{dep}.wit" for dep in spec.deps]


def cache_key(spec: Spec, tool_versions: str) -> str:
    """sha256 over the spec, every source byte and the tool versions (first 16 hex digits)."""
    digest = hashlib.sha256(repr(spec).encode() + tool_versions.encode())
    for path in _source_files(spec):
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _wit_dir(spec: Spec, scratch: Path) -> Path:
    wit = scratch / "wit"
    (wit / "deps").mkdir(parents=True)
    shutil.copy(SRC / spec.name / "world.wit", wit / "world.wit")
    for dep in spec.deps:
        shutil.copy(WIT / f"{dep}.wit", wit / "deps" / f"{dep}.wit")
    return wit


def _build_wat(spec: Spec, wit: Path, scratch: Path, out: Path) -> None:
    wasm_tools = _tool("wasm-tools")
    core = scratch / "core.wasm"
    source = SRC / spec.name / f"{spec.name}.wat"
    subprocess.run(
        [
            wasm_tools,
            "component",
            "embed",
            str(wit),
            "-w",
            spec.world,
            str(source),
            "-o",
            str(core),
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [wasm_tools, "component", "new", str(core), "-o", str(out)], check=True, capture_output=True
    )


def _build_python(spec: Spec, wit: Path, out: Path) -> None:
    subprocess.run(
        [
            _tool("componentize-py"),
            "-d",
            str(wit),
            "-w",
            spec.world,
            "componentize",
            "-p",
            str(SRC / spec.name),
            "app",
            "-o",
            str(out),
        ],
        check=True,
        capture_output=True,
    )


def build(name: str, out_dir: Path = DEFAULT_OUT, tool_versions: str | None = None) -> Path:
    """Build one component (or reuse the cached build) and return the .wasm path."""
    spec = SPECS[name]
    versions = tool_versions if tool_versions is not None else _tool_versions(spec.kind)
    target = out_dir / spec.name / f"{cache_key(spec, versions)}.wasm"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"build-{name}-") as tmp:
        scratch = Path(tmp)
        wit = _wit_dir(spec, scratch)
        partial = scratch / "out.wasm"
        try:
            if spec.kind == "wat":
                _build_wat(spec, wit, scratch, partial)
            else:
                _build_python(spec, wit, partial)
        except subprocess.CalledProcessError as exc:
            stderr = (
                exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr
            )
            raise RuntimeError(f"building test component {name} failed:\n{stderr}") from exc
        # Rename into place so a concurrent or interrupted build never leaves a torn file.
        os.replace(partial, target)
    return target


_VERSIONS: dict[str, str] = {}


def _tool_versions(kind: str) -> str:
    if kind not in _VERSIONS:
        tools = ["wasm-tools"] + (["componentize-py"] if kind == "python" else [])
        _VERSIONS[kind] = ";".join(_version(tool) for tool in tools)
    return _VERSIONS[kind]


def build_all(out_dir: Path = DEFAULT_OUT, names: list[str] | None = None) -> dict[str, Path]:
    """Build every test component (or ``names``); returns name -> .wasm path."""
    return {name: build(name, out_dir) for name in (names or list(SPECS))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"any of: {', '.join(SPECS)}")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in SPECS]
    if unknown:
        parser.error(f"unknown component(s) {unknown}; known: {', '.join(SPECS)}")
    for name, path in build_all(args.out, args.names or None).items():
        sys.stdout.write(f"{name}\t{path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
