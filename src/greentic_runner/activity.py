"""The Activity model: what channels send in and what the host sends back (spec §3).

The JSON shape matches the reference exactly: ``kind`` is a field that holds an internally
tagged object (``{"kind": {"kind": "message"}}``), ``None`` fields are omitted, unknown
fields are ignored, a missing ``kind`` means message and a missing payload means ``null``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from .errors import ActivityError
from .records import record

# Activity fields in the reference's serialization order (kind first, payload last).
_OPTIONAL_FIELDS = (
    "tenant",
    "pack_id",
    "flow_id",
    "flow_type",
    "session_id",
    "provider_id",
    "messaging_endpoint_id",
    "user_id",
    "channel_id",
    "conversation_id",
)


@dataclass(frozen=True, slots=True)
class WelcomeFlowHint:
    """The (pack, flow) a producer wants run on a user's first contact (spec §4.6)."""

    pack_id: str
    flow_id: str


@record
class ActivityKind:
    """``message`` (the default) or ``custom`` with an action and an optional flow type."""

    kind: str = "message"
    action: str | None = None
    flow_type: str | None = None

    @property
    def is_custom(self) -> bool:
        return self.kind == "custom"

    def to_json(self) -> dict[str, Any]:
        if not self.is_custom:
            return {"kind": "message"}
        out: dict[str, Any] = {"kind": "custom", "action": self.action}
        if self.flow_type is not None:
            out["flow_type"] = self.flow_type
        return out

    @classmethod
    def from_json(cls, value: Any) -> ActivityKind:
        if not isinstance(value, dict):
            raise ActivityError(f"activity kind must be an object, got {_type_name(value)}")
        tag = value.get("kind")
        if tag == "message":
            return MESSAGE
        if tag == "custom":
            action = value.get("action")
            if not isinstance(action, str):
                raise ActivityError("custom activity kind requires a string `action`")
            flow_type = _optional_str(value, "flow_type", "activity kind")
            return cls("custom", action, flow_type)
        raise ActivityError(f"unknown activity kind {tag!r} (expected 'message' or 'custom')")


MESSAGE = ActivityKind()


_NO_IDS = (None,) * 10  # Activity's fields between ``tenant`` and ``payload``


@record
class Activity:
    """An inbound or outbound activity. Immutable: ``with_*`` methods return copies."""

    kind: ActivityKind = MESSAGE
    tenant: str | None = None
    pack_id: str | None = None
    flow_id: str | None = None
    flow_type: str | None = None
    session_id: str | None = None
    provider_id: str | None = None
    messaging_endpoint_id: str | None = None
    user_id: str | None = None
    channel_id: str | None = None
    conversation_id: str | None = None
    welcome_flow_hint: WelcomeFlowHint | None = None
    payload: Any = field(default=None)

    # -- constructors -------------------------------------------------------------------

    @classmethod
    def text(cls, text: str) -> Activity:
        """A message activity with flow type ``messaging`` and payload ``{"text": text}``."""
        return cls(flow_type="messaging", payload={"text": text})

    @classmethod
    def custom(cls, action: str, payload: Any) -> Activity:
        """A custom activity with the given action and no flow type."""
        return cls(kind=ActivityKind("custom", action), payload=payload)

    @classmethod
    def message(
        cls,
        tenant: str,
        flow_type: str | None,
        session_id: str | None,
        provider_id: str | None,
        user_id: str | None,
        channel_id: str | None,
        conversation_id: str | None,
        payload: Any,
    ) -> Activity:
        """A message activity from the fields channel adapters set (positional: a record
        built with keywords costs twice as much, and every channel message is one)."""
        return cls(
            MESSAGE,
            tenant,
            None,
            None,
            flow_type,
            session_id,
            provider_id,
            None,
            user_id,
            channel_id,
            conversation_id,
            None,
            payload,
        )

    @classmethod
    def from_output(cls, payload: Any, tenant: str) -> Activity:
        """The shape of every reply the host returns: custom ``response`` with the tenant."""
        return cls(_RESPONSE, tenant, *_NO_IDS, payload)  # positional: one per reply

    # -- derived values -----------------------------------------------------------------

    def resolved_flow_type(self) -> str | None:
        """The top-level flow type, else the kind's hint (message → ``messaging``)."""
        if self.flow_type is not None:
            return self.flow_type
        return self.kind.flow_type if self.kind.is_custom else "messaging"

    def action(self) -> str:
        """``messaging`` for messages, the custom action otherwise."""
        return (self.kind.action or "") if self.kind.is_custom else "messaging"

    # -- copies -------------------------------------------------------------------------

    def with_flow_type(self, flow_type: str) -> Activity:
        """Set the top-level flow type and, for custom kinds, the inner one too."""
        kind = replace(self.kind, flow_type=flow_type) if self.kind.is_custom else self.kind
        return replace(self, kind=kind, flow_type=flow_type)

    def with_payload_field(self, key: str, value: Any) -> Activity:
        """Set ``payload[key]``; a non-object payload is wrapped as ``{key, "value": old}``."""
        if isinstance(self.payload, dict):
            return replace(self, payload={**self.payload, key: value})
        return replace(self, payload={key: value, "value": self.payload})

    def ensure_tenant(self, tenant: str) -> Activity:
        """Set the tenant only when absent."""
        return self if self.tenant is not None else replace(self, tenant=tenant)

    def with_(self, **changes: Any) -> Activity:
        """A copy with the given fields replaced (``activity.with_(flow_id="x")``)."""
        return replace(self, **changes)

    # -- JSON ---------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind.to_json()}
        for name in _OPTIONAL_FIELDS:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.welcome_flow_hint is not None:
            hint = self.welcome_flow_hint
            out["welcome_flow_hint"] = {"pack_id": hint.pack_id, "flow_id": hint.flow_id}
        out["payload"] = self.payload
        return out

    def to_json(self) -> str:
        return orjson.dumps(self.to_dict()).decode()

    @classmethod
    def from_dict(cls, value: Any) -> Activity:
        """Build an activity from decoded JSON; raises ``ActivityError`` naming the bad field."""
        if not isinstance(value, dict):
            raise ActivityError(f"activity must be a JSON object, got {_type_name(value)}")
        kind_raw = value.get("kind")
        kind = MESSAGE if kind_raw is None else ActivityKind.from_json(kind_raw)
        fields = {name: _optional_str(value, name, "activity") for name in _OPTIONAL_FIELDS}
        return cls(
            kind=kind,
            welcome_flow_hint=_hint_from_json(value.get("welcome_flow_hint")),
            payload=value.get("payload"),
            **fields,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Activity:
        try:
            decoded = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise ActivityError(f"activity is not valid JSON: {exc}") from exc
        return cls.from_dict(decoded)


_RESPONSE = ActivityKind("custom", "response")


def _hint_from_json(value: Any) -> WelcomeFlowHint | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ActivityError("activity field `welcome_flow_hint` must be an object")
    pack_id, flow_id = value.get("pack_id"), value.get("flow_id")
    if not isinstance(pack_id, str) or not isinstance(flow_id, str):
        raise ActivityError("`welcome_flow_hint` requires string `pack_id` and `flow_id`")
    return WelcomeFlowHint(pack_id, flow_id)


def _optional_str(value: dict[str, Any], name: str, what: str) -> str | None:
    item = value.get(name)
    if item is None or isinstance(item, str):
        return item
    raise ActivityError(f"{what} field `{name}` must be a string, got {_type_name(item)}")


def _type_name(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(
        type(value), "null" if value is None else "number"
    )
