"""Turn locks: named in-process locks, and leased locks shared across processes.

Every store's ``turn_lock(name)`` serializes the turns of one conversation. The memory store
only needs :class:`LocalLocks`. SQLite and Redis add a *lease*: a row or key that names the
holder, expires after ``lease_secs`` unless renewed, and carries a fencing token. While a
lease is held, the store's session writes check (atomically, inside the same transaction or
Lua script) that the lease is still theirs; a holder whose lease expired and was taken over
is refused with a :class:`~greentic_runner.errors.StoreError` instead of overwriting the new
holder's work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol

from ..errors import StoreError

log = logging.getLogger(__name__)

DEFAULT_LEASE_SECS = 30.0
"""How long a lease lives without renewal; a crashed holder blocks others at most this long."""


class LocalLocks:
    """Named :class:`asyncio.Lock` objects, created on demand and dropped when unused."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[None]:
        """Hold the lock called ``name`` for the duration of the block."""
        lock, holders = self._locks.get(name, (asyncio.Lock(), 0))
        self._locks[name] = (lock, holders + 1)
        try:
            async with lock:
                yield
        finally:
            lock, holders = self._locks[name]
            if holders == 1:
                del self._locks[name]
            else:
                self._locks[name] = (lock, holders - 1)


@dataclass(slots=True)
class Lease:
    """A held lease: ``holder`` is the unique value stored in the lease row/key."""

    owner: object
    name: str
    holder: str
    token: int
    released: bool = False


_ACTIVE: ContextVar[tuple[Lease, ...]] = ContextVar("greentic_turn_leases", default=())


def active_lease(owner: object) -> Lease | None:
    """The innermost unreleased lease that ``owner`` (a store) granted to the current task."""
    for lease in reversed(_ACTIVE.get()):
        if lease.owner is owner and not lease.released:
            return lease
    return None


def lost_lease_error(lease: Lease, key: str) -> StoreError:
    """The error a fenced write raises."""
    return StoreError(
        f"turn lock {lease.name!r} was lost (lease expired and was taken over); "
        f"write to {key} refused"
    )


class LeaseBackend(Protocol):
    """The three primitives a shared lease needs; each is one atomic store operation."""

    async def try_acquire(self, name: str, holder: str, lease_secs: float) -> int | None:
        """Take the lease when free or expired; the new fencing token, else ``None``."""
        ...

    async def renew(self, name: str, holder: str, lease_secs: float) -> bool:
        """Extend the lease when ``holder`` still owns it."""
        ...

    async def release(self, name: str, holder: str) -> None:
        """Drop the lease when ``holder`` still owns it (compare-and-delete)."""
        ...


@dataclass(frozen=True, slots=True)
class LeasePolicy:
    """Lease timing: ``lease_secs`` of validity, renewed every ``lease_secs / 3``.

    ``wait_timeout`` bounds how long ``turn_lock`` waits for another holder (``None`` waits;
    a dead holder's lease expires after ``lease_secs`` anyway).
    """

    lease_secs: float = DEFAULT_LEASE_SECS
    wait_timeout: float | None = None
    poll_min: float = 0.005
    poll_max: float = 0.1


@asynccontextmanager
async def leased_lock(
    owner: object,
    local: LocalLocks,
    backend: LeaseBackend,
    name: str,
    policy: LeasePolicy,
) -> AsyncIterator[None]:
    """Hold ``name`` in this process (FIFO, no polling) and then as a shared lease.

    Raises :class:`StoreError` when ``policy.wait_timeout`` passes before the lease is free.
    """
    async with local.hold(name):
        lease = await _acquire(owner, backend, name, policy)
        reset = _ACTIVE.set((*_ACTIVE.get(), lease))
        renewer = asyncio.create_task(_keep_renewed(backend, lease, policy))
        try:
            yield
        finally:
            lease.released = True
            _ACTIVE.reset(reset)
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            try:
                await backend.release(name, lease.holder)
            except StoreError:
                # The lease expires on its own; failing the turn now would hide its real outcome.
                log.warning("could not release turn lock %r; it expires by itself", name)


async def _acquire(owner: object, backend: LeaseBackend, name: str, policy: LeasePolicy) -> Lease:
    holder = uuid.uuid4().hex
    loop = asyncio.get_running_loop()
    deadline = None if policy.wait_timeout is None else loop.time() + policy.wait_timeout
    delay = policy.poll_min
    while True:
        token = await backend.try_acquire(name, holder, policy.lease_secs)
        if token is not None:
            return Lease(owner, name, holder, token)
        if deadline is not None and loop.time() >= deadline:
            raise StoreError(
                f"timed out after {policy.wait_timeout}s waiting for turn lock {name!r}"
            )
        # Another process holds the lease: poll with capped exponential backoff.
        await asyncio.sleep(delay)
        delay = min(delay * 2, policy.poll_max)


async def _keep_renewed(backend: LeaseBackend, lease: Lease, policy: LeasePolicy) -> None:
    interval = policy.lease_secs / 3
    while True:
        await asyncio.sleep(interval)
        try:
            still_held = await backend.renew(lease.name, lease.holder, policy.lease_secs)
        except StoreError as exc:
            log.warning("renewing turn lock %r failed: %s", lease.name, exc)
            continue
        if not still_held:
            log.warning(
                "turn lock %r was lost; further writes in this turn are refused", lease.name
            )
            return
