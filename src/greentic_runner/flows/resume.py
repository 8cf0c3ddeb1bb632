"""FlowResumeStore: where paused flows wait for the next message (spec §6.2).

A paused flow is a session-store wait in the bucket (env, tenant, team, hashed user) under the
conversation's reply scope. The hashed user comes from the session hint plus the pack, so
endpoints (``ep=`` prefix) and packs never see each other's snapshots.
"""

from __future__ import annotations

import hashlib
import secrets
import weakref
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from functools import lru_cache
from typing import Any

import orjson

from ..envelope import IngressEnvelope, turn_tenant_ctx
from ..errors import SessionError
from ..ids import is_valid_id
from ..records import record
from ..storage.session import FoundWait, SessionCursor, SessionData, SessionStore, fetch_wait
from ..storage.turns import Turn, turn_starter
from ..tenancy import ReplyScope, TenantCtx
from .snapshot import FlowSnapshot, FlowWait

MISSING_SCOPE = "Cannot suspend: reply_scope missing; provider plugin must supply ReplyScope"


@record
class ContactIdentity:
    ctx: TenantCtx
    user: str
    hint: str


def contact_identity(envelope: IngressEnvelope) -> ContactIdentity:
    """The store bucket of the envelope's contact: ctx with the hashed user, and the hint."""
    hint = envelope.effective_session_hint()
    if envelope.pack_id is not None:
        hint = f"{hint}::pack={envelope.pack_id}"
    user = _hashed_user(hint)
    ctx = turn_tenant_ctx(
        envelope.env,
        envelope.tenant,
        envelope.messaging_endpoint_id,
        hint,
        envelope.flow_id,
        envelope.provider,
        user,
    )
    return ContactIdentity(ctx, user, hint)


# Strings only: caching whole identities kept objects alive for the collector to walk,
# which cost more than it saved once many contacts are new (tenants-10k benchmark).
@lru_cache(maxsize=8192)
def _hashed_user(hint: str) -> str:
    return "sess" + hashlib.sha256(hint.encode()).hexdigest()[:16]


_SHARED: weakref.WeakValueDictionary[int, FlowResumeStore] = weakref.WeakValueDictionary()


def _scope(envelope: IngressEnvelope) -> ReplyScope:
    if envelope.reply_scope is None:
        raise SessionError(MISSING_SCOPE)
    return envelope.reply_scope


def _lookup_scopes(scope: ReplyScope) -> list[ReplyScope]:
    return [scope, scope.without_correlation()] if scope.correlation else [scope]


class FlowResumeStore:
    """Save, fetch and clear waiting snapshots on top of any SessionStore."""

    def __init__(self, store: SessionStore, ttl: float | None = None) -> None:
        self.store = store
        self.ttl = ttl
        self._begin = turn_starter(store)

    @classmethod
    def shared(cls, store: SessionStore) -> FlowResumeStore:
        """The resume store over ``store`` (no TTL), one object for all the runtimes that
        share that session store: with many tenants, each turn then reads an object other
        tenants' turns keep warm in the CPU caches. Filed under ``id(store)``; it holds the
        store, so that id cannot be reused while the entry lives."""
        found = _SHARED.get(id(store))
        if found is None or found.store is not store:
            found = _SHARED[id(store)] = cls(store)
        return found

    async def save(
        self,
        envelope: IngressEnvelope,
        wait: FlowWait,
        identity: ContactIdentity | None = None,
        turn: Turn | None = None,
    ) -> ReplyScope:
        """Park the snapshot; returns the reply scope with a correlation id filled in.

        ``identity`` is ``contact_identity(envelope)`` when the caller already has it. With
        ``turn`` (from :meth:`begin_turn`) the write is the turn's last one."""
        scope = _scope(envelope)
        identity = identity or contact_identity(envelope)
        snapshot = wait.snapshot
        for kind, value in (("flow", snapshot.flow_id), ("pack", snapshot.pack_id)):
            if not is_valid_id(value):
                raise SessionError(f"cannot save flow snapshot: invalid {kind} id `{value}`")
        record = {"snapshot": snapshot.to_dict(), "reason": wait.reason}
        data = SessionData(
            tenant_ctx=replace(identity.ctx, flow=snapshot.flow_id),
            flow_id=snapshot.flow_id,
            pack_id=snapshot.pack_id,
            cursor=SessionCursor(snapshot.next_node, wait.reason),
            context_json=orjson.dumps(record).decode(),
        )
        store_scope = scope.without_correlation()
        key = f"{identity.hint}::{store_scope.scope_hash()}"
        if turn is not None:
            await turn.park(identity.ctx, identity.user, store_scope, key, data, self.ttl)
        else:
            await self.store.register_wait(
                identity.ctx, identity.user, store_scope, key, data, self.ttl
            )
        return scope if scope.correlation else replace(scope, correlation=secrets.token_hex(16))

    async def fetch(
        self, envelope: IngressEnvelope, identity: ContactIdentity | None = None
    ) -> FlowSnapshot | None:
        """The parked snapshot of this contact and conversation, or None."""
        scope = _scope(envelope)
        identity = identity or contact_identity(envelope)
        found = await fetch_wait(self.store, identity.ctx, identity.user, _lookup_scopes(scope))
        return self.snapshot_of(envelope, found)

    def begin_turn(
        self, envelope: IngressEnvelope, identity: ContactIdentity, lock_name: str
    ) -> AbstractAsyncContextManager[Turn]:
        """Hold the turn lock ``lock_name`` with the parked wait read under it (``.parked``;
        decode it with :meth:`snapshot_of`); one store round trip where the store allows."""
        scopes = _lookup_scopes(_scope(envelope))
        return self._begin(lock_name, identity.ctx, identity.user, scopes)

    def snapshot_of(
        self, envelope: IngressEnvelope, found: FoundWait | None
    ) -> FlowSnapshot | None:
        """The snapshot of a fetched wait; refuses one parked by another pack."""
        if found is None:
            return None
        snapshot = _decode(found[1].context_json)
        if envelope.pack_id is not None and envelope.pack_id != snapshot.pack_id:
            raise SessionError(
                f"resume pack mismatch: expected {envelope.pack_id}, found {snapshot.pack_id}"
            )
        return snapshot

    async def clear(
        self,
        envelope: IngressEnvelope,
        identity: ContactIdentity | None = None,
        turn: Turn | None = None,
    ) -> None:
        """Drop the parked wait (plain and correlated scope); with ``turn``, as its last write."""
        scope = _scope(envelope)
        identity = identity or contact_identity(envelope)
        if turn is not None:
            await turn.clear(identity.ctx, identity.user, _lookup_scopes(scope))
            return
        for candidate in _lookup_scopes(scope):
            await self.store.clear_wait(identity.ctx, identity.user, candidate)


def _decode(context_json: str) -> FlowSnapshot:
    try:
        record: Any = orjson.loads(context_json)
        return FlowSnapshot.from_dict(record["snapshot"])
    except Exception as exc:  # any shape problem in stored data is one error kind
        raise SessionError(f"failed to decode flow resume snapshot: {exc}") from exc
