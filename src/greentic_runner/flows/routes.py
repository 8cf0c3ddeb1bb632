"""Where the walk goes after a node: Next / End / Reply / Branch / Custom routes.

* ``Next`` goes to its node; ``End`` and ``Reply`` finish the flow.
* ``Branch`` picks ``on_status[output.status]``, else ``default``, else finishes.
* ``Custom`` routes are tried in order; a route matches when its ``status`` (if any) equals
  the output's ``status`` and its ``condition`` (if any) holds. The first match decides:
  ``out``/``reply`` (or ``to: out`` when the flow has no node ``out``) finishes, ``to`` goes
  to that node, a match with no target finishes. When nothing matches the flow parks at the
  same node (``awaiting_submit``) so the next message re-runs it — the reference's card
  behaviour.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .conditions import compile_condition
from .model import Branch, Custom, End, Flow, Next, Node, Reply


@dataclass(frozen=True, slots=True)
class Decision:
    action: str  # "next" | "end" | "park"
    node: str | None = None


END_DECISION = Decision("end")
PARK = Decision("park")


def _status(payload: Any) -> Any:
    return payload.get("status") if isinstance(payload, dict) else None


def condition_context(template_ctx: dict[str, Any], payload: Any) -> dict[str, Any]:
    """What route conditions see: the template context after the node ran, ``output`` (the
    node's payload) and, for compatibility with upstream flows, the payload's own fields
    at top level (reserved roots and node ids win)."""
    scope: dict[str, Any] = dict(payload) if isinstance(payload, dict) else {}
    scope.update(template_ctx)
    scope["output"] = payload
    return scope


def decide(flow: Flow, node: Node, payload: Any, context: Callable[[], dict[str, Any]]) -> Decision:
    """The next step after ``node`` produced ``payload``; ``context`` builds the template
    context (only called when a route has a condition)."""
    routing = node.routing
    if isinstance(routing, Next):
        return Decision("next", routing.node_id)
    if isinstance(routing, End | Reply):
        return END_DECISION
    if isinstance(routing, Branch):
        status = _status(payload)
        if isinstance(status, str) and status in routing.on_status:
            return Decision("next", routing.on_status[status])
        return Decision("next", routing.default) if routing.default else END_DECISION
    assert isinstance(routing, Custom)
    scope: dict[str, Any] | None = None
    status = _status(payload)
    for route in routing.routes:
        if route.status is not None and route.status != status:
            continue
        if route.condition is not None:
            if scope is None:
                scope = condition_context(context(), payload)
            if not compile_condition(route.condition).holds(scope):
                continue
        if route.out or route.reply:
            return END_DECISION
        if route.to is not None:
            if route.to == "out" and "out" not in flow.nodes:
                return END_DECISION
            return Decision("next", route.to)
        return END_DECISION
    return PARK
