"""The YGTC compiler: ``.ygtc`` YAML flows into the runtime model (pack-formats §2).

Decisions where the reference leaves room (documented in docs/flows.md):

* Flow types: ``messaging``, ``event`` (``events`` is read as ``event``), ``component-config``,
  ``job``, ``http`` (what the reference compiler accepts) plus ``webhook``, ``timer``,
  ``websocket`` and ``pubsub`` (the values the YGTC JSON schema lists; the old runner binds
  ``webhook`` flows and runs ``timer`` flows). Anything else is rejected.
* Operation keys under ``schema_version: 2`` (the default): ``mcp``, ``questions``,
  ``template``, ``dw.*`` and the runtime-native ``*.call`` kinds keep their key as component id
  (as upstream); so do the runner's own built-ins (``templating.handlebars``, ``qa.process``,
  ``mcp.exec``, ``messaging.emit``, ``component.exec``, ``emit.*``, ``state.*``, ``flow.*``,
  ``session.*``, ``provider.*``), because real v2 flows use them and the engine dispatches on
  them. Every other key becomes component ``component.exec`` with operation = the key (or the
  sibling ``operation:``). Under ``schema_version: 1`` every key is the component id.
* ``component.exec`` beside one other op key: the other key is the operation and its payload
  the component's ``input``; ``component.exec``'s payload (a component id string or a mapping
  with ``component``/``config``) completes the mapping.
* Schema v1 nodes with several op keys use the first one (a warning names the others).
* Routing: several unconditional ``to`` routes compile to Custom (the first wins); a
  ``start`` that names no node is an error rather than a silent fallback.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._yaml import YamlDocument, YamlProblem, load_yaml
from ..errors import FlowError
from ..ids import is_valid_id
from .model import Flow, Node
from .ygtc_routing import compile_routing

logger = logging.getLogger(__name__)

FLOW_TYPES = frozenset(
    {"messaging", "event", "component-config", "job", "http"}
    | {"webhook", "timer", "websocket", "pubsub"}
)
_FLOW_TYPE_ALIASES = {"events": "event"}

#: Node keys that are not operations (the ``conversational`` flag comes from newer upstream).
RESERVED_NODE_KEYS = frozenset(
    {"routing", "telemetry", "output", "in_map", "out_map", "err_map", "retry", "timeout"}
    | {"when", "annotations", "meta", "operation", "conversational"}
)
_EXTRA_KEYS = ("telemetry", "retry", "timeout", "when", "annotations", "meta", "conversational")
_TOP_LEVEL_KEYS = frozenset(
    {"id", "type", "schema_version", "start", "title", "description", "tags", "parameters"}
    | {"entrypoints", "meta", "slot_schema", "nodes"}
)
_SLOT_TYPES = frozenset({"string", "enum", "number", "date", "boolean"})
SLOT_SCHEMA_KEY = "greentic.slot_schema"

_NODE_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
_OP_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")

_KEY_IS_COMPONENT = frozenset(
    {"mcp", "questions", "template"}
    | {"operala.call", "sorla.call", "agentic.call", "approval.call", "telco-x.call"}
)
_BUILTIN_IDS = frozenset(
    {"templating.handlebars", "qa.process", "mcp.exec", "messaging.emit", "component.exec"}
)
_BUILTIN_PREFIXES = ("dw.", "emit.", "state.", "flow.", "session.", "provider.")


def component_for_op_key(
    key: str, sibling_op: str | None, schema_version: int
) -> tuple[str, str | None]:
    """``(component id, operation)`` for an op key (module docstring has the rules)."""
    if key in _KEY_IS_COMPONENT or schema_version < 2:
        return key, sibling_op
    if key in _BUILTIN_IDS or key.startswith(_BUILTIN_PREFIXES):
        return key, sibling_op
    return "component.exec", sibling_op or key


@dataclass(slots=True)
class _Where:
    """Where we are, so every error names the file, line, flow and node."""

    source: str | None
    doc: YamlDocument | None = None
    flow_id: str | None = None

    def error(
        self, message: str, *path: str | int, node: str | None = None, line: int | None = None
    ) -> FlowError:
        if node is not None and not path:
            path = ("nodes", node)
        if line is None and self.doc is not None and path:
            line = self.doc.line(*path)
        prefix = self.source or "<inline flow>"
        if line is not None:
            prefix += f":{line}"
        if self.flow_id is not None:
            prefix += f": flow '{self.flow_id}'"
        if node is not None:
            prefix += f", node '{node}'"
        return FlowError(f"{prefix}: {message}")


def load_ygtc(path: Path) -> Flow:
    """Read and compile a ``.ygtc`` file. Raises FlowError naming the file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FlowError(f"failed to read flow file {path}: {exc.strerror or exc}") from exc
    return compile_ygtc(data, source=str(path))


