"""Compiled flows ("flow-v1") <-> the runtime :class:`~greentic_runner.flows.model.Flow`.

A pack-v1 manifest embeds flows already compiled (pack-formats §1.3):
``{schema_version:"flow-v1", id, kind, entrypoints, nodes:[…], metadata{title, description,
tags, extra}}`` where each node is ``{id, component{id, pack_alias, operation}, input{mapping},
output{mapping}, err_map, routing, telemetry}``. This module works on that *logical* form,
with node and component ids as strings; :mod:`.manifest` maps them to and from the symbol
table indexes of the wire form.

Routing is accepted in both spellings — the CBOR one with capitalised variants (``"End"``,
``{"Next":{"node_id":…}}``) and the JSON-schema one in lower case — and written capitalised.

What the compiled form has no field for (the YGTC schema version, an explicit ``start``,
resolved component refs, reserved node keys such as ``retry``) travels in the runner's own
manifest extension :data:`HINTS_EXTENSION` (``inline.flows.<flow id>``), so a directory ->
build -> read round trip gives equal :class:`Flow` objects; other tools preserve the
extension untouched.
"""

from __future__ import annotations

from typing import Any

from ..errors import FlowError, PackError
from ..flows.model import END, REPLY, Branch, Custom, End, Flow, Next, Node, Reply, Route, Routing
from ..flows.ygtc_routing import compile_routing
from .shapes import expect_list, expect_map, expect_str

HINTS_EXTENSION = "greentic.runner.hints.v1"
SLOT_SCHEMA_KEY = "greentic.slot_schema"

# YGTC `type` <-> greentic-types FlowKind (greentic-flow `map_flow_type`).
_KIND_BY_TYPE = {
    "messaging": "messaging",
    "event": "event",
    "events": "event",
    "component-config": "component_config",
    "component_config": "component_config",
    "job": "job",
    "http": "http",
}
_TYPE_BY_KIND = {
    "messaging": "messaging",
    "event": "event",
    "component_config": "component-config",
    "job": "job",
    "http": "http",
}


def flow_kind(flow_type: str) -> str:
    """The FlowKind a runtime flow type encodes to.

    Types FlowKind has no value for (``webhook``, ``timer``, ``websocket``, ``pubsub``, which
    the YGTC schema lists) are written as ``event``; the exact type travels in the hints.
    """
    return _KIND_BY_TYPE.get(flow_type, "event")


def flow_type_for_kind(kind: Any, where: str) -> str:
    """The runtime flow type of a FlowKind value."""
    if not isinstance(kind, str) or kind not in _TYPE_BY_KIND:
        raise PackError(f"{where} has an unknown flow kind {kind!r}")
    return _TYPE_BY_KIND[kind]


# --------------------------------------------------------------------------- encode


def flow_to_compiled(flow: Flow) -> tuple[dict[str, Any], dict[str, Any]]:
    """(compiled flow, hints) for one runtime flow; node ids stay strings."""
    entrypoints = dict(flow.entrypoints)
    start = flow.start_node
    if start is not None:
        entrypoints.setdefault("default", start)
    extra: dict[str, Any] = dict(flow.parameters)
    if SLOT_SCHEMA_KEY in flow.metadata:
        extra[SLOT_SCHEMA_KEY] = flow.metadata[SLOT_SCHEMA_KEY]
    compiled = {
        "schema_version": "flow-v1",
        "id": flow.id,
        "kind": flow_kind(flow.flow_type),
        "entrypoints": entrypoints,
        "nodes": [_node_to_compiled(flow, node) for node in flow.nodes.values()],
        "metadata": {
            "title": flow.title,
            "description": flow.description,
            "tags": list(flow.tags),
            "extra": extra or None,
        },
    }
    hints: dict[str, Any] = {"schema_version": flow.schema_version, "start": flow.start}
    if flow.flow_type != _TYPE_BY_KIND[flow_kind(flow.flow_type)]:
        hints["type"] = flow.flow_type
    other_metadata = {k: v for k, v in flow.metadata.items() if k != SLOT_SCHEMA_KEY}
    if other_metadata:
        hints["metadata"] = other_metadata
    node_hints = {node.id: h for node in flow.nodes.values() if (h := _node_hints(node))}
    if node_hints:
        hints["nodes"] = node_hints
    return compiled, hints


