"""manifest.cbor of both generations (packs/manifest.py) and compiled flows (packs/compiled.py)."""

from __future__ import annotations

import contextlib
import io
import json
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import blake3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.packs.packkit import DECODED, SIGNED, UNSIGNED, UPSTREAM, read_entries

from greentic_runner.errors import PackError, RunnerError
from greentic_runner.flows.model import END, REPLY, Branch, Custom, Flow, Next, Node, Route
from greentic_runner.flows.ygtc import compile_ygtc
from greentic_runner.packs import cbor
from greentic_runner.packs.archive import open_archive
from greentic_runner.packs.build import build_archive, write_zip
from greentic_runner.packs.compiled import compiled_to_flow, flow_to_compiled
from greentic_runner.packs.gtpack import open_gtpack
from greentic_runner.packs.loader import load_pack
from greentic_runner.packs.manifest import (
    LegacyManifest,
    PackV1Manifest,
    decode_manifest,
    decode_pack_v1,
    derive_entry_flows,
    encode_pack_v1,
)
from greentic_runner.packs.verify import VerifyPolicy

NEGATIVE_FLOWS = {"invalid_node_shape.ygtc", "flow_missing_type.ygtc", "flow_fail.ygtc"}
YGTC_FLOWS = sorted(p for p in UPSTREAM.rglob("*.ygtc") if p.name not in NEGATIVE_FLOWS)


def _manifest_bytes(path: Path) -> bytes:
    data = open_archive(path).read("manifest.cbor")
    assert data is not None
    return data


def _node(node_id: str, component: str = "emit.response", **kwargs: Any) -> Node:
    return Node(id=node_id, component=component, mapping={"messages": []}, **kwargs)


def _wire(flow: dict[str, Any], **top: Any) -> dict[str, Any]:
    """A hand-written encoded pack-v1 manifest around one encoded flow."""
    manifest = {
        "schema_version": "pack-v1",
        "pack_id": 0,
        "version": "1.2.3",
        "kind": "application",
        "publisher": "acme",
        "symbols": {
            "component_ids": ["component.exec", "emit.response"],
            "node_ids": ["a", "b", "c"],
            "capability_names": [],
            "pack_ids": ["acme.demo"],
        },
        "components": [],
        "flows": [{"id": "main", "kind": "messaging", "flow": flow, "tags": [], "entrypoints": []}],
        "dependencies": [],
        "capabilities": [],
        "signatures": {"signatures": []},
    }
    manifest.update(top)
    return manifest


def _wire_flow(routings: dict[int, Any]) -> dict[str, Any]:
    return {
        "schema_version": "flow-v1",
        "id": "main",
        "kind": "messaging",
        "entrypoints": {"default": "a"},
        "nodes": [
            {
                "id": index,
                "component": {"id": 1, "pack_alias": None, "operation": None},
                "input": {"mapping": {"messages": [{"type": "text", "text": "hi"}]}},
                "output": {"mapping": {}},
                "err_map": None,
                "routing": routing,
                "telemetry": {"span_name": None, "attributes": {}, "sampling": None},
            }
            for index, routing in routings.items()
        ],
        "metadata": {"title": None, "description": None, "tags": [], "extra": None},
    }


def _pack_v1_flow(raw: dict[str, Any]) -> Flow:
    manifest = decode_pack_v1(raw, "manifest.cbor")
    entry = manifest.flows[0]
    return compiled_to_flow(entry["flow"], "manifest.cbor flows[0]")


# --------------------------------------------------------------------------- legacy


def test_signed_legacy_manifest_matches_the_decoded_dump() -> None:
    manifest = decode_manifest(_manifest_bytes(SIGNED), "manifest.cbor")
    expected = json.loads(DECODED.read_text())["manifest.cbor (decoded)"]
    assert isinstance(manifest, LegacyManifest)
    assert manifest.raw == expected
    assert (manifest.pack_id, manifest.version, manifest.name) == (
        "ai.greentic.runner.example",
        "0.1.0",
        "Runner Example",
    )
    assert manifest.entry_flows == ("qa",)
    [flow] = manifest.flows
    assert (flow.id, flow.entry, flow.file_json) == ("qa", "start", "flows/qa/flow.json")
    [component] = manifest.components
    assert component.file_wasm == "components/demo.component@1.0.0/component.wasm"
    assert component.world is None


