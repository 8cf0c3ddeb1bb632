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
from collections import deque
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol

from ..errors import StoreError

log = logging.getLogger(__name__)

DEFAULT_LEASE_SECS = 30.0
"""How long a lease lives without renewal; a crashed holder blocks others at most this long."""


class LocalLocks:
    """Named in-process locks, created on demand and dropped when unused.

    Every turn takes one, nearly always uncontended, so a lock is just an entry in a dict:
    present while held, with the queue of tasks waiting for it. Releasing hands the lock
    straight to the first waiter (first come, first served)."""

    def __init__(self) -> None:
        self._held: dict[str, deque[asyncio.Future[None]]] = {}

    def hold(self, name: str) -> AbstractAsyncContextManager[None]:
        """Hold the lock called ``name`` for the duration of the block."""
        return _Held(self._held, name)


class _Held:
    """``LocalLocks.hold`` (a plain class: generator-based context managers cost more)."""

    __slots__ = ("_held", "_name")

    def __init__(self, held: dict[str, deque[asyncio.Future[None]]], name: str) -> None:
        self._held = held
        self._name = name

    async def __aenter__(self) -> None:
        waiters = self._held.get(self._name)
        if waiters is None:
            self._held[self._name] = deque()
            return
        turn = asyncio.get_running_loop().create_future()
        waiters.append(turn)
        try:
            await turn  # resolved when the lock is handed to us
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():  # handed over, then cancelled
                _release(self._held, self._name)
            else:
                with contextlib.suppress(ValueError):  # a release may have dropped it
                    waiters.remove(turn)
            raise

    async def __aexit__(self, *exc_info: object) -> None:
        _release(self._held, self._name)


def _release(held: dict[str, deque[asyncio.Future[None]]], name: str) -> None:
    waiters = held[name]
    while waiters:
        turn = waiters.popleft()
        if not turn.done():  # skip waiters that were cancelled
            turn.set_result(None)
            return
    del held[name]


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
    keeper: LeaseKeeper,
) -> AsyncIterator[None]:
    """Hold ``name`` in this process (FIFO, no polling) and then as a shared lease.

    Raises :class:`StoreError` when ``policy.wait_timeout`` passes before the lease is free.
    """
    async with local.hold(name):
        holder = new_holder()
        lease = await wait_for_lease(owner, backend, name, holder, policy)
        async with holding(lease, backend, keeper):
            yield


def new_holder() -> str:
    """A holder value unique to one acquisition."""
    return uuid.uuid4().hex


async def wait_for_lease(
    owner: object,
    backend: LeaseBackend,
    name: str,
    holder: str,
    policy: LeasePolicy,
    *,
    first_delay: float | None = None,
) -> Lease:
    """Take the lease, polling with capped exponential backoff while another holder has it.

    ``first_delay`` (when the caller's own first attempt already failed) sleeps before the
    first try. A cancelled or failed wait drops whatever it may have taken (compare-and-delete),
    so an acquisition whose answer was lost cannot block the conversation until expiry.
    """
    loop = asyncio.get_running_loop()
    deadline = None if policy.wait_timeout is None else loop.time() + policy.wait_timeout
    delay = policy.poll_min
    try:
        if first_delay is not None:
            await _pause(loop, deadline, name, policy, first_delay)
            delay = min(first_delay * 2, policy.poll_max)
        while True:
            token = await backend.try_acquire(name, holder, policy.lease_secs)
            if token is not None:
                return Lease(owner, name, holder, token)
            await _pause(loop, deadline, name, policy, delay)
            delay = min(delay * 2, policy.poll_max)
    except BaseException:
        with contextlib.suppress(StoreError):
            await backend.release(name, holder)
        raise


async def _pause(
    loop: asyncio.AbstractEventLoop,
    deadline: float | None,
    name: str,
    policy: LeasePolicy,
    delay: float,
) -> None:
    if deadline is not None and loop.time() >= deadline:
        raise StoreError(f"timed out after {policy.wait_timeout}s waiting for turn lock {name!r}")
    await asyncio.sleep(delay)


@asynccontextmanager
async def holding(lease: Lease, backend: LeaseBackend, keeper: LeaseKeeper) -> AsyncIterator[None]:
    """Make ``lease`` the current task's active lease (writes inside are fenced), keep it
    renewed, and release it on exit unless it was already released (a turn's last write can
    release it in the same transaction or script)."""
    reset = _ACTIVE.set((*_ACTIVE.get(), lease))
    keeper.add(lease)
    try:
        yield
    finally:
        _ACTIVE.reset(reset)
        keeper.discard(lease)
        if not lease.released:
            lease.released = True
            try:
                await backend.release(lease.name, lease.holder)
            except StoreError:
                # The lease expires on its own; failing the turn now would hide its real outcome.
                log.warning("could not release turn lock %r; it expires by itself", lease.name)


class LeaseKeeper:
    """Renews every lease one store holds, from one timer per store.

    A per-lock renewer task would cost a task creation and a cancellation on every turn,
    although nearly every turn ends long before its first renewal is due. Here one timer runs
    while the store holds any lease; every ``lease_secs / 3`` it renews all of them, so no
    lease goes longer than that without renewal (as with a per-lock renewer).
    """

    def __init__(self, backend: LeaseBackend, policy: LeasePolicy) -> None:
        self._backend = backend
        self._policy = policy
        self._held: dict[str, Lease] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def held(self) -> int:
        """How many leases are being kept renewed."""
        return len(self._held)

    def add(self, lease: Lease) -> None:
        """Keep ``lease`` renewed until :meth:`discard`."""
        self._held[lease.holder] = lease
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # first use, or the store moved to another event loop
            self.close()
            self._loop = loop
        if self._timer is None and self._task is None:
            self._timer = loop.call_later(self._policy.lease_secs / 3, self._tick)

    def discard(self, lease: Lease) -> None:
        """Stop renewing ``lease`` (released, or no longer ours)."""
        self._held.pop(lease.holder, None)

    def close(self) -> None:
        """Stop the timer and any renewal in flight (the store is closing)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def _tick(self) -> None:
        self._timer = None
        if self._held and self._loop is not None:
            self._task = self._loop.create_task(self._renew_all())

    async def _renew_all(self) -> None:
        try:
            # Concurrently: one slow renewal (a stalled server) must not hold up the others.
            held = [lease for lease in self._held.values() if not lease.released]
            await asyncio.gather(*(self._renew(lease) for lease in held))
        finally:
            if self._task is asyncio.current_task():  # not stopped by close() meanwhile
                self._task = None
                if self._held and self._loop is not None and not self._loop.is_closed():
                    self._timer = self._loop.call_later(self._policy.lease_secs / 3, self._tick)

    async def _renew(self, lease: Lease) -> None:
        try:
            still_held = await self._backend.renew(
                lease.name, lease.holder, self._policy.lease_secs
            )
        except StoreError as exc:
            log.warning("renewing turn lock %r failed: %s", lease.name, exc)
            return
        if not still_held and not lease.released:
            self.discard(lease)
            log.warning(
                "turn lock %r was lost; further writes in this turn are refused", lease.name
            )