def _node_to_compiled(flow: Flow, node: Node) -> dict[str, Any]:
    telemetry = node.extra.get("telemetry")
    telemetry = telemetry if isinstance(telemetry, dict) else {}
    return {
        "id": node.id,
        "component": {"id": node.component, "pack_alias": None, "operation": node.operation},
        "input": {"mapping": node.mapping},
        "output": {"mapping": {} if node.out_map is None else node.out_map},
        "err_map": None if node.err_map is None else {"mapping": node.err_map},
        "routing": routing_to_compiled(flow, node.id, node.routing),
        "telemetry": {
            "span_name": telemetry.get("span_name"),
            "attributes": dict(telemetry.get("attributes") or {}),
            "sampling": telemetry.get("sampling"),
        },
    }


def _node_hints(node: Node) -> dict[str, Any]:
    hints: dict[str, Any] = {}
    if node.component_ref is not None:
        hints["component_ref"] = node.component_ref
    if node.source_ref is not None:
        hints["source_ref"] = node.source_ref
    if node.extra:
        hints["extra"] = node.extra
    if node.out_map == {}:
        hints["empty_out_map"] = True
    return hints


def routing_to_compiled(flow: Flow, node_id: str, routing: Routing) -> Any:
    """The capitalised serde form, node ids as strings."""
    if isinstance(routing, End):
        return "End"
    if isinstance(routing, Reply):
        return "Reply"
    if isinstance(routing, Next):
        return {"Next": {"node_id": routing.node_id}}
    if isinstance(routing, Branch):
        return {"Branch": {"on_status": dict(routing.on_status), "default": routing.default}}
    if isinstance(routing, Custom):
        return {"Custom": [_route_to_raw(route) for route in routing.routes]}
    raise PackError(f"flow {flow.id} node {node_id} has unsupported routing {routing!r}")


def _route_to_raw(route: Route) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    if route.to is not None:
        raw["to"] = route.to
    if route.out:
        raw["out"] = True
    if route.reply:
        raw["reply"] = True
    if route.status is not None:
        raw["status"] = route.status
    if route.condition is not None:
        raw["condition"] = route.condition
    return raw


# --------------------------------------------------------------------------- decode


def compiled_to_flow(
    doc: Any, where: str, hints: Any = None, *, entry_tags: tuple[str, ...] = ()
) -> Flow:
    """Build a runtime Flow from a logical compiled flow; PackError names ``where``."""
    doc = expect_map(doc, where)
    hints = hints if isinstance(hints, dict) else {}
    flow_id = expect_str(doc.get("id"), f"{where} id")
    where = f"{where} (flow {flow_id})"
    kind_type = flow_type_for_kind(doc.get("kind"), where)
    flow_type = hints.get("type") if isinstance(hints.get("type"), str) else kind_type
    metadata = expect_map(doc.get("metadata") or {}, f"{where} metadata")
    extra = metadata.get("extra")
    extra = dict(extra) if isinstance(extra, dict) else {}
    flow_metadata: dict[str, Any] = {}
    if SLOT_SCHEMA_KEY in extra:
        flow_metadata[SLOT_SCHEMA_KEY] = extra.pop(SLOT_SCHEMA_KEY)
    if isinstance(hints.get("metadata"), dict):
        flow_metadata.update(hints["metadata"])
    raw_nodes = doc.get("nodes") or []
    if isinstance(raw_nodes, dict):  # JSON-schema form: ordered map id -> node
        raw_nodes = [{"id": key, **expect_map(value, where)} for key, value in raw_nodes.items()]
    if not isinstance(raw_nodes, list):
        raise PackError(f"{where} nodes must be a list")
    node_hints = hints.get("nodes") if isinstance(hints.get("nodes"), dict) else {}
    known = frozenset(
        item["id"]
        for item in raw_nodes
        if isinstance(item, dict) and isinstance(item.get("id"), str)
    )
    nodes: dict[str, Node] = {}
    for raw in raw_nodes:
        node = _compiled_to_node(raw, where, node_hints, known)
        if node.id in nodes:
            raise PackError(f"{where} has a duplicate node {node.id}")
        nodes[node.id] = node
    entrypoints = expect_map(doc.get("entrypoints") or {}, f"{where} entrypoints")
    default = entrypoints.get("default")
    start = hints.get("start") if "start" in hints else default
    tags = [
        expect_str(tag, f"{where} tag") for tag in expect_list(metadata.get("tags") or [], where)
    ]
    tags += [tag for tag in entry_tags if tag not in tags]
    flow = Flow(
        id=flow_id,
        flow_type=flow_type,
        nodes=nodes,
        start=start if isinstance(start, str) else None,
        schema_version=_int(hints.get("schema_version"), 2),
        title=_opt_str(metadata.get("title"), f"{where} title"),
        description=_opt_str(metadata.get("description"), f"{where} description"),
        tags=tuple(tags),
        parameters=extra,
        entrypoints=dict(entrypoints),
        metadata=flow_metadata,
    )
    check_targets(flow, where)
    return flow


