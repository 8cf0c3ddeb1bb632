"""YGTC routing grammar -> the model's Routing variants (pack-formats §2.3).

* absent, null or ``[]`` -> End; ``out``, ``[{out: true}]``, ``[{to: out}]`` -> End
* ``reply``, ``[{reply: true}]`` -> Reply; ``[{to: X}]`` -> Next X
* two or more ``to`` routes, some with ``status`` and at most one without -> Branch
  (on_status, default = the route without status)
* anything with a ``condition``, a single ``status`` route, mixes with out/reply, several
  unconditional ``to`` routes -> Custom (the routes in order; the engine takes the first that
  applies)
* ``next: X`` is read as ``to: X`` (authored flows use it); every target must be a node.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import FlowError
from .model import END, REPLY, Branch, Custom, Next, Route, Routing

ROUTE_KEYS = frozenset({"to", "next", "out", "reply", "status", "condition"})

#: Builds the error for a message; the caller adds file, line, flow and node.
Fail = Callable[[str], FlowError]


def compile_routing(raw: Any, known: frozenset[str], fail: Fail) -> Routing:
    """Compile a node's ``routing`` value. Raises ``fail(message)`` on bad input."""
    if raw is None:
        return END
    if isinstance(raw, str):
        if raw == "out":
            return END
        if raw == "reply":
            return REPLY
        raise fail(f"invalid routing shorthand {raw!r}: use `out`, `reply` or a list of routes")
    if not isinstance(raw, list):
        raise fail("`routing` must be `out`, `reply` or a list of routes")
    routes = [_route(item, index, fail) for index, item in enumerate(raw)]
    for route in routes:
        if route.to is not None and route.to not in known:
            raise fail(f"routes to missing node `{route.to}` (MissingNode)")
    if not routes:
        return END
    if any(route.condition is not None for route in routes):
        return Custom(tuple(routes))
    if len(routes) == 1:
        route = routes[0]
        if route.status is not None:
            return Custom(tuple(routes))  # one status route is still conditional
        if route.reply:
            return REPLY
        if route.out or route.to is None:
            return END
        return Next(route.to)
    return _branch(routes)


def _branch(routes: list[Route]) -> Routing:
    """Status routes plus at most one default become a Branch; anything else is Custom."""
    if any(r.out or r.reply or r.to is None for r in routes):
        return Custom(tuple(routes))
    defaults = [r for r in routes if r.status is None]
    statuses = [r.status for r in routes if r.status is not None]
    if not statuses or len(defaults) > 1 or len(set(statuses)) != len(statuses):
        return Custom(tuple(routes))
    on_status = {r.status: r.to for r in routes if r.status is not None and r.to is not None}
    return Branch(on_status, defaults[0].to if defaults else None)


def _route(item: Any, index: int, fail: Fail) -> Route:
    def problem(message: str) -> FlowError:
        return fail(f"route {index + 1}: {message}")

    if not isinstance(item, dict):
        raise problem("a route must be a mapping like `{to: next_node}`")
    unknown = sorted(set(item) - ROUTE_KEYS)
    if unknown:
        raise problem(
            f"unknown key `{unknown[0]}` (expected to, next, out, reply, status, condition)"
        )
    target = item.get("to")
    alias = item.get("next")
    for key, value in (("to", target), ("next", alias)):
        if value is not None and (not isinstance(value, str) or not value):
            raise problem(f"`{key}` must be a node id")
    if target is not None and alias is not None and target != alias:
        raise problem(f"`to: {target}` and `next: {alias}` disagree")
    target = target if target is not None else alias
    flags: dict[str, bool] = {}
    for key in ("out", "reply"):
        value = item.get(key)
        if value is not None and not isinstance(value, bool):
            raise problem(f"`{key}` must be true or false")
        flags[key] = bool(value)
    status = item.get("status")
    if isinstance(status, int | float) and not isinstance(status, bool):
        status = str(status)  # `status: 200` is a label, not a number
    if status is not None and not isinstance(status, str):
        raise problem("`status` must be a string")
    condition = item.get("condition")
    if condition is not None and (not isinstance(condition, str) or not condition.strip()):
        raise problem("`condition` must be a non-empty expression string")
    if target == "out":
        target, flags["out"] = None, True
    if target is None and not flags["out"] and not flags["reply"]:
        raise problem("a route needs a target: `to: <node>`, `out: true` or `reply: true`")
    return Route(
        to=target, out=flags["out"], reply=flags["reply"], status=status, condition=condition
    )