def compile_ygtc(text: str | bytes, *, source: str | None = None) -> Flow:
    """Parse and compile YGTC text. ``source`` (a file name) prefixes every error.

    Raises FlowError for YAML errors (with the line), schema violations, two operations in
    one node, routes to missing nodes and unknown flow types.
    """
    where = _Where(source)
    try:
        doc = load_yaml(text)
    except YamlProblem as exc:
        raise where.error(f"invalid YAML: {exc}", line=exc.line) from exc
    where.doc = doc
    return _compile(doc.data, where)


def compile_document(data: Any, *, source: str | None = None) -> Flow:
    """Compile an already parsed YGTC document (a mapping of plain JSON-like values)."""
    return _compile(data, _Where(source))


def _compile(data: Any, where: _Where) -> Flow:
    if not isinstance(data, dict):
        raise where.error("a flow must be a YAML mapping with `id`, `type` and `nodes`")
    flow_id = data.get("id")
    if not isinstance(flow_id, str) or not flow_id.strip():
        raise where.error("missing required `id` (a non-empty string)", "id")
    if not is_valid_id(flow_id):
        raise where.error(f"invalid flow id {flow_id!r}: use letters, digits, '.', '_', '-'", "id")
    where.flow_id = flow_id
    flow_type = _flow_type(data, where)
    schema_version = data.get("schema_version", 2)
    if (
        isinstance(schema_version, bool)
        or not isinstance(schema_version, int)
        or schema_version < 1
    ):
        raise where.error("`schema_version` must be an integer >= 1", "schema_version")
    for key in sorted(set(data) - _TOP_LEVEL_KEYS):
        logger.warning(
            "%s: flow '%s': unknown top-level key `%s` ignored", where.source, flow_id, key
        )

    raw_nodes = data.get("nodes", ...)
    if raw_nodes is ...:
        raise where.error("missing required `nodes` mapping")
    raw_nodes = {} if raw_nodes is None else raw_nodes
    if not isinstance(raw_nodes, dict):
        raise where.error("`nodes` must be a mapping of node id to node", "nodes")
    for node_id in raw_nodes:
        if not isinstance(node_id, str) or not _NODE_ID.match(node_id):
            raise where.error(
                f"invalid node id {node_id!r}: it must match ^[a-zA-Z_][\\w-]*$", "nodes", node_id
            )
    start = _start_node(data.get("start"), raw_nodes, where)
    entrypoints = dict(_optional(data, "entrypoints", dict, where) or {})
    if start is not None:
        entrypoints.setdefault("default", start)
    known = frozenset(raw_nodes)
    nodes = {
        node_id: _compile_node(node_id, raw, known, schema_version, where)
        for node_id, raw in raw_nodes.items()
    }
    metadata: dict[str, Any] = {}
    meta = _optional(data, "meta", dict, where)
    if meta is not None:
        metadata["meta"] = meta
    slots = _slot_schema(data.get("slot_schema"), where)
    if slots is not None:
        metadata[SLOT_SCHEMA_KEY] = slots
    tags = _optional(data, "tags", list, where) or []
    if not all(isinstance(tag, str) for tag in tags):
        raise where.error("`tags` must be a list of strings", "tags")
    return Flow(
        id=flow_id,
        flow_type=flow_type,
        nodes=nodes,
        start=start,
        schema_version=schema_version,
        title=_optional(data, "title", str, where),
        description=_optional(data, "description", str, where),
        tags=tuple(tags),
        parameters=dict(_optional(data, "parameters", dict, where) or {}),
        source=where.source,
        entrypoints=entrypoints,
        metadata=metadata,
    )


