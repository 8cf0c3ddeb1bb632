"""Nodes that call out: components (component.exec, pack components, legacy mcp.exec) and
providers (provider.invoke), plus the ``greentic_control`` protocol (spec §5.5, §5.6)."""

from __future__ import annotations

from typing import Any

import orjson

from ..components.invoker import ComponentCall, ExecCtx
from ..errors import ComponentError, FlowError, ProviderError, RunnerError
from ..packs.providers import ProviderRegistry
from ..telemetry import current_trace_id
from ..tenancy import TenantCtx
from .builtins import STATE_PREFIX
from .nodes import COMPONENT_EXEC, Jump, NodeEnv, NodeKind, Outcome, Respond, done
from .templating import render_value

_CALL_KEYS = frozenset({"component", "component_ref", "operation", "op", "config"})
_SPLIT_KEYS = frozenset({"input", "config", "operation", "op", "component", "component_ref"})


def exec_ctx(env: NodeEnv) -> ExecCtx:
    ctx = env.ctx
    return ExecCtx(
        tenant=ctx.tenant,
        env=ctx.env,
        # The reference passes the provider id as the user (sic); kept for compatibility.
        user=ctx.provider_id,
        correlation_id=ctx.session_id,
        idempotency_key=ctx.session_id,
        attempt=ctx.attempt,
        flow_id=ctx.flow_id,
        node_id=env.node.id,
        session_id=ctx.session_id,
        provider_id=ctx.provider_id,
        trace_id=current_trace_id(),  # operations hook (telemetry.py): the node span's trace
    )


def _payload_operation(payload: Any) -> Any:
    if isinstance(payload, dict):
        return payload.get("operation", payload.get("op"))
    return None


def _operation(env: NodeEnv, kind: NodeKind, payload: Any, component: str) -> str:
    if kind.operation:
        return kind.operation
    from_payload = _payload_operation(payload)
    if isinstance(from_payload, str) and from_payload.strip():
        return from_payload
    message = (
        f"missing operation for node `{env.node.id}` (component `{component}`); "
        "expected node.component.operation to be set"
    )
    if from_payload is not None:
        message += f" (the mapping's operation {from_payload!r} is not a non-empty string)"
    raise FlowError(message)


def check_result(component: str, result: Any) -> None:
    """``{"ok": false, "error": {...}}`` → ComponentError ``component c failed: code: msg``."""
    if isinstance(result, dict) and result.get("ok") is False:
        error = result.get("error")
        code, message = "component_error", "component reported error"
        if isinstance(error, dict):
            code = str(error.get("code") or code)
            message = str(error.get("message") or message)
        elif isinstance(error, str) and error:
            message = error
        raise ComponentError(f"component {component} failed: {code}: {message}")


def parse_control(result: Any) -> Jump | Respond | None:
    """The ``greentic_control`` marker of a component result, if any (other actions: None)."""
    if not isinstance(result, dict) or "greentic_control" not in result:
        return None
    control = result["greentic_control"]
    if not isinstance(control, dict):
        raise FlowError("jump_failed: greentic_control must be an object")
    action = control.get("action")
    if not isinstance(action, str) or not action:
        raise FlowError("jump_failed: greentic_control.action is required")
    if "v" not in control or control["v"] is None:
        raise FlowError("jump_failed: greentic_control.v is required")
    if control["v"] != 1 or isinstance(control["v"], bool):
        raise FlowError(f"jump_failed: unsupported greentic_control.v={control['v']}")
    if action == "jump":
        flow = control.get("flow")
        if not isinstance(flow, str) or not flow.strip():
            raise FlowError("jump_failed: jump flow is required")
        node, limit = control.get("node"), control.get("max_redirects")
        reason = control.get("reason")
        return Jump(
            flow=flow,
            node=node if isinstance(node, str) else None,
            payload=control.get("payload"),
            hints=control.get("hints"),
            max_redirects=limit if isinstance(limit, int) and not isinstance(limit, bool) else None,
            reason=reason if isinstance(reason, str) else None,
        )
    if action == "respond":
        text, card, needs_user = (control.get(k) for k in ("text", "card_cbor", "needs_user"))
        return Respond(
            text=text if isinstance(text, str) else None,
            card_cbor=card if isinstance(card, list) else None,
            needs_user=needs_user if isinstance(needs_user, bool) else None,
        )
    return None


def _result_outcome(env: NodeEnv, result: Any) -> Outcome:
    control = parse_control(result)
    if isinstance(control, Jump):
        return Outcome(done(control.payload, control.hints).output, control)
    if control is not None:
        return Outcome(done(result).output, control)
    if env.node.out_map is not None:
        scope = {**env.template_ctx, "input": result, "result": result}
        result = render_value(env.node.out_map, scope, pointer=True)
    return done(result)


