"""The process-wide wasmtime Engine and the epoch ticker that gives calls a wall-clock deadline.

One Engine per distinct :class:`EngineSettings` (normally exactly one per process): compiled
components are only valid for the engine configuration that produced them, so the settings are
also part of the on-disk cache key (see :mod:`.cache`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from dataclasses import asdict, dataclass
from importlib.metadata import version
from types import TracebackType

import wasmtime

log = logging.getLogger(__name__)

WASMTIME_VERSION = version("wasmtime")


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """Engine configuration. Fuel and epoch interruption are always on: they are the limits."""

    epoch_tick_ms: int = 10
    cranelift_opt_level: str = "speed"
    parallel_compilation: bool = True

    def fingerprint(self) -> str:
        """A short digest of everything that makes a compiled artifact engine-specific."""
        text = f"wasmtime={WASMTIME_VERSION};fuel=1;epoch=1;" + repr(
            sorted((k, v) for k, v in asdict(self).items() if k != "epoch_tick_ms")
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def build(self) -> wasmtime.Engine:
        config = wasmtime.Config()
        config.consume_fuel = True
        config.epoch_interruption = True
        config.cranelift_opt_level = self.cranelift_opt_level
        config.parallel_compilation = self.parallel_compilation
        return wasmtime.Engine(config)


_ENGINES: dict[EngineSettings, wasmtime.Engine] = {}
_ENGINES_LOCK = threading.Lock()


def shared_engine(settings: EngineSettings) -> wasmtime.Engine:
    """The one Engine of this process for ``settings`` (created on first use)."""
    with _ENGINES_LOCK:
        engine = _ENGINES.get(settings)
        if engine is None:
            engine = _ENGINES[settings] = settings.build()
        return engine


class EpochTicker:
    """Increments the engine epoch every ``tick_ms`` on a daemon thread.

    An async context manager: the thread lives exactly as long as the ``async with`` block of
    its owner (the invoker's lifespan). Deadlines are expressed in ticks, see :meth:`ticks_for`.
    """

    def __init__(self, engine: wasmtime.Engine, tick_ms: int) -> None:
        if tick_ms <= 0:
            raise ValueError("epoch tick must be positive")
        self._engine = engine
        self.tick_ms = tick_ms
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def ticks_for(self, timeout_ms: int) -> int:
        """Epoch ticks covering ``timeout_ms``; one extra because the current tick is partial."""
        return -(-timeout_ms // self.tick_ms) + 1

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="wasm-epoch-ticker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join()

    def _run(self) -> None:
        interval = self.tick_ms / 1000
        while not self._stop.wait(interval):
            self._engine.increment_epoch()

    async def __aenter__(self) -> EpochTicker:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)