def _optional(data: Mapping[str, Any], key: str, kind: type, where: _Where) -> Any:
    value = data.get(key)
    if value is not None and not isinstance(value, kind):
        names: dict[type, str] = {dict: "a mapping", list: "a list", str: "a string"}
        raise where.error(f"`{key}` must be {names.get(kind, kind.__name__)}", key)
    return value


def _flow_type(data: Mapping[str, Any], where: _Where) -> str:
    expected = ", ".join(sorted(FLOW_TYPES | set(_FLOW_TYPE_ALIASES)))
    if "type" not in data:
        raise where.error(f"missing required `type` (one of {expected})")
    value = data["type"]
    if not isinstance(value, str):
        raise where.error(f"`type` must be a string (one of {expected})", "type")
    value = _FLOW_TYPE_ALIASES.get(value, value)
    if value not in FLOW_TYPES:
        raise where.error(f"unknown flow type {data['type']!r}; expected one of {expected}", "type")
    return value


def _start_node(start: Any, nodes: Mapping[str, Any], where: _Where) -> str | None:
    """``start`` if given (it must name a node), else a node named ``in``, else the first."""
    if start is not None:
        if not isinstance(start, str) or start not in nodes:
            raise where.error(f"`start` {start!r} does not name a node of this flow", "start")
        return start
    if "in" in nodes:
        return "in"
    return next(iter(nodes), None)


def _slot_schema(value: Any, where: _Where) -> list[Any] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise where.error("`slot_schema` must be a list of slot definitions", "slot_schema")
    seen: set[str] = set()
    for index, slot in enumerate(value):
        name = slot.get("name") if isinstance(slot, dict) else None
        if not isinstance(name, str) or not name:
            raise where.error(
                f"slot_schema[{index}] needs a non-empty `name`", "slot_schema", index
            )
        if slot.get("slot_type") not in _SLOT_TYPES:
            raise where.error(
                f"slot_schema[{index}] (`{name}`): `slot_type` must be one of "
                f"{', '.join(sorted(_SLOT_TYPES))}",
                "slot_schema",
                index,
            )
        if name in seen:
            raise where.error(
                f"slot_schema[{index}]: duplicate slot name '{name}'", "slot_schema", index
            )
        seen.add(name)
    return value


def _compile_node(
    node_id: str, raw: Any, known: frozenset[str], schema_version: int, where: _Where
) -> Node:
    if not isinstance(raw, dict) or not raw:
        raise where.error("a node must be a mapping with one operation key", node=node_id)
    op_keys = [key for key in raw if key not in RESERVED_NODE_KEYS]
    for key in op_keys:
        if not _OP_KEY.match(key):
            raise where.error(f"invalid operation key {key!r}", "nodes", node_id, key, node=node_id)
    if not op_keys:
        raise where.error(
            "no operation key: a node needs one operation (e.g. `templating.handlebars:`) "
            "besides " + ", ".join(sorted(RESERVED_NODE_KEYS)),
            node=node_id,
        )
    exec_combo = len(op_keys) == 2 and "component.exec" in op_keys
    if len(op_keys) > 1 and not exec_combo:
        if schema_version >= 2:
            raise where.error(
                f"node has {len(op_keys)} operation keys ({', '.join(op_keys)}) but needs "
                "exactly one (NodeComponentShape); only `component.exec` may sit beside one "
                "other operation, and `schema_version: 1` relaxes the rule",
                node=node_id,
            )
        logger.warning(
            "%s: flow '%s', node '%s': several operation keys, using `%s` and ignoring %s",
            where.source,
            where.flow_id,
            node_id,
            op_keys[0],
            ", ".join(op_keys[1:]),
        )
    sibling = raw.get("operation")
    if sibling is not None and (not isinstance(sibling, str) or not sibling.strip()):
        raise where.error(
            "`operation` must be a non-empty string", "nodes", node_id, "operation", node=node_id
        )

    operation: str | None
    if exec_combo:
        component, operation, payload = _exec_combo(node_id, raw, op_keys, sibling, where)
    else:
        key = op_keys[0]
        payload = raw[key]
        component, operation = component_for_op_key(key, sibling, schema_version)
        if key == "mcp":
            _check_mcp(node_id, payload, where)
    if "out_map" in raw and "output" in raw:
        raise where.error("use either `out_map` or its alias `output`, not both", node=node_id)
    extra: dict[str, Any] = {}
    for key in _EXTRA_KEYS:
        if key in raw:
            expected: type = bool if key == "conversational" else dict
            if not isinstance(raw[key], expected):
                kind = "true or false" if expected is bool else "a mapping"
                raise where.error(f"`{key}` must be {kind}", "nodes", node_id, key, node=node_id)
            extra[key] = raw[key]
    return Node(
        id=node_id,
        component=component,
        operation=operation,
        mapping=raw.get("in_map", payload),
        routing=compile_routing(
            raw.get("routing"),
            known,
            lambda message: where.error(message, "nodes", node_id, "routing", node=node_id),
        ),
        out_map=raw["out_map"] if "out_map" in raw else raw.get("output"),
        err_map=raw.get("err_map"),
        component_ref=_literal_component(component, payload),
        extra=extra,
    )