async def _invoke(env: NodeEnv, component: str, operation: str, input: Any, config: Any) -> Any:
    call = ComponentCall(component, operation, input, exec_ctx(env), config)
    result = await env.invoker.invoke(env.pack, call)
    check_result(component, result)
    return result


async def component_exec(env: NodeEnv, kind: NodeKind, payload: Any) -> Outcome:
    """``component.exec``: ``{component|component_ref, operation|op, input, config}``.

    Without an ``input`` key the input is the mapping minus the call keys (component,
    component_ref, operation, op, config) — the Python decision of spec §5.5.
    """
    if not isinstance(payload, dict):
        raise FlowError("invalid payload for component.exec")
    component = kind.target or payload.get("component") or payload.get("component_ref")
    if not isinstance(component, str) or not component.strip():
        raise FlowError("component.exec requires a component_ref")
    operation = _operation(env, kind, payload, env.node.component or COMPONENT_EXEC)
    if "input" in payload:
        input = payload["input"]
    else:
        input = {key: value for key, value in payload.items() if key not in _CALL_KEYS}
    result = await _invoke(env, component, operation, input, payload.get("config"))
    return _result_outcome(env, result)


async def pack_component(env: NodeEnv, kind: NodeKind, payload: Any) -> Outcome:
    """A pack component node; the input is split as ``split_operation_payload`` does."""
    assert kind.target is not None
    operation = _operation(env, kind, payload, kind.target)
    if isinstance(payload, dict) and "input" in payload and payload.keys() <= _SPLIT_KEYS:
        input, config = payload["input"], payload.get("config")
    else:
        input, config = payload, None
    result = await _invoke(env, kind.target, operation, input, config)
    return _result_outcome(env, result)


async def mcp_exec(env: NodeEnv, payload: Any) -> Outcome:
    """Legacy ``mcp.exec``: component = ``component``, operation = ``action``, input = ``args``."""
    if not isinstance(payload, dict):
        raise FlowError("invalid payload for mcp.exec: expected {component, action, args}")
    component = payload.get("component")
    action = payload.get("action", payload.get("operation"))
    if not isinstance(component, str) or not component.strip():
        raise FlowError("mcp.exec requires a non-empty `component`")
    if not isinstance(action, str) or not action.strip():
        raise FlowError("mcp.exec requires a non-empty `action`")
    args = payload.get("args", {})
    result = await _invoke(env, component, action, args, payload.get("config"))
    return _result_outcome(env, result)


async def provider_invoke(env: NodeEnv, payload: Any) -> Outcome:
    """``provider.invoke``: ``{provider_id?, provider_type?, op|operation, input, in_map,
    out_map}``; ``err_map`` is accepted and ignored (as in the reference)."""
    if not isinstance(payload, dict):
        raise FlowError("invalid payload for provider.invoke")
    op = payload.get("op", payload.get("operation"))
    if not isinstance(op, str) or not op.strip():
        raise FlowError("provider.invoke requires an op")
    provider_id, provider_type = payload.get("provider_id"), payload.get("provider_type")
    for name, value in (("provider_id", provider_id), ("provider_type", provider_type)):
        if value is not None and not isinstance(value, str):
            raise FlowError(f"invalid payload for provider.invoke: `{name}` must be a string")
    raw_input = payload.get("input")
    if payload.get("in_map") is not None:
        scope = {**env.template_ctx, "input": raw_input, "result": raw_input}
        provider_input = render_value(payload["in_map"], scope, pointer=True)
    else:
        provider_input = raw_input
    registry = ProviderRegistry.for_pack(env.pack)
    if registry is None:
        raise ProviderError(f"pack {env.pack.pack_id} has no manifest, so it declares no providers")
    instance = await _provider_instance(env, provider_id)
    binding = registry.resolve(provider_id, provider_type, instance)
    try:
        body = orjson.dumps(provider_input)
    except TypeError as exc:
        raise FlowError(f"provider.invoke input is not JSON: {exc}") from exc
    result = await env.invoker.invoke_provider(env.pack, binding, op, body, exec_ctx(env))
    if payload.get("out_map") is not None:
        scope = {**env.template_ctx, "input": result, "result": result}
        result = render_value(payload["out_map"], scope, pointer=True)
    return done(result)


async def _provider_instance(env: NodeEnv, provider_id: str | None) -> dict[str, Any] | None:
    if provider_id is None or env.state_store is None:
        return None
    ctx = TenantCtx(env=env.ctx.env, tenant=env.ctx.tenant)
    try:
        doc = await env.state_store.get_json(
            ctx, STATE_PREFIX, f"providers/instances/{provider_id}.json"
        )
    except RunnerError as exc:
        raise ProviderError(f"failed to load provider instance `{provider_id}`: {exc}") from exc
    if doc is not None and not isinstance(doc, dict):
        raise ProviderError(f"invalid provider instance `{provider_id}`")
    return doc
