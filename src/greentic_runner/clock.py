"""Time as an injectable dependency, so TTLs and timers are testable without sleeping."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the Unix epoch."""
        ...


class SystemClock:
    """The real wall clock."""

    now = staticmethod(time.time)  # the C function itself: no Python frame per reading


SYSTEM_CLOCK: Clock = SystemClock()
