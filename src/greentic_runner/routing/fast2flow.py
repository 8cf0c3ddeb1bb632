"""fast2flow intent routing (spec §4.2): ask a router where a message should go.

The router is a ``RouteProvider``; the default one calls the pack component
``fast2flow-routing`` (operation ``route``) through the tenant's ComponentInvoker.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

from ..activity import Activity
from ..components.invoker import ComponentCall, ComponentInvoker, ExecCtx
from ..config import Fast2FlowConfig
from ..errors import RoutingError
from ..packs.pack import PackRuntime


class RouteProvider(Protocol):
    async def route(self, request: dict[str, Any]) -> dict[str, Any]:
        """Return a Fast2FlowRouteResult: ``{"directive": ...}``."""
        ...


@dataclass(slots=True)
class ComponentRouteProvider:
    """Routes by calling the router component of the tenant's main pack."""

    invoker: ComponentInvoker
    pack: PackRuntime
    tenant: str
    config: Fast2FlowConfig

    async def route(self, request: dict[str, Any]) -> dict[str, Any]:
        scope = request["scope"]
        channel = request["envelope"].get("channel") or ""
        key = f"fast2flow:{scope}:{channel}:{request['now_unix_ms']}"
        ctx = ExecCtx(
            tenant=self.tenant,
            i18n_id="en",
            flow_id="greentic-x.fast2flow-routing",
            node_id=self.config.component_ref,
            idempotency_key=key,
            correlation_id=key,
        )
        call = ComponentCall(self.config.component_ref, self.config.operation, request, ctx)
        result = await self.invoker.invoke(self.pack, call)
        if isinstance(result, dict) and result.get("ok") is False:
            raw_error = result.get("error")
            error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
            raise RoutingError(
                f"fast2flow router component {self.config.component_ref} failed: "
                f"{error.get('code', 'component_error')}: "
                f"{error.get('message', 'component reported error')}"
            )
        if not isinstance(result, dict) or "directive" not in result:
            raise RoutingError(
                f"failed to decode Fast2Flow route result: expected an object with `directive`, "
                f"got {result!r:.200}"
            )
        return result


def build_request(
    activity: Activity, tenant: str, config: Fast2FlowConfig
) -> dict[str, Any] | None:
    """The routing request, or None when the activity has no usable text."""
    payload = activity.payload
    text = payload.get("text") if isinstance(payload, dict) else None
    if not isinstance(text, str) or not text.strip():
        return None
    envelope: dict[str, Any] = {"text": text.strip()}
    if activity.channel_id is not None:
        envelope["channel"] = activity.channel_id
    if activity.provider_id is not None:
        envelope["provider"] = activity.provider_id
    return {
        "scope": config.scope or tenant,
        "envelope": envelope,
        "session_active": activity.session_id is not None,
        "input_locale": "en",
        "time_budget_ms": config.time_budget_ms,
        "registry_path": config.registry_path,
        "indexes_path": config.indexes_path,
        "now_unix_ms": max(0, int(time.time() * 1000)),
        "metadata": {},
    }


async def apply_fast2flow(
    activity: Activity, tenant: str, config: Fast2FlowConfig, provider: RouteProvider
) -> Activity:
    """Apply the router's directive; a Respond/Deny becomes a short-circuit response."""
    if not config.enabled or activity.flow_id is not None:
        return activity
    request = build_request(activity, tenant, config)
    if request is None:
        return activity
    result = await provider.route(request)
    return apply_directive(activity, tenant, result.get("directive"))


def apply_directive(activity: Activity, tenant: str, directive: Any) -> Activity:
    name, body = _split_directive(directive)
    if name == "continue":
        return activity
    if name == "dispatch":
        return apply_target(activity, str(body.get("target", "")), body.get("entities") or [])
    if name in ("respond", "deny"):
        text = body.get("message") if name == "respond" else body.get("reason")
        payload = {"messages": [{"text": text}]}
        return Activity.custom("response", payload).ensure_tenant(tenant)
    raise RoutingError(f"failed to decode Fast2Flow route result: unknown directive {name!r}")


def _split_directive(directive: Any) -> tuple[str, dict[str, Any]]:
    """Accept ``"Continue"``, ``{"Dispatch": {...}}`` and ``{"type": "dispatch", ...}`` forms."""
    if isinstance(directive, str):
        return directive.lower(), {}
    if isinstance(directive, dict):
        for tag_key in ("type", "kind"):
            if isinstance(directive.get(tag_key), str):
                return directive[tag_key].lower(), directive
        if len(directive) == 1:
            ((name, body),) = directive.items()
            return str(name).lower(), body if isinstance(body, dict) else {}
    raise RoutingError(f"failed to decode Fast2Flow route result: bad directive {directive!r:.200}")


def apply_target(activity: Activity, target: str, entities: list[Any]) -> Activity:
    """``pack_id/flow_id`` or ``flow_id``; entities merge into ``payload.fast2flow``."""
    target = target.strip()
    if not target:
        raise RoutingError("fast2flow dispatch target is empty")
    if "/" in target:
        pack_id, flow_id = target.split("/", 1)
        if not pack_id.strip() or not flow_id.strip():
            raise RoutingError(
                f"fast2flow dispatch target `{target}` must be `pack_id/flow_id` or `flow_id`"
            )
        routed = activity.with_(pack_id=pack_id.strip(), flow_id=flow_id.strip())
    else:
        routed = activity.with_(flow_id=target)
    if entities:
        routed = routed.with_payload_field("fast2flow", {"entities": entities})
    return routed
