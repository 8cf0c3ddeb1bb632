"""IngressEnvelope: the canonical form of one inbound turn (spec §4.4)."""

from __future__ import annotations

import logging
from dataclasses import fields
from typing import Any

from .errors import ActivityError
from .ids import is_valid_endpoint_id, is_valid_id
from .records import record
from .tenancy import ReplyScope, TenantCtx

log = logging.getLogger(__name__)

DEFAULT_ENV = "local"
DEFAULT_TENANT_ID = "tenant.default"


@record
class IngressEnvelope:
    """Everything the flow runner needs about a turn. Call :meth:`canonicalize` before use."""

    tenant: str
    flow_id: str
    env: str | None = None
    pack_id: str | None = None
    flow_type: str | None = None
    action: str | None = None
    session_hint: str | None = None
    provider: str | None = None
    messaging_endpoint_id: str | None = None
    channel: str | None = None
    conversation: str | None = None
    user: str | None = None
    entry_node: str | None = None
    activity_id: str | None = None
    timestamp: str | None = None
    payload: Any = None
    metadata: Any = None
    reply_scope: ReplyScope | None = None

    def canonical_session_hint(self) -> str:
        """``tenant:provider:channel:conversation:user`` with literal placeholders."""
        return ":".join(
            (
                self.tenant,
                self.provider or "provider",
                self.channel or "channel",
                self.conversation or "conversation",
                self.user or "user",
            )
        )

    def is_canonical(self) -> bool:
        """True when :meth:`canonicalize` would return an equal envelope."""
        endpoint = self.messaging_endpoint_id
        return bool(
            self.provider
            and self.channel
            and self.conversation
            and self.user
            and self.session_hint
            and self.reply_scope is not None
            and (
                endpoint is None
                or (
                    is_valid_endpoint_id(endpoint)
                    and self.session_hint.startswith(f"ep={endpoint}::")
                )
            )
        )

    def canonicalize(self) -> IngressEnvelope:
        """Fill defaults and derive the session hint; applying it twice changes nothing."""
        if self.is_canonical():
            return self
        return IngressEnvelope.canonical(**{name: getattr(self, name) for name in _FIELD_NAMES})

    @classmethod
    def canonical(
        cls,
        tenant: str,
        flow_id: str,
        env: str | None = None,
        pack_id: str | None = None,
        flow_type: str | None = None,
        action: str | None = None,
        session_hint: str | None = None,
        provider: str | None = None,
        messaging_endpoint_id: str | None = None,
        channel: str | None = None,
        conversation: str | None = None,
        user: str | None = None,
        entry_node: str | None = None,
        activity_id: str | None = None,
        timestamp: str | None = None,
        payload: Any = None,
        metadata: Any = None,
        reply_scope: ReplyScope | None = None,
    ) -> IngressEnvelope:
        """``IngressEnvelope(...).canonicalize()`` in one construction (the hot path builds
        one envelope per turn)."""
        provider = provider or "provider"
        channel = channel or flow_id
        conversation = conversation or channel
        user = user or session_hint or activity_id or "user"
        if messaging_endpoint_id is not None and not is_valid_endpoint_id(messaging_endpoint_id):
            log.warning(
                "dropping invalid messaging_endpoint_id %r; the turn runs unscoped",
                messaging_endpoint_id,
                extra={"tenant": tenant},
            )
            messaging_endpoint_id = None
        hint = session_hint or ":".join((tenant, provider, channel, conversation, user))
        if messaging_endpoint_id is not None:
            prefix = f"ep={messaging_endpoint_id}::"
            if not hint.startswith(prefix):
                hint = prefix + hint
        return cls(
            tenant,
            flow_id,
            env,
            pack_id,
            flow_type,
            action,
            hint,
            provider,
            messaging_endpoint_id,
            channel,
            conversation,
            user,
            entry_node,
            activity_id,
            timestamp,
            payload,
            metadata,
            reply_scope or ReplyScope(conversation),
        )

    def effective_session_hint(self) -> str:
        return self.session_hint or self.canonical_session_hint()

    def ctx_env(self) -> str:
        """The environment of :meth:`tenant_ctx` (``local`` unless a valid id is set)."""
        return _ctx_env(self.env)

    def tenant_ctx(self, *, session: str | None = None, user: str | None = None) -> TenantCtx:
        """The tenant context secrets, stores and components see for this turn
        (``session`` defaults to the session hint)."""
        return turn_tenant_ctx(
            self.env,
            self.tenant,
            self.messaging_endpoint_id,
            session or self.session_hint,
            self.flow_id,
            self.provider,
            user,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name == "reply_scope":
                if value is not None:
                    out["reply_scope"] = value.to_dict()
            elif value is not None or item.name == "payload":
                out[item.name] = value
        return out

    @classmethod
    def from_dict(cls, value: Any) -> IngressEnvelope:
        if not isinstance(value, dict):
            raise ActivityError("invalid ingress payload: expected a JSON object")
        known = {item.name for item in fields(cls)}
        data = {key: item for key, item in value.items() if key in known}
        for key in ("tenant", "flow_id"):
            if not isinstance(data.get(key), str):
                raise ActivityError(f"invalid ingress payload: missing string field `{key}`")
        scope = data.pop("reply_scope", None)
        try:
            reply_scope = ReplyScope.from_dict(scope) if isinstance(scope, dict) else None
        except KeyError as exc:
            raise ActivityError(
                "invalid ingress payload: reply_scope lacks `conversation`"
            ) from exc
        return cls(reply_scope=reply_scope, **data)


_FIELD_NAMES = tuple(item.name for item in fields(IngressEnvelope))


def _ctx_env(env: str | None) -> str:
    return env if env and is_valid_id(env) else DEFAULT_ENV


def turn_tenant_ctx(
    env: str | None,
    tenant: str,
    endpoint: str | None,
    session: str | None,
    flow: str,
    provider: str | None,
    user: str | None,
) -> TenantCtx:
    """:meth:`IngressEnvelope.tenant_ctx` from the envelope fields it reads: invalid env
    and tenant ids fall back to ``local`` / ``tenant.default``; the endpoint is an
    attribute."""
    attributes = {"messaging_endpoint_id": endpoint} if endpoint is not None else {}
    return TenantCtx(
        _ctx_env(env),
        tenant if is_valid_id(tenant) else DEFAULT_TENANT_ID,
        None,
        user,
        session,
        flow,
        provider,
        None,
        attributes,
    )