def test_unsigned_legacy_manifest_decodes_with_its_world() -> None:
    manifest = decode_manifest(_manifest_bytes(UNSIGNED), "manifest.cbor")
    assert isinstance(manifest, LegacyManifest)
    assert manifest.components[0].world == "component:tool"
    assert manifest.entry_flows == ("demo",)


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda m: m["meta"].pop("entry_flows"), "meta.entry_flows must be a list"),
        (lambda m: m["meta"].update(version="one"), "meta.version must be a semantic version"),
        (lambda m: m["flows"][0].pop("file_json"), "flows[0].file_json"),
        (lambda m: m["components"][0].update(version=1), "components[0].version"),
    ],
    ids=["entry-flows", "version", "flow-file", "component-version"],
)
def test_legacy_manifest_missing_required_fields_is_rejected(mutate: Any, reason: str) -> None:
    raw = cbor.decode(_manifest_bytes(SIGNED), "m")
    mutate(raw)
    with pytest.raises(PackError, match=reason.replace("[", r"\[").replace("]", r"\]")):
        decode_manifest(cbor.encode_ordered(raw), "manifest.cbor in demo.gtpack")


# --------------------------------------------------------------------------- detection


def test_detection_tries_legacy_then_pack_v1() -> None:
    legacy = decode_manifest(_manifest_bytes(SIGNED), "m")
    v1 = decode_manifest(cbor.encode_ordered(_wire(_wire_flow({0: "End"}))), "m")
    assert isinstance(legacy, LegacyManifest) and legacy.generation == "legacy"
    assert isinstance(v1, PackV1Manifest) and v1.generation == "pack-v1"


def test_a_map_that_is_neither_generation_is_rejected_naming_the_document() -> None:
    with pytest.raises(PackError, match=r"manifest.cbor in x.gtpack symbols must be a map"):
        decode_manifest(cbor.encode_ordered({"hello": "world"}), "manifest.cbor in x.gtpack")
    with pytest.raises(PackError, match="manifest.cbor in x.gtpack meta must be a map"):
        decode_manifest(cbor.encode_ordered({"meta": 1}), "manifest.cbor in x.gtpack")


# --------------------------------------------------------------------------- pack-v1 wire form


def test_capitalised_routing_variants_and_symbol_indexes() -> None:
    flow = _pack_v1_flow(
        _wire(
            _wire_flow(
                {
                    0: {"Branch": {"on_status": {"ok": 1}, "default": 2}},
                    1: {"Next": {"node_id": 2}},
                    2: "Reply",
                }
            )
        )
    )
    assert list(flow.nodes) == ["a", "b", "c"]
    assert flow.nodes["a"].routing == Branch({"ok": "b"}, "c")
    assert flow.nodes["b"].routing == Next("c")
    assert flow.nodes["c"].routing == REPLY
    assert flow.nodes["a"].component == "emit.response"
    assert flow.start == "a" and flow.flow_type == "messaging"


def test_custom_routing_is_read_with_the_ygtc_grammar() -> None:
    raw = _wire(
        _wire_flow(
            {
                0: {"Custom": [{"next": "b"}]},
                1: {"Custom": [{"to": "c", "condition": "in.x == 1"}, {"out": True}]},
                2: "End",
            }
        )
    )
    flow = _pack_v1_flow(raw)
    assert flow.nodes["a"].routing == Next("b")  # `- next: b` is preserved only as Custom
    assert flow.nodes["b"].routing == Custom(
        (Route(to="c", condition="in.x == 1"), Route(out=True))
    )
    assert flow.nodes["c"].routing == END


