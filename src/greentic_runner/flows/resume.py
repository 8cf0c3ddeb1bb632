"""FlowResumeStore: where paused flows wait for the next message (spec §6.2).

A paused flow is a session-store wait in the bucket (env, tenant, team, hashed user) under the
conversation's reply scope. The hashed user comes from the session hint plus the pack, so
endpoints (``ep=`` prefix) and packs never see each other's snapshots.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace
from typing import Any

import orjson

from ..envelope import IngressEnvelope
from ..errors import SessionError
from ..ids import is_valid_id
from ..storage.session import SessionCursor, SessionData, SessionStore
from ..tenancy import ReplyScope, TenantCtx
from .snapshot import FlowSnapshot, FlowWait

MISSING_SCOPE = "Cannot suspend: reply_scope missing; provider plugin must supply ReplyScope"


@dataclass(frozen=True, slots=True)
class ContactIdentity:
    ctx: TenantCtx
    user: str
    hint: str


def contact_identity(envelope: IngressEnvelope) -> ContactIdentity:
    """The store bucket of the envelope's contact: ctx with the hashed user, and the hint."""
    hint = envelope.effective_session_hint()
    if envelope.pack_id is not None:
        hint = f"{hint}::pack={envelope.pack_id}"
    user = "sess" + hashlib.sha256(hint.encode()).hexdigest()[:16]
    return ContactIdentity(envelope.tenant_ctx(session=hint, user=user), user, hint)


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

    async def save(
        self, envelope: IngressEnvelope, wait: FlowWait, identity: ContactIdentity | None = None
    ) -> ReplyScope:
        """Park the snapshot; returns the reply scope with a correlation id filled in.

        ``identity`` is ``contact_identity(envelope)`` when the caller already has it."""
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
        for candidate in _lookup_scopes(scope):
            key = await self.store.find_wait_by_scope(identity.ctx, identity.user, candidate)
            if key is None:
                continue
            data = await self.store.get_session(key)
            if data is None:
                continue
            snapshot = _decode(data.context_json)
            if envelope.pack_id is not None and envelope.pack_id != snapshot.pack_id:
                raise SessionError(
                    f"resume pack mismatch: expected {envelope.pack_id}, found {snapshot.pack_id}"
                )
            return snapshot
        return None

    async def clear(
        self, envelope: IngressEnvelope, identity: ContactIdentity | None = None
    ) -> None:
        scope = _scope(envelope)
        identity = identity or contact_identity(envelope)
        for candidate in _lookup_scopes(scope):
            await self.store.clear_wait(identity.ctx, identity.user, candidate)


def _decode(context_json: str) -> FlowSnapshot:
    try:
        record: Any = orjson.loads(context_json)
        return FlowSnapshot.from_dict(record["snapshot"])
    except Exception as exc:  # any shape problem in stored data is one error kind
        raise SessionError(f"failed to decode flow resume snapshot: {exc}") from exc
