"""The SessionStore contract (spec §6.1) and its in-memory implementation.

A session entry is a :class:`SessionData` under a string key. A *wait* is an entry
registered for a (env, tenant, team, user) bucket and a reply scope, so the next message
in that conversation finds it. Every backend (memory, SQLite, Redis) satisfies the same
contract suite in ``tests/storage/test_session_contract.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from ..clock import SYSTEM_CLOCK, Clock
from ..errors import SessionError
from ..tenancy import ReplyScope, TenantCtx
from .locks import LocalLocks


@dataclass(frozen=True, slots=True)
class SessionCursor:
    node_pointer: str
    wait_reason: str | None = None
    outbox_marker: str | None = None


@dataclass(frozen=True, slots=True)
class SessionData:
    tenant_ctx: TenantCtx
    flow_id: str
    cursor: SessionCursor
    context_json: str
    pack_id: str | None = None

    def to_json(self) -> bytes:
        cursor = {"node_pointer": self.cursor.node_pointer}
        if self.cursor.wait_reason is not None:
            cursor["wait_reason"] = self.cursor.wait_reason
        if self.cursor.outbox_marker is not None:
            cursor["outbox_marker"] = self.cursor.outbox_marker
        doc: dict[str, Any] = {
            "tenant_ctx": self.tenant_ctx.to_dict(),
            "flow_id": self.flow_id,
            "cursor": cursor,
            "context_json": self.context_json,
        }
        if self.pack_id is not None:
            doc["pack_id"] = self.pack_id
        return orjson.dumps(doc)

    @classmethod
    def from_json(cls, raw: bytes | str) -> SessionData:
        try:
            doc = orjson.loads(raw)
            cursor = doc["cursor"]
            return cls(
                tenant_ctx=TenantCtx.from_dict(doc["tenant_ctx"]),
                flow_id=doc["flow_id"],
                pack_id=doc.get("pack_id"),
                cursor=SessionCursor(
                    cursor["node_pointer"], cursor.get("wait_reason"), cursor.get("outbox_marker")
                ),
                context_json=doc["context_json"],
            )
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise SessionError(f"stored session entry is corrupt: {exc}") from exc


UserBucket = tuple[str, str, str | None, str]

FoundWait = tuple[str, SessionData]
"""A wait that was found: its session key and its entry."""


def user_bucket(ctx: TenantCtx, user: str) -> UserBucket:
    return (ctx.env, ctx.tenant, ctx.team, user)


class SessionStore(Protocol):
    """Async session store. Errors are :class:`~greentic_runner.errors.StoreError`s."""

    async def create_session(self, ctx: TenantCtx, data: SessionData) -> str: ...

    async def get_session(self, key: str) -> SessionData | None: ...

    async def update_session(self, key: str, data: SessionData) -> None: ...

    async def remove_session(self, key: str) -> None: ...

    async def register_wait(
        self,
        ctx: TenantCtx,
        user: str,
        scope: ReplyScope,
        key: str,
        data: SessionData,
        ttl: float | None = None,
    ) -> None: ...

    async def register_wait_if_absent(
        self,
        ctx: TenantCtx,
        user: str,
        scope: ReplyScope,
        key: str,
        data: SessionData,
        ttl: float | None = None,
    ) -> bool:
        """Register the wait only when no live wait holds the scope; True when this call
        registered it. Atomic: of two concurrent callers exactly one wins."""
        ...

    async def find_wait_by_scope(
        self, ctx: TenantCtx, user: str, scope: ReplyScope
    ) -> str | None: ...

    async def list_waits_for_user(self, ctx: TenantCtx, user: str) -> list[str]: ...

    async def clear_wait(self, ctx: TenantCtx, user: str, scope: ReplyScope) -> None: ...

    async def find_by_user(self, ctx: TenantCtx, user: str) -> tuple[str, SessionData] | None: ...

    def turn_lock(self, name: str) -> AbstractAsyncContextManager[None]:
        """Serialize turns of one conversation: holders of the same name run one at a time."""
        ...

    async def close(self) -> None: ...


class WaitFetcher(Protocol):
    """Optional store capability: find and read a wait in one round trip.

    Stores without it are served by :func:`fetch_wait`'s fallback, so the
    :class:`SessionStore` protocol itself is unchanged.
    """

    async def fetch_wait(
        self, ctx: TenantCtx, user: str, scopes: Sequence[ReplyScope]
    ) -> FoundWait | None:
        """The first scope (in order) holding a live wait of (ctx, user), as (key, entry).

        Same result and index clean-up as ``find_wait_by_scope`` then ``get_session`` for
        each scope in turn, but one store operation."""
        ...


async def fetch_wait(
    store: SessionStore, ctx: TenantCtx, user: str, scopes: Sequence[ReplyScope]
) -> FoundWait | None:
    """``store.fetch_wait`` when the store has it, else find + get per scope."""
    fetch = getattr(store, "fetch_wait", None)
    if fetch is not None:
        found: FoundWait | None = await fetch(ctx, user, scopes)
        return found
    for scope in scopes:
        key = await store.find_wait_by_scope(ctx, user, scope)
        if key is None:
            continue
        data = await store.get_session(key)
        if data is not None:
            return key, data
    return None


# -- contract checks shared by every backend ----------------------------------------------


def check_alignment(ctx: TenantCtx, user: str, data: SessionData) -> None:
    """Reject a wait whose data does not belong to (ctx, user) (spec §6.1)."""
    stored = data.tenant_ctx
    if (ctx.env, ctx.tenant) != (stored.env, stored.tenant):
        raise SessionError("session data env/tenant must match the wait context")
    if ctx.team != stored.team:
        raise SessionError("session data team must match the wait context")
    if stored.user is not None and ctx.user is not None and stored.user != ctx.user:
        raise SessionError("session data user must match the wait context user")
    if ctx.user is not None and ctx.user != user:
        raise SessionError(f"wait user {user!r} does not match context user {ctx.user!r}")
    if stored.user is None:
        raise SessionError("user required by wait but missing in session data")
    if stored.user != user:
        raise SessionError(f"wait user {user!r} does not match session data user")


def check_create(ctx: TenantCtx, data: SessionData) -> None:
    """A new entry belongs to ``ctx``: same env/tenant/team, and the same user when it has one."""
    if data.tenant_ctx.identity != ctx.identity:
        raise SessionError("session data env/tenant/team must match the context")
    if data.tenant_ctx.user is not None and data.tenant_ctx.user != ctx.user:
        raise SessionError("session data user must match the context user")


def check_preserved(key: str, old: TenantCtx, new: TenantCtx) -> None:
    """An update may not move an entry to another env/tenant/team or change its user."""
    if old.identity != new.identity:
        raise SessionError(f"session {key} must keep its env, tenant and team")
    if old.user != new.user:
        raise SessionError(f"session {key} must keep its user")


def new_session_key() -> str:
    return str(uuid.uuid4())


# -- in-memory implementation ----------------------------------------------------------------


@dataclass(slots=True)
class _Entry:
    data: SessionData
    deadline: float | None
    bucket: UserBucket | None = None  # set for waits: where the entry is indexed
    scopes: set[str] = field(default_factory=set)  # scope hashes pointing at it


class InMemorySessionStore:
    """Process-local store. Fast and forgetful: use SQLite or Redis to survive restarts."""

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._user_waits: dict[UserBucket, set[str]] = {}
        self._scope_index: dict[tuple[UserBucket, str], str] = {}
        self._locks = LocalLocks()

    def _live(self, key: str) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.deadline is not None and entry.deadline <= self._clock.now():
            self._purge(key)
            return None
        return entry

    def _purge(self, key: str) -> None:
        """Drop the entry and exactly its index entries (O(1): no scan over other waits)."""
        entry = self._entries.pop(key, None)
        if entry is None or entry.bucket is None:
            return
        self._unwait(entry.bucket, key)
        for scope_hash in entry.scopes:
            if self._scope_index.get((entry.bucket, scope_hash)) == key:
                del self._scope_index[(entry.bucket, scope_hash)]

    def _unwait(self, bucket: UserBucket, key: str) -> None:
        waits = self._user_waits.get(bucket)
        if waits is not None:
            waits.discard(key)
            if not waits:
                del self._user_waits[bucket]

    async def create_session(self, ctx: TenantCtx, data: SessionData) -> str:
        check_create(ctx, data)
        key = new_session_key()
        self._entries[key] = _Entry(data, None)
        return key

    async def get_session(self, key: str) -> SessionData | None:
        entry = self._live(key)
        return entry.data if entry else None

    async def update_session(self, key: str, data: SessionData) -> None:
        entry = self._live(key)
        if entry is None:
            raise SessionError(f"session {key} not found")
        check_preserved(key, entry.data.tenant_ctx, data.tenant_ctx)
        entry.data = data

    async def remove_session(self, key: str) -> None:
        if self._live(key) is None:
            raise SessionError(f"session {key} not found")
        self._purge(key)

    async def register_wait(
        self,
        ctx: TenantCtx,
        user: str,
        scope: ReplyScope,
        key: str,
        data: SessionData,
        ttl: float | None = None,
    ) -> None:
        check_alignment(ctx, user, data)
        existing = self._live(key)
        if existing is not None:
            check_preserved(key, existing.data.tenant_ctx, data.tenant_ctx)
        bucket = user_bucket(ctx, user)
        scope_hash = scope.scope_hash()
        deadline = None if ttl is None else self._clock.now() + ttl
        scopes = existing.scopes if existing is not None and existing.bucket == bucket else set()
        self._entries[key] = _Entry(data, deadline, bucket, scopes | {scope_hash})
        previous = self._scope_index.get((bucket, scope_hash))
        if previous is not None and previous != key:
            self._unwait(bucket, previous)
            if previous in self._entries:
                self._entries[previous].scopes.discard(scope_hash)
        self._user_waits.setdefault(bucket, set()).add(key)
        self._scope_index[(bucket, scope_hash)] = key

    async def register_wait_if_absent(
        self,
        ctx: TenantCtx,
        user: str,
        scope: ReplyScope,
        key: str,
        data: SessionData,
        ttl: float | None = None,
    ) -> bool:
        # No await between the probe and the write: atomic on the event loop.
        if await self.find_wait_by_scope(ctx, user, scope) is not None:
            return False
        await self.register_wait(ctx, user, scope, key, data, ttl)
        return True

    async def find_wait_by_scope(self, ctx: TenantCtx, user: str, scope: ReplyScope) -> str | None:
        return self._waiting_key(ctx, user, user_bucket(ctx, user), scope)

    async def fetch_wait(
        self, ctx: TenantCtx, user: str, scopes: Sequence[ReplyScope]
    ) -> FoundWait | None:
        bucket = user_bucket(ctx, user)
        for scope in scopes:
            key = self._waiting_key(ctx, user, bucket, scope)
            if key is not None:
                entry = self._live(key)
                if entry is not None:
                    return key, entry.data
        return None

    def _waiting_key(
        self, ctx: TenantCtx, user: str, bucket: UserBucket, scope: ReplyScope
    ) -> str | None:
        """The live wait's key in ``scope``; drops an index entry whose wait is gone or
        belongs to someone else."""
        index_key = (bucket, scope.scope_hash())
        key = self._scope_index.get(index_key)
        if key is None:
            return None
        entry = self._live(key)
        stored = entry.data.tenant_ctx if entry else None
        if stored is None or stored.identity != ctx.identity or stored.user != user:
            self._scope_index.pop(index_key, None)
            return None
        return key

    async def list_waits_for_user(self, ctx: TenantCtx, user: str) -> list[str]:
        keys = self._user_waits.get(user_bucket(ctx, user), set())
        return sorted(key for key in list(keys) if self._live(key) is not None)

    async def clear_wait(self, ctx: TenantCtx, user: str, scope: ReplyScope) -> None:
        bucket = user_bucket(ctx, user)
        key = self._scope_index.pop((bucket, scope.scope_hash()), None)
        if key is not None:
            self._unwait(bucket, key)
            self._purge(key)

    async def find_by_user(self, ctx: TenantCtx, user: str) -> tuple[str, SessionData] | None:
        keys = await self.list_waits_for_user(ctx, user)
        if not keys:
            return None
        if len(keys) > 1:
            raise SessionError("multiple waits exist for user; use scope-based routing instead")
        entry = self._entries[keys[0]]
        return keys[0], entry.data

    def turn_lock(self, name: str) -> AbstractAsyncContextManager[None]:
        """An in-process lock: enough, since nobody else can see this store."""
        return self._locks.hold(name)

    async def close(self) -> None:
        return None