def test_lowercase_json_schema_routing_is_accepted() -> None:
    flow = compiled_to_flow(
        {
            "id": "f",
            "kind": "event",
            "nodes": {
                "a": {"component": {"id": "x"}, "routing": {"next": {"node_id": "b"}}},
                "b": {"component": {"id": "y"}, "routing": "end"},
            },
        },
        "flow.json",
    )
    assert flow.nodes["a"].routing == Next("b")
    assert flow.nodes["b"].routing == END
    assert flow.flow_type == "event"


@pytest.mark.parametrize(
    ("routing", "reason"),
    [
        ({"Next": {"node_id": 9}}, "invalid symbol index 9 in node_ids"),
        ({"Jump": {}}, "unknown routing variant"),
        ({"Custom": 3}, "custom routing that is not a list"),
        ({"Custom": [{"to": "zzz"}]}, "missing node"),
    ],
    ids=["index", "variant", "custom-shape", "custom-target"],
)
def test_bad_routing_is_rejected(routing: Any, reason: str) -> None:
    with pytest.raises(RunnerError, match=reason):
        _pack_v1_flow(_wire(_wire_flow({0: routing})))


def test_route_to_a_node_outside_the_flow_is_rejected() -> None:
    raw = _wire(_wire_flow({0: {"Next": {"node_id": 2}}}))
    with pytest.raises(PackError, match="node a routes to missing node c"):
        _pack_v1_flow(raw)


def test_string_pack_id_is_accepted_and_bad_indexes_named() -> None:
    manifest = decode_pack_v1(_wire(_wire_flow({0: "End"}), pack_id="acme.legacy-id"), "m")
    assert manifest.pack_id == "acme.legacy-id"
    with pytest.raises(PackError, match="invalid symbol index 3 in pack_ids"):
        decode_pack_v1(_wire(_wire_flow({0: "End"}), pack_id=3), "m")
    with pytest.raises(PackError, match="unknown pack kind"):
        decode_pack_v1(_wire(_wire_flow({0: "End"}), kind="weird"), "m")


def test_encode_writes_sorted_symbol_tables_and_indexes() -> None:
    flow = Flow(
        id="main",
        flow_type="messaging",
        nodes={
            "zeta": _node("zeta", "templating.handlebars", routing=Next("alpha")),
            "alpha": _node("alpha"),
        },
    )
    compiled, _hints = flow_to_compiled(flow)
    logical = {
        "pack_id": "acme.demo",
        "version": "1.0.0",
        "components": [{"id": "b.comp", "version": "1.0.0", "world": "w"}],
        "flows": [{"id": "main", "kind": "messaging", "flow": compiled}],
        "dependencies": [
            {
                "alias": "base",
                "pack_id": "acme.base",
                "version_req": "^1",
                "required_capabilities": ["cap.x"],
            }
        ],
        "capabilities": [{"name": "cap.a"}],
    }
    wire = cbor.decode(encode_pack_v1(logical), "m")
    assert wire["symbols"] == {
        "component_ids": ["b.comp", "emit.response", "templating.handlebars"],
        "node_ids": ["alpha", "zeta"],
        "capability_names": ["cap.a", "cap.x"],
        "pack_ids": ["acme.base", "acme.demo"],
    }
    assert wire["pack_id"] == 1
    nodes = wire["flows"][0]["flow"]["nodes"]
    assert [n["id"] for n in nodes] == [1, 0]  # authoring order kept, ids are indexes
    assert nodes[0]["routing"] == {"Next": {"node_id": 0}}
    assert nodes[1]["routing"] == "End"
    assert list(wire)[:6] == [
        "schema_version",
        "pack_id",
        "version",
        "kind",
        "publisher",
        "symbols",
    ]
    decoded = decode_pack_v1(wire, "m")
    assert decoded.logical["dependencies"][0]["pack_id"] == "acme.base"
    assert decoded.logical["dependencies"][0]["required_capabilities"] == ["cap.x"]
    assert decoded.logical["capabilities"][0]["name"] == "cap.a"