def _compiled_to_node(
    raw: Any, where: str, node_hints: dict[str, Any], known: frozenset[str]
) -> Node:
    raw = expect_map(raw, f"{where} node")
    node_id = expect_str(raw.get("id"), f"{where} node id")
    at = f"{where} node {node_id}"
    component = expect_map(raw.get("component"), f"{at} component")
    hints = node_hints.get(node_id)
    hints = hints if isinstance(hints, dict) else {}
    extra = dict(hints["extra"]) if isinstance(hints.get("extra"), dict) else {}
    telemetry = raw.get("telemetry")
    if isinstance(telemetry, dict) and "telemetry" not in extra and _has_telemetry(telemetry):
        extra["telemetry"] = {k: v for k, v in telemetry.items() if v not in (None, {})}
    out_map = _mapping(raw.get("output"), f"{at} output")
    if out_map == {} and not hints.get("empty_out_map"):
        out_map = None
    return Node(
        id=node_id,
        component=expect_str(component.get("id"), f"{at} component id"),
        operation=_opt_str(component.get("operation"), f"{at} operation"),
        mapping=_mapping(raw.get("input"), f"{at} input"),
        routing=routing_from_compiled(raw.get("routing"), at, known),
        out_map=out_map,
        err_map=_mapping(raw.get("err_map"), f"{at} err_map"),
        component_ref=_opt_str(hints.get("component_ref"), f"{at} component_ref"),
        source_ref=_opt_str(hints.get("source_ref"), f"{at} source_ref"),
        extra=extra,
    )


def _has_telemetry(telemetry: dict[str, Any]) -> bool:
    return bool(
        telemetry.get("span_name") or telemetry.get("attributes") or telemetry.get("sampling")
    )


def routing_from_compiled(raw: Any, at: str, known: frozenset[str]) -> Routing:
    """Decode either routing spelling (capitalised CBOR or lowercase JSON schema)."""
    if raw is None:
        return END
    if isinstance(raw, str):
        if raw.lower() == "end":
            return END
        if raw.lower() == "reply":
            return REPLY
        raise PackError(f"{at} has unknown routing {raw!r}")
    if not isinstance(raw, dict) or len(raw) != 1:
        raise PackError(f"{at} has malformed routing")
    ((variant, body),) = raw.items()
    variant = variant.lower() if isinstance(variant, str) else variant
    if variant == "next":
        return Next(
            expect_str(expect_map(body, f"{at} routing").get("node_id"), f"{at} routing target")
        )
    if variant == "branch":
        body = expect_map(body, f"{at} routing")
        on_status = expect_map(body.get("on_status") or {}, f"{at} routing")
        return Branch(
            on_status={str(k): expect_str(v, f"{at} branch target") for k, v in on_status.items()},
            default=_opt_str(body.get("default"), f"{at} branch default"),
        )
    if variant == "custom":
        return _custom(body, at, known)
    if variant in ("end", "reply"):
        return END if variant == "end" else REPLY
    raise PackError(f"{at} has unknown routing variant {variant!r}")


def _custom(body: Any, at: str, known: frozenset[str]) -> Routing:
    """Custom routing holds the authored YGTC route list; read it with the YGTC grammar
    (so ``[{next: X}]`` becomes Next X and conditional lists stay Custom)."""
    routes = [body] if isinstance(body, dict) else body
    if not isinstance(routes, list):
        raise PackError(f"{at} has custom routing that is not a list of routes")
    return compile_routing(routes, known, lambda message: FlowError(f"{at}: {message}"))


def check_targets(flow: Flow, where: str) -> None:
    """Every routing target must name a node of the flow."""
    for node in flow.nodes.values():
        routing = node.routing
        targets: list[str | None] = []
        if isinstance(routing, Next):
            targets = [routing.node_id]
        elif isinstance(routing, Branch):
            targets = [*routing.on_status.values(), routing.default]
        elif isinstance(routing, Custom):
            targets = [route.to for route in routing.routes]
        for target in targets:
            if target is not None and target not in flow.nodes:
                raise PackError(f"{where} node {node.id} routes to missing node {target}")


# --------------------------------------------------------------------------- helpers


def _opt_str(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise PackError(f"{where} must be a string")
    return value


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _mapping(value: Any, where: str) -> Any:
    """``{mapping: X}`` -> X (None when absent)."""
    if value is None:
        return None
    return expect_map(value, where).get("mapping")
