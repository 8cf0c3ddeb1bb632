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

    An async context manager owned by the invoker's lifespan. The thread starts with the
    first deadline armed inside the ``async with`` block (:meth:`ensure_running`, called
    before every call's deadline is set) and ends with the block: a host whose packs never
    call a component runs no ticker (a 100 Hz thread costs GIL hand-offs on a busy core).
    Deadlines are expressed in ticks, see :meth:`ticks_for`.
    """

    def __init__(self, engine: wasmtime.Engine, tick_ms: int) -> None:
        if tick_ms <= 0:
            raise ValueError("epoch tick must be positive")
        self._engine = engine
        self.tick_ms = tick_ms
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # calls arm deadlines from worker threads
        self._open = False

    @property
    def open(self) -> bool:
        """Inside the owner's ``async with`` block: deadlines may be armed."""
        return self._open

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def ticks_for(self, timeout_ms: int) -> int:
        """Epoch ticks covering ``timeout_ms``; one extra because the current tick is partial."""
        return -(-timeout_ms // self.tick_ms) + 1

    def ensure_running(self) -> None:
        """Start the thread if the block is open and it is not ticking yet."""
        if self._thread is not None:
            return
        with self._lock:
            if self._open and self._thread is None:
                self._stop.clear()
                self._thread = threading.Thread(
                    target=self._run, name="wasm-epoch-ticker", daemon=True
                )
                self._thread.start()

    def stop(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join()

    def _run(self) -> None:
        interval = self.tick_ms / 1000
        while not self._stop.wait(interval):
            self._engine.increment_epoch()

    async def __aenter__(self) -> EpochTicker:
        self._open = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._lock:
            self._open = False  # a late deadline must not start it again
        await asyncio.to_thread(self.stop)
