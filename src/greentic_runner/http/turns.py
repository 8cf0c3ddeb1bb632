"""Running one turn for an HTTP request: per-turn timeout, metrics and in-flight tracking.

Every route that runs a flow goes through :class:`TurnRunner`, so graceful shutdown can
wait for the turns that are still running (:meth:`TurnRunner.drain`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from ..activity import Activity
from ..errors import RunnerError
from ..host import RunnerHost
from ..replies import is_pending
from ..runtime import TenantRuntime
from .deadlines import Deadlines
from .errors import HttpError
from .metrics import Metrics

log = logging.getLogger(__name__)


class TurnRunner:
    """Runs turns on ``host`` with a timeout (seconds; 0 = none) and records metrics."""

    def __init__(self, host: RunnerHost, metrics: Metrics, timeout_secs: float) -> None:
        self.host = host
        self.metrics = metrics
        self.timeout_secs = timeout_secs
        self._in_flight = 0
        self._idle: asyncio.Event | None = None  # made by drain(), set by the last turn
        self._deadlines = Deadlines()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def run(self, tenant: str, activity: Activity, channel: str) -> list[Activity]:
        """The turn's reply activities.

        Raises the host's RunnerError, or HttpError 503 ``turn_timeout`` when the turn ran
        longer than the timeout (a timed-out turn changes no stored conversation state).
        """
        runtime = self.host.active.load_pack(tenant)
        flow = "-" if runtime is None else _flow_label(runtime, tenant, activity)
        start = time.perf_counter()
        self._in_flight += 1
        outcome = "error"
        # asyncio.timeout's semantics on a shared slot timer (deadlines.py): the deadline's
        # cancellation, and only that one, becomes turn_timeout.
        task = asyncio.current_task() if self.timeout_secs > 0 else None
        if task is not None:
            cancelling = task.cancelling()
            slot = self._deadlines.watch(task, self.timeout_secs)
        try:
            replies = await self.host.handle_activity(tenant, activity)
            outcome = "done"
            for reply in replies:
                if is_pending(reply.payload):
                    flow = _resume_flow(reply.payload) or flow
                    outcome = "waiting"
                    break
            return replies
        except asyncio.CancelledError:
            if task is None or not self._deadlines.unwatch(task, slot):
                raise
            if task.uncancel() > cancelling:  # cancelled by someone else as well
                raise
            outcome = "timeout"
            raise HttpError(
                503,
                "turn_timeout",
                f"turn for tenant {tenant} (flow {flow}) did not finish within "
                f"{self.timeout_secs:g}s",
            ) from None
        finally:
            if task is not None:
                self._deadlines.unwatch(task, slot)
            self._in_flight -= 1
            if self._in_flight == 0 and self._idle is not None:
                self._idle.set()
            self.metrics.record_turn(tenant, channel, flow, outcome, time.perf_counter() - start)

    async def drain(self, timeout_secs: float | None) -> bool:
        """Wait until no turn is running; False when ``timeout_secs`` passed first."""
        if self._in_flight == 0:
            return True
        if self._idle is None or self._idle.is_set():
            self._idle = asyncio.Event()
        try:
            async with asyncio.timeout(timeout_secs):
                await self._idle.wait()
        except TimeoutError:
            log.warning(
                "shutdown: %d turn(s) still running after %ss", self._in_flight, timeout_secs
            )
            return False
        return True


def _flow_label(runtime: TenantRuntime, tenant: str, activity: Activity) -> str:
    """The flow the turn will most likely run (a parked snapshot may still override it)."""
    if activity.flow_id is not None:
        return activity.flow_id
    try:
        return runtime.resolve(tenant, activity)[1]
    except RunnerError:
        return "-"


def _resume_flow(pending: Any) -> str | None:
    resume = pending.get("resume") if isinstance(pending, dict) else None
    if isinstance(resume, dict):
        flow = resume.get("next_flow") or resume.get("flow_id")
        return flow if isinstance(flow, str) else None
    return None
