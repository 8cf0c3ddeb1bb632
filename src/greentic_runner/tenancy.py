"""Value objects shared by the envelope, the stores and the components: tenant context
and reply scope. They know nothing about hosts, HTTP or packs."""

from __future__ import annotations

import hashlib
from dataclasses import field, replace
from functools import lru_cache
from typing import Any

from .records import record


@lru_cache(maxsize=8192)  # a turn hashes its scope several times (fetch, clear/save, lock)
def _scope_hash(
    conversation: str, thread: str | None, reply_to: str | None, correlation: str | None
) -> str:
    text = "\n".join((conversation, thread or "", reply_to or "", correlation or ""))
    return hashlib.sha256(text.encode()).hexdigest()


@record
class ReplyScope:
    """Where a reply belongs: a conversation, optionally a thread, message and correlation."""

    conversation: str
    thread: str | None = None
    reply_to: str | None = None
    correlation: str | None = None

    def scope_hash(self) -> str:
        """sha256 hex over the four parts joined by newlines (greentic-types)."""
        return _scope_hash(self.conversation, self.thread, self.reply_to, self.correlation)

    def without_correlation(self) -> ReplyScope:
        return replace(self, correlation=None)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"conversation": self.conversation}
        for name in ("thread", "reply_to", "correlation"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> ReplyScope:
        return cls(
            conversation=str(value["conversation"]),
            thread=value.get("thread"),
            reply_to=value.get("reply_to"),
            correlation=value.get("correlation"),
        )


@record
class TenantCtx:
    """Who a call is for. Stores key on (env, tenant, team, user)."""

    env: str
    tenant: str
    team: str | None = None
    user: str | None = None
    session: str | None = None
    flow: str | None = None
    provider: str | None = None
    node: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)

    def with_user(self, user: str | None) -> TenantCtx:
        return replace(self, user=user)

    @property
    def identity(self) -> tuple[str, str, str | None]:
        """The (env, tenant, team) triple that every store entry must preserve."""
        return (self.env, self.tenant, self.team)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"env": self.env, "tenant": self.tenant}
        for name in ("team", "user", "session", "flow", "provider", "node"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.attributes:
            out["attributes"] = dict(self.attributes)
        return out

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> TenantCtx:
        return cls(
            env=str(value["env"]),
            tenant=str(value["tenant"]),
            team=value.get("team"),
            user=value.get("user"),
            session=value.get("session"),
            flow=value.get("flow"),
            provider=value.get("provider"),
            node=value.get("node"),
            attributes=dict(value.get("attributes") or {}),
        )
