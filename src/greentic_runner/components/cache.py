"""Compiled-component cache: in memory per wasm digest, on disk as serialized artifacts.

Compiling a componentize-py guest (~18 MB) takes seconds; deserializing its artifact takes
milliseconds. Artifacts are keyed by sha256(wasm) + the wasmtime version + the engine settings,
so a restart, a second tenant or a second pack with the same bytes never recompiles. A cached
file that no longer deserializes (truncated, other build) is recompiled and replaced.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import wasmtime
from wasmtime import component as cm

from .engine import EngineSettings

log = logging.getLogger(__name__)

CACHE_DIR_ENV = "GREENTIC_RUNNER_CACHE_DIR"


def default_cache_dir() -> Path:
    """``$GREENTIC_RUNNER_CACHE_DIR``, else ``~/.cache/greentic-runner``."""
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        return Path(configured)
    return Path.home() / ".cache" / "greentic-runner"


class CompileProgress(Protocol):
    """Told about compiles that miss every cache (they can take seconds)."""

    def started(self, label: str, size: int) -> None: ...

    def finished(self, label: str, seconds: float) -> None: ...


@dataclass(slots=True)
class CacheStats:
    """Counters, for tests and the CLI: where each load came from."""

    memory_hits: int = 0
    disk_hits: int = 0
    compiles: int = 0


class ComponentCache:
    """Loads components for one engine, compiling at most once per digest."""

    def __init__(
        self,
        engine: wasmtime.Engine,
        settings: EngineSettings,
        cache_dir: Path | None = None,
        progress: CompileProgress | None = None,
    ) -> None:
        self._engine = engine
        self._fingerprint = settings.fingerprint()
        self.cache_dir = cache_dir if cache_dir is not None else default_cache_dir()
        self._progress = progress
        self._loaded: dict[str, cm.Component] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.stats = CacheStats()

    @staticmethod
    def digest(wasm: bytes) -> str:
        return hashlib.sha256(wasm).hexdigest()

    def artifact_path(self, digest: str) -> Path:
        return self.cache_dir / "components" / f"{digest}-{self._fingerprint}.cwasm"

    def load(self, wasm: bytes, label: str) -> tuple[str, cm.Component]:
        """(digest, Component). Raises wasmtime.WasmtimeError when ``wasm`` does not compile."""
        digest = self.digest(wasm)
        component = self._loaded.get(digest)
        if component is not None:
            self.stats.memory_hits += 1
            return digest, component
        with self._lock_for(digest):
            component = self._loaded.get(digest)
            if component is None:
                component = self._from_disk(digest, label)
                if component is None:
                    component = self._compile(wasm, digest, label)
                self._loaded[digest] = component
            else:
                self.stats.memory_hits += 1
        return digest, component

    def forget(self) -> None:
        """Drop the in-memory components (the disk cache stays)."""
        with self._guard:
            self._loaded.clear()

    def _lock_for(self, digest: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(digest, threading.Lock())

    def _from_disk(self, digest: str, label: str) -> cm.Component | None:
        path = self.artifact_path(digest)
        if not path.is_file():
            return None
        try:
            component = cm.Component.deserialize_file(self._engine, str(path))
        except wasmtime.WasmtimeError as exc:
            log.warning("discarding unusable compiled artifact %s for %s: %s", path, label, exc)
            path.unlink(missing_ok=True)
            return None
        self.stats.disk_hits += 1
        return component

    def _compile(self, wasm: bytes, digest: str, label: str) -> cm.Component:
        if self._progress is not None:
            self._progress.started(label, len(wasm))
        started = time.perf_counter()
        component = cm.Component(self._engine, wasm)
        elapsed = time.perf_counter() - started
        self.stats.compiles += 1
        if self._progress is not None:
            self._progress.finished(label, elapsed)
        log.info("compiled component %s (%d bytes) in %.2fs", label, len(wasm), elapsed)
        self._store(component, digest, label)
        return component

    def _store(self, component: cm.Component, digest: str, label: str) -> None:
        path = self.artifact_path(digest)
        tmp: str | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".cwasm")
            with os.fdopen(fd, "wb") as handle:
                handle.write(component.serialize())
            # Atomic rename: concurrent processes never read a torn artifact.
            os.replace(tmp, path)
        except (OSError, wasmtime.WasmtimeError) as exc:
            # The cache is an optimisation; a read-only home must not fail the call.
            log.warning("cannot write compiled artifact for %s to %s: %s", label, path, exc)
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)


class RichCompileProgress:
    """A rich spinner while a component compiles (for the CLI; pass it as ``progress``)."""

    def __init__(self, console: object | None = None) -> None:
        from rich.console import Console

        self._console = console if isinstance(console, Console) else Console(stderr=True)
        self._status: Callable[[], None] | None = None

    def started(self, label: str, size: int) -> None:
        status = self._console.status(
            f"compiling component [bold]{label}[/] ({size / 1_048_576:.1f} MB); "
            "this happens once, the result is cached"
        )
        status.start()
        self._status = status.stop

    def finished(self, label: str, seconds: float) -> None:
        if self._status is not None:
            self._status()
            self._status = None
        self._console.print(f"compiled component {label} in {seconds:.1f}s")