def _exec_combo(
    node_id: str, raw: Mapping[str, Any], op_keys: list[str], sibling: str | None, where: _Where
) -> tuple[str, str, Any]:
    other = next(key for key in op_keys if key != "component.exec")
    base = raw["component.exec"]
    if isinstance(base, str):
        mapping: dict[str, Any] = {"component": base}
    elif isinstance(base, dict):
        mapping = dict(base)
    elif base is None:
        mapping = {}
    else:
        raise where.error(
            "`component.exec` beside an operation must be a component id or a mapping",
            node=node_id,
        )
    if "input" in mapping:
        raise where.error(
            f"`component.exec` sets `input` and operation `{other}` supplies it too", node=node_id
        )
    mapping["input"] = raw[other]
    return "component.exec", sibling or other, mapping


def _literal_component(component: str, payload: Any) -> str | None:
    """A ``component.exec`` target written literally in the payload (not a template)."""
    if component != "component.exec" or not isinstance(payload, dict):
        return None
    for key in ("component", "component_ref"):
        value = payload.get(key)
        if isinstance(value, str) and value.strip() and "{{" not in value:
            return value
    return None


def _check_mcp(node_id: str, payload: Any, where: _Where) -> None:
    if not isinstance(payload, dict):
        raise where.error("`mcp` needs a mapping with `server` and `tool`", node=node_id)
    for key in ("server", "tool"):
        value = payload.get(key)
        if not isinstance(value, str) or not value.strip():
            raise where.error(f"`mcp` needs a non-empty string `{key}`", node=node_id)
    if payload.get("arguments") is not None and not isinstance(payload["arguments"], dict):
        raise where.error("`mcp.arguments` must be a mapping", node=node_id)
    if payload.get("output") is not None and not isinstance(payload["output"], str):
        raise where.error(
            "`mcp.output` must be a string (the state key of the result)", node=node_id
        )


def check_adapters(flow: Flow, registry: Mapping[str, Any]) -> None:
    """Check adapter-style operations (``<namespace>.<adapter>.<op>``) against a registry.

    ``registry`` is ``{"adapters": {"messaging.telegram": ["sendMessage", …]}}`` (or the inner
    mapping). Raises FlowError listing every node whose adapter or operation is unknown.
    """
    adapters = registry.get("adapters", registry)
    problems: list[str] = []
    for node in flow.nodes.values():
        if node.component == "component.exec":
            name = node.operation or ""
        else:
            name = f"{node.component}.{node.operation}" if node.operation else node.component
        parts = name.split(".")
        if len(parts) < 3:
            continue
        adapter, operation = ".".join(parts[:2]), ".".join(parts[2:])
        allowed = adapters.get(adapter) if isinstance(adapters, Mapping) else None
        if not isinstance(allowed, list) or operation not in allowed:
            problems.append(
                f"node '{node.id}' uses `{name}`: "
                f"adapter `{adapter}` has no operation `{operation}`"
            )
    if problems:
        where = flow.source or "<inline flow>"
        raise FlowError(f"{where}: flow '{flow.id}': " + "; ".join(problems))
