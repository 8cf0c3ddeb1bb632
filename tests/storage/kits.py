"""Store kits: open stores of one backend over one shared backing, for the contract tests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.storage.storage_helpers import FakeClock

from greentic_runner.storage import (
    InMemorySessionStore,
    InMemoryStateStore,
    LeasePolicy,
    RedisSessionStore,
    RedisStateStore,
    SessionStore,
    SqliteSessionStore,
    SqliteStateStore,
    StateStore,
)


@dataclass
class Kit:
    """Opens stores of one backend over one shared backing (a file, a server, a process)."""

    backend: str
    clock: FakeClock
    tmp: Path
    redis_url: str | None = None
    namespace: str = field(default_factory=lambda: f"test:{uuid.uuid4().hex}")
    lease: LeasePolicy = field(default_factory=LeasePolicy)
    _closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    _memory_session: InMemorySessionStore | None = None
    _memory_state: InMemoryStateStore | None = None

    @property
    def clock_driven(self) -> bool:
        """TTLs follow the injected clock (memory, SQLite); Redis uses the server's clock."""
        return self.backend != "redis"

    @property
    def short_ttl(self) -> float:
        return 0.05 if self.backend == "redis" else 30.0

    async def expire(self, ttl: float) -> None:
        """Let ``ttl`` seconds pass for the backend."""
        if self.clock_driven:
            self.clock.advance(ttl + 1)
        else:
            # Redis expires by its own clock; a lazily-checked key is gone once its PX passed.
            await asyncio.sleep(ttl + 0.05)

    async def session_store(self) -> SessionStore:
        """A new store instance over the same backing (memory: the one instance)."""
        store: SessionStore
        if self.backend == "memory":
            if self._memory_session is None:
                self._memory_session = InMemorySessionStore(self.clock)
            return self._memory_session
        if self.backend == "sqlite":
            store = await SqliteSessionStore.open(
                self.tmp / "runner.db", self.clock, lease=self.lease
            )
        else:
            assert self.redis_url is not None
            store = RedisSessionStore.from_url(self.redis_url, self.namespace, lease=self.lease)
        self._closers.append(store.close)
        return store

    async def state_store(self) -> StateStore:
        store: StateStore
        if self.backend == "memory":
            if self._memory_state is None:
                self._memory_state = InMemoryStateStore(self.clock)
            return self._memory_state
        if self.backend == "sqlite":
            store = await SqliteStateStore.open(self.tmp / "runner.db", self.clock)
        else:
            assert self.redis_url is not None
            store = RedisStateStore.from_url(self.redis_url)
        self._closers.append(store.close)
        return store

    async def close(self) -> None:
        for close in reversed(self._closers):
            await close()
