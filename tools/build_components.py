"""Build the test WebAssembly components from their sources in tests/components/wasm_src/.

Small components are WAT + WIT turned into components with ``wasm-tools component embed``
and ``wasm-tools component new``; Python ones are built with ``componentize-py``. Outputs are
cached under ``.build/components/`` keyed by a hash of the sources and the tool versions, so a
second run (or a second pytest session) costs a few hashes. Built ``.wasm`` files are never
committed (they are ignored by ``.gitignore``).

Usage: ``python tools/build_components.py [--out DIR] [NAME ...]`` (prints ``name<TAB>path``).
The pytest session fixture in tests/components/conftest.py calls :func:`build_all`.

Example packs build the same way: ``python tools/build_components.py --examples [PACK ...]``
(``make examples``) builds every ``examples/<pack>/src/<id>/`` (a ``wit/`` folder with
``world.wit`` and ``deps/``, plus ``<id>.wat`` or ``app.py``) into
``examples/<pack>/components/<id>.wasm``, a git-ignored folder; see :func:`build_examples`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
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
EXAMPLES = ROOT / "examples"
EXAMPLES_OUT = ROOT / ".build" / "examples"


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
        Spec("router06", "python", "router06", _NODE06),
    )
}

# Python modules a component borrows from another test component's folder (paths under SRC).
# Kept outside Spec so adding one does not change the cache keys of the others.
SHARED_PY: dict[str, tuple[str, ...]] = {"router06": ("caps06/mini_cbor.py",)}


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
    shared = [SRC / name for name in SHARED_PY.get(spec.name, ())]
    return files + [WIT / f"{dep}.wit" for dep in spec.deps] + shared


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


def _run(command: list[str]) -> None:
    subprocess.run(command, check=True, capture_output=True)


def _wat_component(wit: Path, world: str, source: Path, scratch: Path, out: Path) -> None:
    """WAT + WIT -> core module with the component type embedded -> component."""
    wasm_tools = _tool("wasm-tools")
    core = scratch / "core.wasm"
    _run([wasm_tools, "component", "embed", str(wit), "-w", world, str(source), "-o", str(core)])
    _run([wasm_tools, "component", "new", str(core), "-o", str(out)])


def _python_component(wit: Path, world: str, paths: list[Path], out: Path) -> None:
    """componentize-py: the ``app`` module found on ``paths`` implements ``world``."""
    python_path = [arg for path in paths for arg in ("-p", str(path))]
    tool = _tool("componentize-py")
    _run([tool, "-d", str(wit), "-w", world, "componentize", *python_path, "app", "-o", str(out)])


def _build_wat(spec: Spec, wit: Path, scratch: Path, out: Path) -> None:
    _wat_component(wit, spec.world, SRC / spec.name / f"{spec.name}.wat", scratch, out)


def _build_python(spec: Spec, wit: Path, scratch: Path, out: Path) -> None:
    paths = [SRC / spec.name]
    if spec.name in SHARED_PY:
        shared = scratch / "shared"
        shared.mkdir()
        for name in SHARED_PY[spec.name]:
            shutil.copy(SRC / name, shared / Path(name).name)
        paths.append(shared)
    _python_component(wit, spec.world, paths, out)


def _stderr(exc: subprocess.CalledProcessError) -> str:
    err = exc.stderr
    return err.decode(errors="replace") if isinstance(err, bytes) else str(err)


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
                _build_python(spec, wit, scratch, partial)
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(f"building test component {name} failed:\n{_stderr(exc)}") from exc
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


# -- example packs ----------------------------------------------------------------------------

_WORLD = re.compile(r"^\s*world\s+([a-z][a-z0-9-]*)\s*\{", re.MULTILINE)


@dataclass(frozen=True)
class ExampleComponent:
    """``examples/<pack>/src/<id>/`` built into ``examples/<pack>/components/<id>.wasm``.

    The folder holds ``wit/world.wit`` (exactly one world) with its WIT packages in
    ``wit/deps/``, and either ``<id>.wat`` (built with wasm-tools) or ``app.py``
    (built with componentize-py), the layout a pack author uses on their own machine.
    """

    pack: str
    id: str
    source: Path

    @property
    def kind(self) -> str:
        return "python" if (self.source / "app.py").is_file() else "wat"

    @property
    def world(self) -> str:
        worlds = _WORLD.findall((self.source / "wit" / "world.wit").read_text())
        if len(worlds) != 1:
            raise RuntimeError(f"{self.source}/wit/world.wit must define one world, found {worlds}")
        return str(worlds[0])

    @property
    def target(self) -> Path:
        return self.source.parent.parent / "components" / f"{self.id}.wasm"


def example_components(
    root: Path = EXAMPLES, packs: list[str] | None = None
) -> list[ExampleComponent]:
    """Every component source of the example packs (or of ``packs``), in name order."""
    found = []
    for pack_dir in sorted(p for p in root.iterdir() if (p / "src").is_dir()):
        if packs and pack_dir.name not in packs:
            continue
        for source in sorted(p for p in (pack_dir / "src").iterdir() if p.is_dir()):
            if (source / "wit" / "world.wit").is_file():
                found.append(ExampleComponent(pack_dir.name, source.name, source))
    return found


def _example_key(component: ExampleComponent, tool_versions: str) -> str:
    digest = hashlib.sha256(component.world.encode() + tool_versions.encode())
    for path in sorted(p for p in component.source.rglob("*") if p.is_file()):
        if "__pycache__" in path.parts:
            continue
        digest.update(str(path.relative_to(component.source)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def build_example(component: ExampleComponent, cache_dir: Path = EXAMPLES_OUT) -> Path:
    """Build one example component (reusing a cached build) and place it in the pack.

    The build is cached under ``cache_dir`` by a hash of the sources and tool versions; the
    pack's ``components/<id>.wasm`` is replaced atomically only when its bytes differ.
    """
    key = _example_key(component, _tool_versions(component.kind))
    cached = cache_dir / component.pack / component.id / f"{key}.wasm"
    if not cached.exists():
        cached.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f"build-{component.id}-") as tmp:
            scratch = Path(tmp)
            partial = scratch / "out.wasm"
            wit = component.source / "wit"
            try:
                if component.kind == "python":
                    _python_component(wit, component.world, [component.source], partial)
                else:
                    source = component.source / f"{component.id}.wat"
                    _wat_component(wit, component.world, source, scratch, partial)
            except subprocess.CalledProcessError as exc:
                raise RuntimeError(
                    f"building example component {component.pack}/{component.id} failed:\n"
                    f"{_stderr(exc)}"
                ) from exc
            os.replace(partial, cached)
    target = component.target
    if not target.exists() or target.read_bytes() != cached.read_bytes():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial_target = target.with_suffix(".wasm.partial")
        shutil.copyfile(cached, partial_target)
        os.replace(partial_target, target)
    return target


def build_examples(
    packs: list[str] | None = None, root: Path = EXAMPLES, cache_dir: Path = EXAMPLES_OUT
) -> dict[str, Path]:
    """Build the components of every example pack (or ``packs``): ``pack/id`` -> .wasm path."""
    return {
        f"{c.pack}/{c.id}": build_example(c, cache_dir) for c in example_components(root, packs)
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--examples",
        action="store_true",
        help="build the example packs' components (NAMEs are then example pack names)",
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"any of: {', '.join(SPECS)}")
    args = parser.parse_args(argv)
    if args.examples:
        known = sorted({c.pack for c in example_components()})
        unknown = [name for name in args.names if name not in known]
        if unknown:
            parser.error(f"unknown example pack(s) {unknown}; with components: {', '.join(known)}")
        built = build_examples(args.names or None, cache_dir=args.out or EXAMPLES_OUT)
    else:
        unknown = [name for name in args.names if name not in SPECS]
        if unknown:
            parser.error(f"unknown component(s) {unknown}; known: {', '.join(SPECS)}")
        built = build_all(args.out or DEFAULT_OUT, args.names or None)
    for name, path in built.items():
        sys.stdout.write(f"{name}\t{path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
