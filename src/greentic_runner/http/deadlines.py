"""Turn deadlines with one timer per time slot instead of one per request.

``asyncio.timeout`` arms and disarms an event-loop timer for every turn; under uvloop that
is a libuv timer allocated per request, a measurable share of a short HTTP turn.
:class:`Deadlines` groups deadlines into slots of ``resolution`` seconds: the first task of
a slot arms the slot's timer, the others join a set. A task is cancelled at the end of its
slot, so it runs at least its timeout and at most ``resolution`` longer.
"""

from __future__ import annotations

import asyncio
import math

DEFAULT_RESOLUTION_SECS = 0.05


class Deadlines:
    """Cancel watched tasks once their deadline has passed (see the module docstring)."""

    def __init__(self, resolution_secs: float = DEFAULT_RESOLUTION_SECS) -> None:
        if resolution_secs <= 0:
            raise ValueError("resolution_secs must be positive")
        self._resolution = resolution_secs
        self._slots: dict[int, set[asyncio.Task[object]]] = {}
        self._expired: set[asyncio.Task[object]] = set()

    def watch(self, task: asyncio.Task[object], timeout_secs: float) -> int:
        """Cancel ``task`` after ``timeout_secs`` unless :meth:`unwatch` comes first; returns
        the slot to pass to :meth:`unwatch`."""
        loop = asyncio.get_running_loop()
        slot = math.ceil((loop.time() + timeout_secs) / self._resolution)
        tasks = self._slots.get(slot)
        if tasks is None:
            tasks = self._slots[slot] = set()
            loop.call_at(slot * self._resolution, self._expire, slot)
        tasks.add(task)
        return slot

    def unwatch(self, task: asyncio.Task[object], slot: int) -> bool:
        """Stop watching ``task``; True when its deadline passed and it was cancelled."""
        tasks = self._slots.get(slot)
        if tasks is not None:
            tasks.discard(task)
        if task in self._expired:
            self._expired.discard(task)
            return True
        return False

    def _expire(self, slot: int) -> None:
        for task in self._slots.pop(slot, ()):
            if task.cancel():
                self._expired.add(task)