def test_derive_entry_flows_follows_the_compatibility_reader() -> None:
    raw = _wire(_wire_flow({0: "End"}))
    raw["flows"].append(
        {
            "id": "other",
            "kind": "job",
            "flow": {**_wire_flow({1: "End"}), "id": "other", "entrypoints": {}},
            "tags": [],
            "entrypoints": [],
        }
    )
    raw["flows"][0]["entrypoints"] = ["telegram"]
    assert derive_entry_flows(decode_pack_v1(raw, "m")) == ["default", "other", "telegram"]


# --------------------------------------------------------------------------- Flow <-> compiled


@pytest.mark.parametrize("path", YGTC_FLOWS, ids=lambda p: p.name)
def test_upstream_flows_survive_the_compiled_form(path: Path) -> None:
    flow = compile_ygtc(path.read_bytes(), source=str(path))
    compiled, hints = flow_to_compiled(flow)
    wire = cbor.decode(cbor.encode_ordered(compiled), "flow")
    assert compiled_to_flow(wire, "flow", hints) == replace(flow, source=None)


def test_parameters_and_slot_schema_share_metadata_extra() -> None:
    slots = [{"name": "city", "slot_type": "string", "required": True}]
    flow = Flow(
        id="f",
        flow_type="messaging",
        nodes={"a": _node("a")},
        start="a",
        entrypoints={"default": "a"},
        parameters={"days": 3},
        metadata={"greentic.slot_schema": slots, "meta": {"owner": "ops"}},
    )
    compiled, hints = flow_to_compiled(flow)
    assert compiled["metadata"]["extra"] == {"days": 3, "greentic.slot_schema": slots}
    assert compiled["entrypoints"] == {"default": "a"}
    assert compiled_to_flow(compiled, "f", hints) == flow
    # without the runner's hints (another builder), the flow-v1 fields still land
    plain = compiled_to_flow(compiled, "f")
    assert plain.parameters == {"days": 3}
    assert plain.metadata == {"greentic.slot_schema": slots}
    assert plain.start == "a"


def test_flow_types_without_a_flow_kind_travel_in_the_hints() -> None:
    flow = Flow(id="hook", flow_type="webhook", nodes={"a": _node("a")}, start="a")
    compiled, hints = flow_to_compiled(flow)
    assert compiled["kind"] == "event" and hints["type"] == "webhook"
    assert compiled_to_flow(compiled, "f", hints).flow_type == "webhook"
    flow = Flow(id="cfg", flow_type="component-config", nodes={}, start=None)
    compiled, _ = flow_to_compiled(flow)
    assert compiled["kind"] == "component_config"
    assert compiled_to_flow(compiled, "f").flow_type == "component-config"


_IDS = st.sampled_from(["a", "b", "c", "d"])
_ROUTING = st.one_of(
    st.just(END),
    st.just(REPLY),
    _IDS.map(Next),
    st.builds(
        Branch, st.dictionaries(st.sampled_from(["ok", "err"]), _IDS, min_size=1), _IDS | st.none()
    ),
    st.lists(
        st.builds(
            Route, to=_IDS | st.none(), condition=st.sampled_from(["x == 1", "y"]) | st.none()
        ),
        min_size=1,
        max_size=3,
    ).map(
        lambda routes: Custom(
            tuple(r if r.to else Route(out=True, condition=r.condition) for r in routes)
        )
    ),
)


@given(
    routings=st.lists(_ROUTING, min_size=4, max_size=4),
    operation=st.none() | st.text(min_size=1, max_size=5),
    mapping=st.none() | st.dictionaries(st.text(max_size=4), st.integers(), max_size=3),
)
def test_any_routing_survives_the_wire_form(
    routings: list[Any], operation: str | None, mapping: Any
) -> None:
    nodes = {
        node_id: Node(id=node_id, component="x.y", operation=operation, mapping=mapping, routing=r)
        for node_id, r in zip("abcd", routings, strict=True)
    }
    flow = Flow(id="f", flow_type="job", nodes=nodes, start="a", entrypoints={"default": "a"})
    compiled, hints = flow_to_compiled(flow)
    logical = {
        "pack_id": "p",
        "version": "1.0.0",
        "flows": [{"id": "f", "kind": "job", "flow": compiled}],
    }
    wire = decode_manifest(encode_pack_v1(logical), "m")
    assert isinstance(wire, PackV1Manifest)
    back = compiled_to_flow(wire.flows[0]["flow"], "f", hints)
    for node_id, node in nodes.items():
        assert (back.nodes[node_id].operation, back.nodes[node_id].mapping) == (
            node.operation,
            node.mapping,
        )
        expected = node.routing
        if isinstance(expected, Custom) and all(
            r.condition is None and r.status is None for r in expected.routes
        ):
            continue  # unconditional lists are re-read with the YGTC grammar (may simplify)
        assert back.nodes[node_id].routing == expected
    assert list(back.nodes) == list(nodes) and back.start == "a"


