"""One conversation turn against a session store, in as few round trips as the store allows.

A turn holds the conversation's turn lock, reads its parked wait, and ends with one write:
*park* a new wait or *clear* the old one. Done with the plain :class:`SessionStore` calls
that is four or five store operations (lock, find, get, write, release). The durable stores
implement :class:`TurnStore` and do it in two:

* taking the lease and reading the wait are one transaction (SQLite) or one Lua script
  (Redis) — when the lease is busy, the turn falls back to polling for it and then reads;
* the last write is fenced by the lease and releases it, in one transaction or script.

:func:`turn_starter` picks the store's own implementation or the plain fallback, so the
``SessionStore`` protocol is unchanged and every store keeps working.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType
from typing import Protocol, cast

from ..errors import StoreError
from ..tenancy import ReplyScope, TenantCtx
from .locks import (
    Lease,
    LeaseBackend,
    LeaseKeeper,
    LeasePolicy,
    LocalLocks,
    holding,
    new_holder,
    wait_for_lease,
)
from .session import FoundWait, SessionData, SessionStore, fetch_wait


class Turn(Protocol):
    """A turn in progress: the lock is held and the parked wait (if any) was read.

    ``park`` or ``clear`` is the turn's last store write: it may end the lease, so call one of
    them at most once, as the last store operation of the turn.
    """

    @property
    def parked(self) -> FoundWait | None:
        """The wait found under the lock when the turn began (first matching scope)."""
        ...

    async def park(
        self,
        ctx: TenantCtx,
        user: str,
        scope: ReplyScope,
        key: str,
        data: SessionData,
        ttl: float | None = None,
    ) -> None:
        """``register_wait(ctx, user, scope, key, data, ttl)``, ending the turn's writes."""
        ...

    async def clear(self, ctx: TenantCtx, user: str, scopes: Sequence[ReplyScope]) -> None:
        """``clear_wait`` of every scope, ending the turn's writes."""
        ...


class TurnStore(Protocol):
    """Optional store capability: a whole turn in two round trips."""

    def begin_turn(
        self, name: str, ctx: TenantCtx, user: str, scopes: Sequence[ReplyScope]
    ) -> AbstractAsyncContextManager[Turn]:
        """Hold ``turn_lock(name)`` and read ``fetch_wait(ctx, user, scopes)`` under it."""
        ...


BeginTurn = Callable[[str, TenantCtx, str, Sequence[ReplyScope]], AbstractAsyncContextManager[Turn]]
"""``begin(name, ctx, user, scopes)``: what :func:`turn_starter` returns."""


def turn_starter(store: SessionStore) -> BeginTurn:
    """The store's own :meth:`TurnStore.begin_turn`, or ``turn_lock`` + plain calls; resolve
    it once per store rather than per turn."""
    begin = getattr(store, "begin_turn", None)
    if begin is not None:
        return cast(BeginTurn, begin)

    def plain(
        name: str, ctx: TenantCtx, user: str, scopes: Sequence[ReplyScope]
    ) -> AbstractAsyncContextManager[Turn]:
        return _PlainTurnScope(store, name, ctx, user, scopes)

    return plain


class _PlainTurnScope:
    """``turn_lock`` + ``fetch_wait`` as a plain context-manager class (a generator-based
    one costs measurably on every in-memory turn)."""

    __slots__ = ("_ctx", "_lock", "_scopes", "_store", "_user")

    def __init__(
        self,
        store: SessionStore,
        name: str,
        ctx: TenantCtx,
        user: str,
        scopes: Sequence[ReplyScope],
    ) -> None:
        self._store = store
        self._lock = store.turn_lock(name)
        self._ctx = ctx
        self._user = user
        self._scopes = scopes

    async def __aenter__(self) -> Turn:
        await self._lock.__aenter__()
        try:
            parked = await fetch_wait(self._store, self._ctx, self._user, self._scopes)
        except BaseException as exc:
            await self._lock.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        return PlainTurn(self._store, parked)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        return await self._lock.__aexit__(exc_type, exc, traceback)


