"""The pack-index watcher: reload every ``PACK_REFRESH_INTERVAL`` (spec §2.3, §9.3).

:class:`PackIndexWatcher` is an async context manager that owns the polling task. Each tick
resolves the source (fetch, verify, cache); when the resolved packs differ from the ones
last applied it hands them to :func:`greentic_runner.reload.reload_all`, which builds every
tenant's runtime first and swaps them in at once (``replace_legacy``; revisions are kept).
A failure changes nothing and shows in ``health.last_error`` and the log. Turns already
running keep the runtime they started on; new turns see the new one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType

from .errors import RunnerError
from .host import RunnerHost
from .reload import PackSource, StaticPackSource, reload_all
from .runtime_loader import PackRef

log = logging.getLogger(__name__)

Sleeper = Callable[[float], Awaitable[None]]


class PackIndexWatcher:
    """Polls ``source`` and reloads ``host`` when it changes.

    ``lock`` serialises reloads with other triggers (share the admin endpoint's lock);
    ``sleeper`` is injectable so tests advance time without sleeping. With ``initial`` the
    first reload runs on entry (its failure is recorded, not raised: the server starts
    degraded and the next tick retries)."""

    def __init__(
        self,
        host: RunnerHost,
        source: PackSource,
        *,
        interval: float = 30.0,
        sleeper: Sleeper = asyncio.sleep,
        lock: asyncio.Lock | None = None,
        initial: bool = True,
    ) -> None:
        self.host = host
        self.source = source
        self.interval = interval
        self.lock = lock or asyncio.Lock()
        self._sleeper = sleeper
        self._initial = initial
        self._applied: dict[str, list[PackRef]] | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> PackIndexWatcher:
        if self._initial:
            await self.tick()
        self._task = asyncio.create_task(self._run(), name="pack-index-watcher")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await self._sleeper(self.interval)
            await self.tick()

    async def tick(self) -> bool:
        """One poll; True when a reload happened. Never raises a RunnerError (it is
        recorded in health and logged)."""
        try:
            return await self.reload(force=False)
        except RunnerError:
            return False

    async def reload(self, *, force: bool = True) -> bool:
        """Resolve and (when changed, or always with ``force``) reload; raises the
        RunnerError of a failed reload after recording it in ``health.last_error``."""
        async with self.lock:
            try:
                plan = await self.source.resolve()
            except RunnerError as exc:
                self.host.health.record_error(str(exc))
                log.warning("pack index resolve failed; running packs kept: %s", exc)
                raise
            if not force and plan == self._applied and self._still_active(plan):
                self.host.health.record_reload()
                log.debug("pack index unchanged")
                return False
            await reload_all(self.host, StaticPackSource(plan))
            self._applied = plan
            return True

    def _still_active(self, plan: dict[str, list[PackRef]]) -> bool:
        """The applied runtimes are still the legacy ones (nobody replaced them since)."""
        return all(self.host.active.load_pack(tenant) is not None for tenant in plan)
