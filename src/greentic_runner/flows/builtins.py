"""Built-in nodes the engine runs without a component (spec §5.5; docs/flows.md).

Each function receives the node's rendered payload and returns an :class:`Outcome`. Errors
are plain :class:`FlowError` texts; the engine prefixes the flow and node.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from ..errors import FlowError, RunnerError
from ..ids import is_valid_id
from ..storage.state import StateStore
from ..tenancy import TenantCtx
from .nodes import Jump, NodeEnv, Outcome, Return, Wait, done

log = logging.getLogger(__name__)

STATE_PREFIX = "runner"
MISSING_KEY = "state node payload missing required `key` (non-empty string)"


def _text(value: Any) -> str:
    """A rendered value as message text (typed injection may have produced a non-string)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return orjson.dumps(value).decode()


def templating(env: NodeEnv, payload: Any) -> Outcome:
    """``templating.handlebars`` / ``template``: output ``{"text": rendered}``.

    The mapping was already rendered; the text is ``payload.text`` (or ``payload.template``)
    for an object, the payload itself otherwise.
    """
    if isinstance(payload, dict):
        if "text" in payload:
            return done({"text": _text(payload["text"])})
        if "template" in payload:
            return done({"text": _text(payload["template"])})
        raise FlowError(f"{env.node.component} node needs a `text` template")
    return done({"text": _text(payload)})


def emit_payload(payload: Any) -> Any:
    """The emitted value: ``payload.input``, else ``payload.payload``, else the payload."""
    if isinstance(payload, dict):
        if "input" in payload:
            return payload["input"]
        if "payload" in payload:
            return payload["payload"]
    return payload


def emit(env: NodeEnv, kind: str, payload: Any) -> Outcome:
    """``emit.*``: queue the payload as one reply; the output is the payload."""
    value = emit_payload(payload)
    if kind == "emit.log":
        log.info("emit.log %s", _text(value), extra={"flow": env.flow.id, "node": env.node.id})
    env.emit(value)
    return done(value)


def messaging_emit(env: NodeEnv, payload: Any) -> Outcome:
    """``messaging.emit``: each entry of ``messages`` becomes its own reply.

    A string message becomes ``{"text": message}``. Without ``messages`` it behaves like
    ``emit.response``.
    """
    if not (isinstance(payload, dict) and "messages" in payload):
        return emit(env, "messaging.emit", payload)
    messages = payload["messages"]
    if not isinstance(messages, list):
        raise FlowError("messaging.emit `messages` must be a list")
    for message in messages:
        env.emit({"text": message} if isinstance(message, str) else message)
    return done(payload)


def session_wait(payload: Any) -> Outcome:
    """``session.wait``: pause; the reason is the payload string or ``payload.reason``."""
    reason: str | None = None
    if isinstance(payload, str):
        reason = payload
    elif isinstance(payload, dict) and isinstance(payload.get("reason"), str):
        reason = payload["reason"]
    return Outcome(done(payload).output, Wait(reason))


def flow_return(payload: Any) -> Outcome:
    """``flow.return``: end the flow now; the result is ``payload.value`` or the payload."""
    value = payload["value"] if isinstance(payload, dict) and "value" in payload else payload
    return Outcome(done(value).output, Return())


def flow_goto(env: NodeEnv, payload: Any) -> Outcome:
    """``flow.goto``: a one-way jump to a flow of the same pack (spec §5.6 rules apply).

    Payload ``{flow|flow_id, node?, input?, max_redirects?}``; without ``input`` the
    current input is carried over.
    """
    if not isinstance(payload, dict):
        raise FlowError("invalid payload for flow.goto node: expected an object")
    target = payload.get("flow", payload.get("flow_id"))
    node = payload.get("node")
    limit = payload.get("max_redirects")
    if not isinstance(target, str) or (node is not None and not isinstance(node, str)):
        raise FlowError("invalid payload for flow.goto node: `flow` and `node` must be strings")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)):
        raise FlowError("invalid payload for flow.goto node: `max_redirects` must be an integer")
    jump_input = payload.get("input", env.state.input)
    jump = Jump(flow=target, node=node, payload=jump_input, max_redirects=limit, reason="goto")
    return Outcome(done(jump_input).output, jump)


def parse_flow_call(payload: Any) -> tuple[str, Any]:
    """``flow.call`` payload ``{flow_id (alias flow), input (default null)}``."""
    if not isinstance(payload, dict):
        raise FlowError("invalid payload for flow.call node")
    flow_id = payload.get("flow_id", payload.get("flow"))
    if flow_id is not None and not isinstance(flow_id, str):
        raise FlowError("invalid payload for flow.call node")
    if flow_id is None or not flow_id.strip():
        raise FlowError("flow.call requires a non-empty flow_id")
    return flow_id, payload.get("input")


# -- state.get / state.set --------------------------------------------------------------


def _state_target(env: NodeEnv, payload: Any) -> tuple[StateStore, TenantCtx, str]:
    key = payload.get("key") if isinstance(payload, dict) else None
    if not isinstance(key, str) or not key.strip():
        raise FlowError(MISSING_KEY)
    if env.state_store is None:
        raise FlowError("state store is not configured for this runtime")
    if not is_valid_id(env.ctx.env):
        raise FlowError(f"invalid env id `{env.ctx.env}`")
    if not is_valid_id(env.ctx.tenant):
        raise FlowError(f"invalid tenant id `{env.ctx.tenant}`")
    # The reference keys these by (env, tenant) only, not by session: values are shared by
    # every conversation of the tenant. Flows that want per-user values put the user in the key.
    return env.state_store, TenantCtx(env=env.ctx.env, tenant=env.ctx.tenant), key


async def state_get(env: NodeEnv, payload: Any) -> Outcome:
    """Output ``{"key", "value", "found"}``; ``fallback`` is the value when not found."""
    store, tenant_ctx, key = _state_target(env, payload)
    try:
        value = await store.get_json(tenant_ctx, STATE_PREFIX, key)
    except RunnerError as exc:
        raise FlowError(f"state.get failed for key `{key}`: {exc}") from exc
    found = value is not None
    if not found:
        value = payload.get("fallback")
    return done({"key": key, "value": value, "found": found})


async def state_set(env: NodeEnv, payload: Any) -> Outcome:
    """Output ``{"key", "value"}``; ``value`` defaults to null, ``ttl_secs`` is optional."""
    store, tenant_ctx, key = _state_target(env, payload)
    value = payload.get("value")
    ttl = payload.get("ttl_secs")
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int | float) or ttl <= 0):
        raise FlowError(f"state.set `ttl_secs` must be a positive number, got {ttl!r}")
    try:
        await store.set_json(tenant_ctx, STATE_PREFIX, key, value, ttl_secs=ttl)
    except RunnerError as exc:
        raise FlowError(f"state.set failed for key `{key}`: {exc}") from exc
    return done({"key": key, "value": value})
