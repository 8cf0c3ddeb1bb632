"""Latency metering for the host's component calls and store operations.

The wrappers sit at the host's own seams (``ComponentInvoker``, ``SessionStore``,
``StateStore``), so the engine and stores stay unaware of Prometheus. They add two
``perf_counter`` reads and one histogram observation per call.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, cast

from ..components.invoker import ComponentCall, ComponentInvoker
from ..config import HostConfig
from ..packs.pack import PackRuntime
from ..runtime import RolloutIds, TenantRuntime
from ..runtime_loader import PackRef, RuntimeFactory, build_tenant_runtime
from ..secrets import SecretsManager
from ..storage.session import InMemorySessionStore, SessionStore
from ..storage.state import InMemoryStateStore, StateStore
from .metrics import Metrics


class MeteredInvoker:
    """A ComponentInvoker that times ``invoke`` and delegates everything else unchanged."""

    def __init__(self, inner: ComponentInvoker, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics

    async def invoke(self, pack: PackRuntime, call: ComponentCall) -> Any:
        start = time.perf_counter()
        outcome = "error"
        try:
            result = await self._inner.invoke(pack, call)
            outcome = "ok"
            return result
        finally:
            self._metrics.component_seconds.labels(
                call.component_ref, call.operation, outcome
            ).observe(time.perf_counter() - start)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class MeteredStore:
    """Times every coroutine method of a session or state store; other attributes pass through.

    The timed wrappers and their histogram children are built once per method (the first
    time it is looked up) and cached on the instance, so a call costs two ``perf_counter``
    reads and one observation. Context managers such as ``turn_lock`` are returned as they
    are, so lock ownership stays with the wrapped store.
    """

    def __init__(self, inner: object, store: str, metrics: Metrics) -> None:
        self._inner = inner
        self._store = store
        self._metrics = metrics

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name == "begin_turn":  # the durable stores' two-round-trip turn (storage/turns.py)
            found: Any = self._timed_turn(attr)
        elif inspect.iscoroutinefunction(attr):
            found = self._timed(name, attr)
        elif inspect.ismethod(attr):  # e.g. turn_lock: passed through, looked up once
            found = attr
        else:
            return attr
        setattr(self, name, found)  # later lookups skip __getattr__
        return found

    def _timed_turn(self, begin: Callable[..., Any]) -> Callable[..., Any]:
        """Times taking the turn (lock + read) and its last write (park or clear)."""
        metered = self

        @asynccontextmanager
        async def begin_turn(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            start = time.perf_counter()
            async with begin(*args, **kwargs) as turn:
                metered._observe("begin_turn", "ok", start)
                yield _MeteredTurn(turn, metered)

        return begin_turn

    def _observe(self, operation: str, outcome: str, start: float) -> None:
        self._metrics.store_seconds.labels(self._store, operation, outcome).observe(
            time.perf_counter() - start
        )

    def _timed(
        self, operation: str, method: Callable[..., Awaitable[Any]]
    ) -> Callable[..., Awaitable[Any]]:
        histogram = self._metrics.store_seconds
        ok = histogram.labels(self._store, operation, "ok")
        failed = histogram.labels(self._store, operation, "error")

        async def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                result = await method(*args, **kwargs)
            except BaseException:
                failed.observe(time.perf_counter() - start)
                raise
            ok.observe(time.perf_counter() - start)
            return result

        return timed


class _MeteredTurn:
    """A Turn whose last write (``park`` / ``clear``) is timed like any store operation."""

    def __init__(self, turn: Any, metered: MeteredStore) -> None:
        self._turn = turn
        self._metered = metered

    @property
    def parked(self) -> Any:
        return self._turn.parked

    async def park(self, *args: Any, **kwargs: Any) -> None:
        await self._timed("turn_park", self._turn.park(*args, **kwargs))

    async def clear(self, *args: Any, **kwargs: Any) -> None:
        await self._timed("turn_clear", self._turn.clear(*args, **kwargs))

    async def _timed(self, operation: str, call: Awaitable[None]) -> None:
        start = time.perf_counter()
        try:
            await call
        except BaseException:
            self._metered._observe(operation, "error", start)
            raise
        self._metered._observe(operation, "ok", start)


# In-memory stores are not timed: their operations are dict lookups, which the timing would
# make twice as costly and tell nothing about.


def metered_session_store(store: SessionStore, metrics: Metrics) -> SessionStore:
    if isinstance(store, InMemorySessionStore):
        return store
    return cast(SessionStore, MeteredStore(store, "session", metrics))


def metered_state_store(store: StateStore, metrics: Metrics) -> StateStore:
    if isinstance(store, InMemoryStateStore):
        return store
    return cast(StateStore, MeteredStore(store, "state", metrics))


def metered_runtime_factory(
    metrics: Metrics, inner: RuntimeFactory = build_tenant_runtime
) -> RuntimeFactory:
    """A RuntimeFactory whose runtimes call components through :class:`MeteredInvoker`."""

    async def factory(
        config: HostConfig,
        packs: Sequence[PackRef],
        *,
        session_store: SessionStore,
        state_store: StateStore,
        secrets: SecretsManager,
        invoker: ComponentInvoker,
        rollout: RolloutIds,
    ) -> TenantRuntime:
        return await inner(
            config,
            packs,
            session_store=session_store,
            state_store=state_store,
            secrets=secrets,
            invoker=cast(ComponentInvoker, MeteredInvoker(invoker, metrics)),
            rollout=rollout,
        )

    return factory
