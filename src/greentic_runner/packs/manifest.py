"""``manifest.cbor`` of both archive generations (pack-formats §1.3, §1.4).

:func:`decode_manifest` detects the generation the way the reference reader does — it tries
the legacy PackBuilder shape first (a map with ``meta``/``flows``/``components``), then the
pack-v1 symbol-table form — and returns a :class:`LegacyManifest` or a
:class:`PackV1Manifest`. The pack-v1 result is *logical*: symbol-table indexes are resolved
to strings. :func:`encode_pack_v1` is the inverse and writes the wire form exactly as
``greentic-types`` does (sorted, de-duplicated symbol tables; fields in struct order).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import PackError
from . import cbor
from .shapes import expect_list, expect_map, expect_str

SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)
PACK_KINDS = ("application", "provider", "infrastructure", "library")
_SYMBOL_TABLES = ("component_ids", "node_ids", "capability_names", "pack_ids")


@dataclass(frozen=True, slots=True)
class LegacyFlowRef:
    """One ``flows[]`` entry of a legacy manifest: the flow lives in separate files."""

    id: str
    kind: str
    entry: str
    file_yaml: str
    file_json: str
    hash_blake3: str


@dataclass(frozen=True, slots=True)
class LegacyComponentRef:
    """One ``components[]`` entry of a legacy manifest."""

    name: str
    version: str
    file_wasm: str
    hash_blake3: str
    world: str | None = None
    schema_file: str | None = None
    manifest_file: str | None = None
    capabilities: Any = None


@dataclass(frozen=True, slots=True)
class LegacyManifest:
    """The PackBuilder manifest: ``{meta, flows, components}``."""

    raw: dict[str, Any]
    pack_id: str
    version: str
    name: str
    entry_flows: tuple[str, ...]
    flows: tuple[LegacyFlowRef, ...]
    components: tuple[LegacyComponentRef, ...]
    kind: str | None = None
    description: str | None = None
    generation: str = "legacy"


@dataclass(frozen=True, slots=True)
class PackV1Manifest:
    """A greentic-types PackManifest in logical form (ids as strings)."""

    logical: dict[str, Any]
    generation: str = "pack-v1"
    extensions: dict[str, Any] = field(default_factory=dict)

    @property
    def pack_id(self) -> str:
        return str(self.logical["pack_id"])

    @property
    def version(self) -> str:
        return str(self.logical["version"])

    @property
    def flows(self) -> list[dict[str, Any]]:
        return list(self.logical["flows"])

    @property
    def components(self) -> list[dict[str, Any]]:
        return list(self.logical["components"])


Manifest = LegacyManifest | PackV1Manifest


def decode_manifest(data: bytes, what: str) -> Manifest:
    """Detect and decode; PackError ``{what} is invalid: …`` when neither shape fits."""
    value = cbor.decode(data, what)
    try:
        return decode_legacy(value, what)
    except PackError as legacy_error:
        try:
            return decode_pack_v1(value, what)
        except PackError as v1_error:
            if isinstance(value, dict) and "meta" in value:
                raise legacy_error from None
            raise v1_error from None


# --------------------------------------------------------------------------- legacy


def decode_legacy(value: Any, what: str) -> LegacyManifest:
    """The serde shape of the PackBuilder manifest (required fields enforced)."""
    top = expect_map(value, what)
    meta = expect_map(top.get("meta"), f"{what} meta")
    flows = [
        _legacy_flow(item, f"{what} flows[{i}]")
        for i, item in enumerate(expect_list(top.get("flows"), f"{what} flows"))
    ]
    components = [
        _legacy_component(item, f"{what} components[{i}]")
        for i, item in enumerate(expect_list(top.get("components"), f"{what} components"))
    ]
    entry_flows = tuple(
        expect_str(e, f"{what} meta.entry_flows")
        for e in expect_list(meta.get("entry_flows"), f"{what} meta.entry_flows")
    )
    expect_str(meta.get("created_at_utc"), f"{what} meta.created_at_utc")
    return LegacyManifest(
        raw=top,
        pack_id=expect_str(meta.get("pack_id"), f"{what} meta.pack_id"),
        version=_semver(meta.get("version"), f"{what} meta.version"),
        name=expect_str(meta.get("name"), f"{what} meta.name"),
        entry_flows=entry_flows,
        flows=tuple(flows),
        components=tuple(components),
        kind=_opt_str(meta.get("kind"), f"{what} meta.kind"),
        description=_opt_str(meta.get("description"), f"{what} meta.description"),
    )


def _legacy_flow(value: Any, where: str) -> LegacyFlowRef:
    item = expect_map(value, where)
    fields = ("id", "kind", "entry", "file_yaml", "file_json", "hash_blake3")
    return LegacyFlowRef(**{name: expect_str(item.get(name), f"{where}.{name}") for name in fields})


def _legacy_component(value: Any, where: str) -> LegacyComponentRef:
    item = expect_map(value, where)
    return LegacyComponentRef(
        name=expect_str(item.get("name"), f"{where}.name"),
        version=_semver(item.get("version"), f"{where}.version"),
        file_wasm=expect_str(item.get("file_wasm"), f"{where}.file_wasm"),
        hash_blake3=expect_str(item.get("hash_blake3"), f"{where}.hash_blake3"),
        world=_opt_str(item.get("world"), f"{where}.world"),
        schema_file=_opt_str(item.get("schema_file"), f"{where}.schema_file"),
        manifest_file=_opt_str(item.get("manifest_file"), f"{where}.manifest_file"),
        capabilities=item.get("capabilities"),
    )


# --------------------------------------------------------------------------- pack-v1 decode


def decode_pack_v1(value: Any, what: str) -> PackV1Manifest:
    """Resolve the symbol tables of an encoded pack-v1 manifest."""
    top = expect_map(value, what)
    symbols = expect_map(top.get("symbols"), f"{what} symbols")
    tables = {
        name: [
            expect_str(s, f"{what} symbols.{name}")
            for s in expect_list(symbols.get(name, []), f"{what} symbols.{name}")
        ]
        for name in _SYMBOL_TABLES
    }
    raw_pack_id = top.get("pack_id")
    pack_id = (
        raw_pack_id
        if isinstance(raw_pack_id, str)
        else _symbol(tables, "pack_ids", raw_pack_id, what)
    )
    kind = top.get("kind")
    if kind not in PACK_KINDS:
        raise PackError(f"{what} has unknown pack kind {kind!r}")
    logical: dict[str, Any] = {
        "schema_version": expect_str(top.get("schema_version"), f"{what} schema_version"),
        "pack_id": expect_str(pack_id, f"{what} pack_id"),
        "name": _opt_str(top.get("name"), f"{what} name"),
        "version": _semver(top.get("version"), f"{what} version"),
        "kind": kind,
        "publisher": _opt_str(top.get("publisher"), f"{what} publisher") or "",
        "components": [
            _decode_component(c, tables, f"{what} components[{i}]")
            for i, c in enumerate(expect_list(top.get("components"), f"{what} components"))
        ],
        "flows": [
            _decode_flow_entry(f, tables, f"{what} flows[{i}]")
            for i, f in enumerate(expect_list(top.get("flows"), f"{what} flows"))
        ],
        "dependencies": [
            _decode_dependency(d, tables, f"{what} dependencies[{i}]")
            for i, d in enumerate(
                expect_list(top.get("dependencies") or [], f"{what} dependencies")
            )
        ],
        "capabilities": [
            {
                **expect_map(c, f"{what} capabilities[{i}]"),
                "name": _symbol(tables, "capability_names", expect_map(c, what).get("name"), what),
            }
            for i, c in enumerate(
                expect_list(top.get("capabilities") or [], f"{what} capabilities")
            )
        ],
        "secret_requirements": expect_list(
            top.get("secret_requirements") or [], f"{what} secret_requirements"
        ),
        "signatures": top.get("signatures") or {"signatures": []},
        "bootstrap": top.get("bootstrap"),
        "extensions": expect_map(top.get("extensions") or {}, f"{what} extensions"),
        "agents": expect_map(top.get("agents") or {}, f"{what} agents"),
    }
    return PackV1Manifest(logical=logical, extensions=dict(logical["extensions"]))


def _symbol(tables: dict[str, list[str]], table: str, index: Any, what: str) -> str:
    values = tables[table]
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(values):
        raise PackError(f"{what}: invalid symbol index {index!r} in {table}")
    return values[index]


def _decode_component(value: Any, tables: dict[str, list[str]], where: str) -> dict[str, Any]:
    item = dict(expect_map(value, where))
    item["id"] = _symbol(tables, "component_ids", item.get("id"), where)
    item["version"] = _semver(item.get("version"), f"{where}.version")
    if not isinstance(item.get("world"), str):
        raise PackError(f"{where}.world must be a string")
    return item


def _decode_flow_entry(value: Any, tables: dict[str, list[str]], where: str) -> dict[str, Any]:
    entry = expect_map(value, where)
    flow = dict(expect_map(entry.get("flow"), f"{where}.flow"))
    nodes = []
    for i, raw in enumerate(expect_list(flow.get("nodes") or [], f"{where}.flow.nodes")):
        node = dict(expect_map(raw, f"{where}.flow.nodes[{i}]"))
        at = f"{where}.flow.nodes[{i}]"
        node["id"] = _symbol(tables, "node_ids", node.get("id"), at)
        component = dict(expect_map(node.get("component"), f"{at}.component"))
        component["id"] = _symbol(tables, "component_ids", component.get("id"), at)
        node["component"] = component
        node["routing"] = _resolve_routing(node.get("routing"), tables, at)
        nodes.append(node)
    flow["nodes"] = nodes
    return {
        "id": expect_str(entry.get("id"), f"{where}.id"),
        "kind": entry.get("kind"),
        "flow": flow,
        "tags": [
            expect_str(t, f"{where}.tags")
            for t in expect_list(entry.get("tags") or [], f"{where}.tags")
        ],
        "entrypoints": [
            expect_str(e, f"{where}.entrypoints")
            for e in expect_list(entry.get("entrypoints") or [], f"{where}.entrypoints")
        ],
    }


def _resolve_routing(raw: Any, tables: dict[str, list[str]], at: str) -> Any:
    if not isinstance(raw, dict) or len(raw) != 1:
        return raw
    ((variant, body),) = raw.items()
    if variant == "Next":
        body = expect_map(body, f"{at}.routing")
        return {"Next": {"node_id": _symbol(tables, "node_ids", body.get("node_id"), at)}}
    if variant == "Branch":
        body = expect_map(body, f"{at}.routing")
        on_status = expect_map(body.get("on_status") or {}, f"{at}.routing")
        default = body.get("default")
        return {
            "Branch": {
                "on_status": {k: _symbol(tables, "node_ids", v, at) for k, v in on_status.items()},
                "default": None if default is None else _symbol(tables, "node_ids", default, at),
            }
        }
    return raw


def _decode_dependency(value: Any, tables: dict[str, list[str]], where: str) -> dict[str, Any]:
    item = dict(expect_map(value, where))
    item["pack_id"] = _symbol(tables, "pack_ids", item.get("pack_id"), where)
    item["required_capabilities"] = [
        _symbol(tables, "capability_names", c, where)
        for c in expect_list(item.get("required_capabilities") or [], where)
    ]
    return item


def derive_entry_flows(manifest: PackV1Manifest) -> list[str]:
    """The greentic-pack compatibility reader's entry list (pack-formats §1.3).

    For each flow: its ``entrypoints[]`` plus the keys of ``flow.entrypoints``; a flow with
    neither counts under its own id; the pack id when nothing is found; sorted, unique.
    """
    entries: list[str] = []
    for flow in manifest.flows:
        declared = list(flow.get("entrypoints") or [])
        named = list((flow.get("flow") or {}).get("entrypoints") or {})
        entries.extend(declared + named if declared or named else [flow["id"]])
    return sorted(set(entries or [manifest.pack_id]))


# --------------------------------------------------------------------------- pack-v1 encode


def encode_pack_v1(logical: dict[str, Any]) -> bytes:
    """The symbol-table wire form of a logical manifest, fields in struct order."""
    indexes = _symbol_indexes(logical)

    def idx(table: str, value: str) -> int:
        return indexes[table][value]

    encoded: dict[str, Any] = {
        "schema_version": logical.get("schema_version", "pack-v1"),
        "pack_id": idx("pack_ids", logical["pack_id"]),
    }
    if logical.get("name") is not None:
        encoded["name"] = logical["name"]
    encoded.update(
        {
            "version": logical["version"],
            "kind": logical.get("kind", "application"),
            "publisher": logical.get("publisher", ""),
            "symbols": {
                name: sorted(indexes[name], key=indexes[name].__getitem__)
                for name in _SYMBOL_TABLES
            },
            "components": [
                {**c, "id": idx("component_ids", c["id"])} for c in logical.get("components", [])
            ],
            "flows": [_encode_flow_entry(entry, indexes) for entry in logical.get("flows", [])],
            "dependencies": [
                {
                    "alias": d["alias"],
                    "pack_id": idx("pack_ids", d["pack_id"]),
                    "version_req": d["version_req"],
                    "required_capabilities": [
                        idx("capability_names", c) for c in d.get("required_capabilities", [])
                    ],
                }
                for d in logical.get("dependencies", [])
            ],
            "capabilities": [
                {"name": idx("capability_names", c["name"]), "description": c.get("description")}
                for c in logical.get("capabilities", [])
            ],
        }
    )
    if logical.get("secret_requirements"):
        encoded["secret_requirements"] = logical["secret_requirements"]
    encoded["signatures"] = logical.get("signatures") or {"signatures": []}
    for optional in ("bootstrap", "extensions", "agents"):
        if logical.get(optional):
            encoded[optional] = logical[optional]
    return cbor.encode_ordered(encoded)


def _symbol_indexes(logical: dict[str, Any]) -> dict[str, dict[str, int]]:
    sets: dict[str, set[str]] = {name: set() for name in _SYMBOL_TABLES}
    sets["pack_ids"].add(logical["pack_id"])
    sets["component_ids"].update(c["id"] for c in logical.get("components", []))
    for entry in logical.get("flows", []):
        for node in entry["flow"].get("nodes", []):
            sets["node_ids"].add(node["id"])
            sets["component_ids"].add(node["component"]["id"])
    for dep in logical.get("dependencies", []):
        sets["pack_ids"].add(dep["pack_id"])
        sets["capability_names"].update(dep.get("required_capabilities", []))
    sets["capability_names"].update(c["name"] for c in logical.get("capabilities", []))
    # BTreeSet order is byte order of the UTF-8 strings
    return {
        name: {value: i for i, value in enumerate(sorted(values, key=lambda v: v.encode()))}
        for name, values in sets.items()
    }


def _encode_flow_entry(entry: dict[str, Any], indexes: dict[str, dict[str, int]]) -> dict[str, Any]:
    flow = entry["flow"]
    nodes = []
    for node in flow.get("nodes", []):
        component = node["component"]
        nodes.append(
            {
                "id": indexes["node_ids"][node["id"]],
                "component": {
                    "id": indexes["component_ids"][component["id"]],
                    "pack_alias": component.get("pack_alias"),
                    "operation": component.get("operation"),
                },
                "input": node.get("input", {"mapping": None}),
                "output": node.get("output", {"mapping": None}),
                "err_map": node.get("err_map"),
                "routing": _encode_routing(node.get("routing", "End"), indexes["node_ids"]),
                "telemetry": node.get("telemetry", {"attributes": {}}),
            }
        )
    return {
        "id": entry["id"],
        "kind": entry["kind"],
        "flow": {
            "schema_version": flow.get("schema_version", "flow-v1"),
            "id": flow["id"],
            "kind": flow["kind"],
            "entrypoints": flow.get("entrypoints", {}),
            "nodes": nodes,
            "metadata": flow.get("metadata", {"tags": [], "extra": None}),
        },
        "tags": list(entry.get("tags", [])),
        "entrypoints": list(entry.get("entrypoints", [])),
    }


def _encode_routing(routing: Any, node_ids: dict[str, int]) -> Any:
    if isinstance(routing, dict) and "Next" in routing:
        return {"Next": {"node_id": node_ids[routing["Next"]["node_id"]]}}
    if isinstance(routing, dict) and "Branch" in routing:
        body = routing["Branch"]
        default = body.get("default")
        return {
            "Branch": {
                "on_status": {k: node_ids[v] for k, v in sorted(body.get("on_status", {}).items())},
                "default": None if default is None else node_ids[default],
            }
        }
    return routing


# --------------------------------------------------------------------------- helpers


def _opt_str(value: Any, where: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise PackError(f"{where} must be a string")
    return value


def _semver(value: Any, where: str) -> str:
    if not isinstance(value, str) or not SEMVER.match(value):
        raise PackError(f"{where} must be a semantic version, got {value!r}")
    return value