# --------------------------------------------------------------------------- fuzzing the decoder

_CONVERSATION_PACK = UPSTREAM / "greentic-pack" / "examples" / "weather-demo"
_LEAF = (
    st.none() | st.booleans() | st.integers(-3, 300) | st.text(max_size=6) | st.binary(max_size=4)
)
_VALUES = st.recursive(
    _LEAF,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def _built_entries() -> dict[str, bytes]:
    data = build_archive(load_pack(_CONVERSATION_PACK)).data
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {i.filename: archive.read(i) for i in archive.infolist()}


_BUILT = _built_entries()
_LEGACY_ENTRIES = {
    name: data for name, data in read_entries(SIGNED).items() if not name.startswith("signatures/")
}


def _replace_at(value: Any, choices: list[int], new: Any) -> Any:
    """``value`` with the subtree picked by ``choices`` replaced by ``new``."""
    if not choices or not isinstance(value, dict | list) or not value:
        return new
    keys = list(value) if isinstance(value, dict) else list(range(len(value)))
    key = keys[choices[0] % len(keys)]
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[key] = _replace_at(value[key], choices[1:], new)  # type: ignore[index]
    return copy


def _open_with_manifest(tmp_path: Path, base: dict[str, bytes], manifest: bytes) -> None:
    """An archive whose SBOM matches the (hostile) manifest, so decoding is reached."""
    entries = {n: d for n, d in base.items() if n not in ("sbom.cbor", "sbom.json")}
    entries["manifest.cbor"] = manifest
    files = [
        {"path": n, "size": len(d), "media_type": "x", "hash_blake3": blake3.blake3(d).hexdigest()}
        for n, d in sorted(entries.items())
    ]
    sbom = {"format": "greentic-sbom-v1", "files": files}
    if "sbom.json" in base:
        entries["sbom.json"] = json.dumps(sbom).encode()
    else:
        entries["sbom.cbor"] = cbor.encode_canonical(sbom)
    path = tmp_path / "fuzz.gtpack"
    path.write_bytes(write_zip(entries))
    with contextlib.suppress(RunnerError):
        open_gtpack(path, VerifyPolicy())


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    legacy=st.booleans(),
    choices=st.lists(st.integers(min_value=0, max_value=50), max_size=8),
    new=_VALUES,
)
def test_structurally_mutated_manifests_raise_only_runner_errors(
    tmp_path: Path, legacy: bool, choices: list[int], new: Any
) -> None:
    base = _LEGACY_ENTRIES if legacy else _BUILT
    wire = cbor.decode(base["manifest.cbor"], "m")
    _open_with_manifest(tmp_path, base, cbor.encode_ordered(_replace_at(wire, choices, new)))


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    legacy=st.booleans(),
    flips=st.lists(st.tuples(st.integers(0), st.integers(0, 255)), min_size=1, max_size=3),
)
def test_byte_mutated_manifests_raise_only_runner_errors(
    tmp_path: Path, legacy: bool, flips: list[tuple[int, int]]
) -> None:
    base = _LEGACY_ENTRIES if legacy else _BUILT
    manifest = bytearray(base["manifest.cbor"])
    for position, value in flips:
        manifest[position % len(manifest)] = value
    _open_with_manifest(tmp_path, base, bytes(manifest))
