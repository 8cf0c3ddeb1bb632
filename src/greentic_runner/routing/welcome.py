"""The welcome-flow override and its durable first-contact marker (spec §4.6).

Beyond the reference: the marker check-and-write is one atomic store operation
(``register_wait_if_absent``), so two concurrent first turns fire the welcome flow once.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

from ..activity import WelcomeFlowHint
from ..envelope import IngressEnvelope
from ..errors import RunnerError, StoreError, with_context
from ..flows.resume import FlowResumeStore, contact_identity
from ..storage.session import SessionCursor, SessionData, SessionStore
from ..tenancy import ReplyScope, TenantCtx


def marker_scope(endpoint_id: str) -> ReplyScope:
    return ReplyScope(conversation=f"welcome-seen::ep={endpoint_id}")


def marker_key(ctx: TenantCtx, user: str, scope: ReplyScope) -> str:
    """Per (env, tenant, team, user, endpoint) key, so users never share a marker row."""
    team = ctx.team or "<none>"
    material = (
        f"welcome-marker:v1\0{ctx.env}\0{ctx.tenant}\0team={team}\0{user}\0{scope.conversation}"
    )
    return "welcome-marker::" + hashlib.sha256(material.encode()).hexdigest()


def marker_data(ctx: TenantCtx, user: str) -> SessionData:
    return SessionData(
        tenant_ctx=ctx.with_user(user),
        flow_id="welcome-marker",
        pack_id="welcome-marker",
        cursor=SessionCursor("marker"),
        context_json="{}",
    )


async def try_mark_first_contact(store: SessionStore, envelope: IngressEnvelope) -> bool:
    """Write the marker; True only for the one turn that wrote it."""
    if envelope.messaging_endpoint_id is None:
        return False
    scope = marker_scope(envelope.messaging_endpoint_id)
    try:
        identity = contact_identity(envelope)
    except RunnerError as exc:
        raise with_context("welcome marker identity probe failed", exc) from exc
    ctx, user = identity.ctx, identity.user
    try:
        return await store.register_wait_if_absent(
            ctx, user, scope, marker_key(ctx, user, scope), marker_data(ctx, user)
        )
    except StoreError as exc:
        raise with_context("welcome marker register failed", exc) from exc


async def apply_welcome_override(
    store: SessionStore,
    envelope: IngressEnvelope,
    hint: WelcomeFlowHint | None,
    hint_flow_type: str | None,
) -> IngressEnvelope:
    """Route a first contact to the hinted welcome flow; otherwise return the envelope."""
    if hint is None or envelope.messaging_endpoint_id is None:
        return envelope
    if not await try_mark_first_contact(store, envelope):
        return envelope
    try:
        snapshot = await FlowResumeStore(store).fetch(envelope)
    except RunnerError as exc:
        raise with_context("welcome-flow first-contact probe failed", exc) from exc
    if snapshot is not None:
        return envelope
    return replace(envelope, pack_id=hint.pack_id, flow_id=hint.flow_id, flow_type=hint_flow_type)