class _OneEnding:
    """Holds what the turn found parked; refuses a second park/clear (the first may
    already have released the lease)."""

    _ended = False
    _parked: FoundWait | None = None

    @property
    def parked(self) -> FoundWait | None:
        return self._parked

    def _end(self) -> None:
        if self._ended:
            raise StoreError("a turn's park or clear ran twice; it must be its last write")
        self._ended = True


class PlainTurn(_OneEnding):
    """A turn over plain ``SessionStore`` calls (memory and other stores)."""

    def __init__(self, store: SessionStore, parked: FoundWait | None) -> None:
        self._store = store
        self._parked = parked

    async def park(
        self,
        ctx: TenantCtx,
        user: str,
        scope: ReplyScope,
        key: str,
        data: SessionData,
        ttl: float | None = None,
    ) -> None:
        self._end()
        await self._store.register_wait(ctx, user, scope, key, data, ttl)

    async def clear(self, ctx: TenantCtx, user: str, scopes: Sequence[ReplyScope]) -> None:
        self._end()
        if self._parked is None:  # nothing was parked, and the lock kept it that way
            return
        for scope in scopes:
            await self._store.clear_wait(ctx, user, scope)


class TurnEnding(Protocol):
    """The two fenced last writes a leased turn needs from its store; each also releases
    ``lease`` in the same transaction or script."""

    async def park_ending(
        self,
        lease: Lease,
        ctx: TenantCtx,
        user: str,
        scope: ReplyScope,
        key: str,
        data: SessionData,
        ttl: float | None,
    ) -> None: ...

    async def clear_ending(
        self, lease: Lease, ctx: TenantCtx, user: str, scopes: Sequence[ReplyScope]
    ) -> None: ...


class LeasedTurn(_OneEnding):
    """A turn holding a shared lease; its last write releases the lease with it."""

    def __init__(self, ending: TurnEnding, lease: Lease, parked: FoundWait | None) -> None:
        self._ending = ending
        self._lease = lease
        self._parked = parked

    async def park(
        self,
        ctx: TenantCtx,
        user: str,
        scope: ReplyScope,
        key: str,
        data: SessionData,
        ttl: float | None = None,
    ) -> None:
        self._end()
        await self._ending.park_ending(self._lease, ctx, user, scope, key, data, ttl)
        # Only after success: on failure the lock's exit releases the lease separately.
        self._lease.released = True

    async def clear(self, ctx: TenantCtx, user: str, scopes: Sequence[ReplyScope]) -> None:
        self._end()
        await self._ending.clear_ending(self._lease, ctx, user, scopes)
        self._lease.released = True


BeginFn = Callable[[str], Awaitable[tuple[int, FoundWait | None] | None]]
"""Take the lease for a holder and read the wait in one operation: (token, found), or None
when another holder has the lease."""


@asynccontextmanager
async def leased_turn(
    owner: object,
    local: LocalLocks,
    leases: LeaseBackend,
    keeper: LeaseKeeper,
    policy: LeasePolicy,
    name: str,
    begin: BeginFn,
    fetch: Callable[[], Awaitable[FoundWait | None]],
    ending: TurnEnding,
) -> AsyncIterator[Turn]:
    """The shared shape of the durable stores' ``begin_turn``: in-process lock, then the
    lease and the read in one operation (or polling for the lease, then the read)."""
    async with local.hold(name):
        holder = new_holder()
        try:
            first = await begin(holder)
        except BaseException:
            # The lease may have been taken before the failure or cancellation reached us.
            with contextlib.suppress(StoreError):
                await leases.release(name, holder)
            raise
        if first is not None:
            lease, parked = Lease(owner, name, holder, first[0]), first[1]
        else:
            lease = await wait_for_lease(
                owner, leases, name, holder, policy, first_delay=policy.poll_min
            )
            parked = None
        async with holding(lease, leases, keeper):
            if first is None:
                parked = await fetch()
            yield LeasedTurn(ending, lease, parked)
