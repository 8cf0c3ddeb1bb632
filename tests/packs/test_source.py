"""Pack source directories: the upstream packs, both pack.yaml forms, sidecars, components."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from greentic_runner.errors import FlowError, PackError
from greentic_runner.flows.model import END
from greentic_runner.packs.source import load_pack_dir

UPSTREAM = Path(__file__).parent.parent / "fixtures" / "upstream"
PACKC = UPSTREAM / "greentic-pack/crates/packc/tests/fixtures"
GEN_BINDINGS = UPSTREAM / "greentic-runner/tests/fixtures/gen-bindings"
POSITIVE_PACKS = {
    "weather-demo": UPSTREAM / "greentic-pack/examples/weather-demo",
    "billing-demo": UPSTREAM / "greentic-pack/examples/billing-demo",
    "valid-minimal": PACKC / "packs/valid-minimal",
    "hello2-pack": PACKC / "packs/hello2-pack",
    "component_exec_pack": PACKC / "component_exec_pack",
    "gen-bindings/weather-demo": GEN_BINDINGS / "weather-demo",
}

FLOW = "id: {id}\ntype: messaging\nnodes:\n  a:\n    template: hi\n    routing: out\n"


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


def pack(tmp_path: Path, pack_yaml: str, **files: str | bytes) -> Path:
    extra = {name.replace("__", "/").replace("_DOT_", "."): body for name, body in files.items()}
    return write(tmp_path / "pack", {"pack.yaml": pack_yaml, **extra})


@pytest.mark.parametrize("path", POSITIVE_PACKS.values(), ids=POSITIVE_PACKS.keys())
def test_every_upstream_pack_directory_loads(path: Path) -> None:
    runtime = load_pack_dir(path)
    assert runtime.generation == "directory"
    assert runtime.source == path
    assert runtime.flows
    for descriptor in runtime.descriptors():
        assert descriptor.pack_id == runtime.pack_id
        assert runtime.load_flow(descriptor.id).id == descriptor.id


def test_weather_demo() -> None:
    runtime = load_pack_dir(POSITIVE_PACKS["weather-demo"])
    assert (runtime.pack_id, runtime.version, runtime.kind) == (
        "greentic.weather.demo",
        "0.1.0",
        "application",
    )
    assert runtime.metadata.entry_flows == ("weather_bot",)
    flow = runtime.flows["weather_bot"]
    assert "default" in flow.tags
    collect = flow.nodes["collect_location"]
    assert collect.component_ref == "qa.process"
    assert collect.source_ref == "components/qa.process/component.wasm"
    assert sorted(runtime.components) == [
        "mcp.exec",
        "qa.process",
        "templating.handlebars",
        "weather_api",
    ]
    weather = runtime.components["weather_api"]
    assert weather.manifest["id"] == "weather_api"
    assert (weather.version, weather.world, weather.wasm_path) == (
        "0.0.1",
        "root:component/root",
        None,  # the fixture ships no wasm
    )
    assert runtime.read_asset("templates/weather_now.hbs").startswith(b"Hello there!")


def test_hello2_pack_summary_adds_the_oci_component() -> None:
    runtime = load_pack_dir(POSITIVE_PACKS["hello2-pack"])
    node = runtime.flows["main"].nodes["templates"]
    ref = "oci://ghcr.io/greentic-ai/components/templates:latest"
    assert (node.component, node.component_ref, node.source_ref) == (
        "component.exec",
        "ai.greentic.component-templates",
        ref,
    )
    component = runtime.components["ai.greentic.component-templates"]
    assert component.source_ref == ref
    assert component.wasm_path is None


def test_valid_minimal_reads_manifest_operations_and_summary() -> None:
    runtime = load_pack_dir(POSITIVE_PACKS["valid-minimal"])
    node = runtime.flows["main"].nodes["hello"]
    assert (node.component, node.operation) == ("component.exec", "handle_message")
    assert node.component_ref == "dev.local.component"
    assert node.source_ref == "components/fixture.wasm"
    component = runtime.components["dev.local.component"]
    assert component.operations == ("handle_message",)
    assert component.world == "greentic:component/component@0.5.0"
    assert component.manifest["dev_flows"] == {}


def test_component_exec_pack_without_sidecars_uses_the_component_declaring_the_op() -> None:
    runtime = load_pack_dir(POSITIVE_PACKS["component_exec_pack"])
    node = runtime.flows["main"].nodes["hello"]
    assert (node.component_ref, node.source_ref) == ("ai.greentic.fixture", None)
    assert runtime.components["ai.greentic.fixture"].operations == ("handle_message",)


def test_an_operation_declared_by_two_components_is_not_guessed(tmp_path: Path) -> None:
    root = pack(
        tmp_path,
        "pack_id: demo\nversion: 1.0.0\ncomponents:\n"
        "  - {id: one, operations: [greet]}\n  - {id: two, operations: [greet, wave]}\n",
        flows__m_DOT_ygtc="id: m\ntype: messaging\nnodes:\n"
        "  a: {greet: {}, routing: [{to: b}]}\n  b: {wave: {}}\n",
    )
    nodes = load_pack_dir(root).flows["m"].nodes
    assert nodes["a"].component_ref is None
    assert nodes["b"].component_ref == "two"


def test_billing_demo_is_a_provider_kind_pack() -> None:
    runtime = load_pack_dir(POSITIVE_PACKS["billing-demo"])
    assert runtime.kind == "provider"
    assert set(runtime.components) == {"stub", "templating.handlebars"}
    assert runtime.flows["main"].nodes["start"].routing == END


def test_older_pack_yaml_form() -> None:
    runtime = load_pack_dir(POSITIVE_PACKS["gen-bindings/weather-demo"])
    assert (runtime.pack_id, runtime.version, runtime.kind) == (
        "greentic.weather.demo",
        "0.1.0",
        None,
    )
    assert list(runtime.flows) == ["weather_bot"]
    assert runtime.metadata.entry_flows == ("weather_bot",)  # none declared: every flow
    # template_dirs are readable the way an archive stores them, under assets/
    assert runtime.read_asset("templates/weather_now.hbs").startswith(b"Hello there!")


def test_a_listed_flow_file_that_is_missing_fails_clearly() -> None:
    with pytest.raises(PackError) as err:
        load_pack_dir(GEN_BINDINGS / "weather-demo-strict")
    assert "flow file `flows/weather_bot.ygtc` of pack greentic.weather.demo not found" in str(
        err.value
    )
    assert "weather-demo-strict/pack.yaml" in str(err.value)


# --- flows, entry flows, tags ------------------------------------------------------------


def test_flows_are_discovered_when_not_listed(tmp_path: Path) -> None:
    root = pack(
        tmp_path,
        "pack_id: demo\nversion: 1.0.0\n",
        flows__b_DOT_ygtc=FLOW.format(id="b"),
        flows__a_DOT_ygtc=FLOW.format(id="a"),
        flows__nested__c_DOT_ygtc=FLOW.format(id="c"),
        flows__notes_DOT_md="not a flow",
    )
    runtime = load_pack_dir(root)
    assert list(runtime.flows) == ["a", "b"]
    assert runtime.flows["a"].source == str(root / "flows/a.ygtc")


def test_entrypoints_and_internal_tag(tmp_path: Path) -> None:
    root = pack(
        tmp_path,
        "pack_id: demo\nversion: 1.0.0\nflows:\n"
        "  - {id: main, file: flows/main.ygtc, tags: [default], entrypoints: [default]}\n"
        "  - {id: helper, file: flows/helper.ygtc, tags: [internal]}\n",
        flows__main_DOT_ygtc=FLOW.format(id="main"),
        flows__helper_DOT_ygtc=FLOW.format(id="helper"),
    )
    runtime = load_pack_dir(root)
    assert runtime.metadata.entry_flows == ("main",)
    entry = {d.id: d.entry for d in runtime.descriptors()}
    assert entry == {"main": True, "helper": False}
    assert runtime.flows["helper"].tags == ("internal",)


def test_flow_tags_merge_file_and_pack_yaml(tmp_path: Path) -> None:
    root = pack(
        tmp_path,
        "pack_id: demo\nversion: 1\nflows:\n  - {file: flows/m.ygtc, tags: [internal]}\n",
        flows__m_DOT_ygtc="id: m\ntype: job\ntags: [nightly]\nnodes: {}\n",
    )
    runtime = load_pack_dir(root)
    assert runtime.version == "1"
    assert runtime.flows["m"].tags == ("nightly", "internal")


def test_pack_yaml_flow_id_wins_over_the_file_id(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = pack(
        tmp_path,
        "pack_id: demo\nversion: 1.0.0\nflows:\n  - {id: main, file: flows/x.ygtc}\n",
        flows__x_DOT_ygtc=FLOW.format(id="other"),
    )
    with caplog.at_level(logging.WARNING):
        runtime = load_pack_dir(root)
    assert list(runtime.flows) == ["main"]
    assert runtime.flows["main"].id == "main"
    assert "has id `other`; using `main`" in caplog.text


def test_duplicate_flow_ids_are_rejected(tmp_path: Path) -> None:
    root = pack(
        tmp_path,
        "pack_id: demo\nversion: 1.0.0\nflow_files: [flows/a.ygtc, flows/b.ygtc]\n",
        flows__a_DOT_ygtc=FLOW.format(id="same"),
        flows__b_DOT_ygtc=FLOW.format(id="same"),
    )
    with pytest.raises(PackError, match="declares flow `same` twice"):
        load_pack_dir(root)


def test_a_broken_flow_reports_its_file(tmp_path: Path) -> None:
    root = pack(
        tmp_path,
        "pack_id: demo\nversion: 1.0.0\n",
        flows__bad_DOT_ygtc="id: bad\ntype: messaging\nnodes:\n  a: {template: x, routing: [{to: b}]}\n",
    )
    with pytest.raises(FlowError) as err:
        load_pack_dir(root)
    assert f"{root / 'flows/bad.ygtc'}:4: flow 'bad', node 'a'" in str(err.value)


# --- components, sidecars, lock ----------------------------------------------------------


def test_bundled_wasm_and_lock_refs(tmp_path: Path) -> None:
    root = pack(
        tmp_path,
        "pack_id: demo\nversion: 1.0.0\ncomponents:\n  - {id: declared, operations: [run, {name: stop}]}\n",
        flows__m_DOT_ygtc=FLOW.format(id="m"),
        components__loose_DOT_wasm=b"\0asm",
        components__boxed__component_DOT_wasm=b"\0asm",
        components__declared_DOT_wasm=b"\0asm",
        pack_DOT_lock_DOT_json=json.dumps(
            {
                "version": 1,
                "components": {
                    "declared": {"component_id": "declared", "ref": "oci://r/declared:1"},
                    "loose": {"component_id": "loose", "ref": "file:///elsewhere/loose.wasm"},
                },
            }
        ),
    )
    runtime = load_pack_dir(root)
    components = runtime.components
    assert sorted(components) == ["boxed", "declared", "loose"]
    assert components["declared"].wasm_path == "components/declared.wasm"
    assert components["declared"].operations == ("run", "stop")
    assert components["declared"].source_ref == "oci://r/declared:1"
    assert components["boxed"].wasm_path == "components/boxed/component.wasm"
    assert components["loose"].source_ref is None  # a builder's file:// path means nothing here


def test_sidecar_without_summary_gives_the_source(tmp_path: Path) -> None:
    root = pack(
        tmp_path,
        "pack_id: demo\nversion: 1.0.0\n",
        flows__m_DOT_ygtc="id: m\ntype: messaging\nnodes:\n  a: {greet: {}, routing: out}\n",
        flows__m_DOT_ygtc_DOT_resolve_DOT_json=json.dumps(
            {
                "schema_version": 1,
                "flow": "m.ygtc",
                "nodes": {"a": {"source": {"kind": "store", "ref": "store://acme/greeter"}}},
            }
        ),
    )
    node = load_pack_dir(root).flows["m"].nodes["a"]
    assert (node.component_ref, node.source_ref) == (None, "store://acme/greeter")


def test_stale_sidecar_nodes_only_warn(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = pack(
        tmp_path,
        "pack_id: demo\nversion: 1.0.0\n",
        flows__m_DOT_ygtc=FLOW.format(id="m"),
        flows__m_DOT_ygtc_DOT_resolve_DOT_json=json.dumps(
            {
                "schema_version": 1,
                "flow": "m.ygtc",
                "nodes": {"gone": {"source": {"kind": "oci", "ref": "oci://x"}}},
            }
        ),
    )
    with caplog.at_level(logging.WARNING):
        load_pack_dir(root)
    assert "names unknown node `gone`" in caplog.text


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("resolve.json", "{not json", "failed to parse flows/m.ygtc.resolve.json"),
        ("resolve.json", "[]", "flows/m.ygtc.resolve.json: expected an object with a `nodes` map"),
        (
            "resolve.json",
            '{"schema_version": 2, "nodes": {}}',
            "unsupported schema_version 2",
        ),
        (
            "resolve.json",
            '{"schema_version": 1, "nodes": {"a": {"source": {"kind": "ftp"}}}}',
            "node `a`: `source.kind` must be one of local, oci, repo, store",
        ),
        (
            "resolve.json",
            '{"schema_version": 1, "nodes": {"a": {"source": {"kind": "oci"}}}}',
            "node `a`: a `oci` source needs a non-empty `ref`",
        ),
        (
            "resolve.summary.json",
            '{"schema_version": 1, "nodes": {"a": {"source": {"kind": "local", "path": "x"}}}}',
            "flows/m.ygtc.resolve.summary.json: node `a`: `component_id` must be",
        ),
    ],
)
def test_malformed_sidecars_name_file_and_node(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    root = pack(tmp_path, "pack_id: demo\nversion: 1.0.0\n", flows__m_DOT_ygtc=FLOW.format(id="m"))
    (root / f"flows/m.ygtc.{name}").write_text(content)
    with pytest.raises(PackError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_pack_dir(root)


def test_malformed_component_manifest(tmp_path: Path) -> None:
    root = pack(
        tmp_path,
        "pack_id: demo\nversion: 1.0.0\n",
        flows__m_DOT_ygtc=FLOW.format(id="m"),
        components__x__component_DOT_manifest_DOT_json="{",
    )
    with pytest.raises(
        PackError, match="failed to parse component manifest components/x/component.manifest.json"
    ):
        load_pack_dir(root)


# --- pack.yaml problems, assets, extensions ----------------------------------------------


@pytest.mark.parametrize(
    ("pack_yaml", "message"),
    [
        ("pack_id: [\n", "failed to parse .*pack.yaml: .*line"),
        ("- a\n", "expected a mapping with pack_id and version"),
        ("version: 1.0.0\n", "`pack_id` \\(or `id` in the older form\\) must be"),
        ("pack_id: 'bad id'\nversion: 1.0.0\n", "invalid `pack_id` 'bad id'"),
        ("pack_id: demo\n", "`version` of pack demo must be a non-empty string"),
        ("pack_id: demo\nversion: 1.0.0\nflows: {}\n", "`flows` must be a list"),
        ("pack_id: demo\nversion: 1.0.0\nflows: [{id: x}]\n", "`flows\\[0\\].file` must be"),
        (
            "pack_id: demo\nversion: 1.0.0\nflows: [{file: ../x.ygtc}]\n",
            "`flows\\[0\\].file`: unsafe path",
        ),
        (
            "pack_id: demo\nversion: 1.0.0\nflow_files: [1]\n",
            "`flow_files` must be a list of strings",
        ),
        ("pack_id: demo\nversion: 1.0.0\ncomponents: [{version: 1}]\n", "`components\\[0\\].id`"),
        ("pack_id: demo\nversion: 1.0.0\nassets: [{}]\n", "`assets\\[0\\].path` must be"),
        ("pack_id: demo\nversion: 1.0.0\nextensions: [1]\n", "`extensions` must be a mapping"),
    ],
)
def test_pack_yaml_errors(tmp_path: Path, pack_yaml: str, message: str) -> None:
    with pytest.raises(PackError, match=message):
        load_pack_dir(pack(tmp_path, pack_yaml))


def test_missing_pack_yaml(tmp_path: Path) -> None:
    with pytest.raises(PackError, match="failed to read .*pack.yaml"):
        load_pack_dir(tmp_path)


def test_assets_and_extensions(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = pack(
        tmp_path,
        "pack_id: demo\nversion: 1.0.0\nassets: [{path: cards/welcome.json}, {path: gone.txt}]\n"
        "extensions:\n  acme.custom.v1: {kind: acme, inline: {x: [1, 2]}}\n",
        flows__m_DOT_ygtc=FLOW.format(id="m"),
        cards__welcome_DOT_json='{"card": 1}',
        secret_DOT_txt="not an asset",
        assets__i18n__en_DOT_json="{}",
    )
    with caplog.at_level(logging.WARNING):
        runtime = load_pack_dir(root, digest="sha256:abc")
    assert "declared asset `gone.txt` is missing" in caplog.text
    assert runtime.digest == "sha256:abc"
    assert runtime.read_asset("cards/welcome.json") == b'{"card": 1}'
    assert runtime.read_asset("/assets/i18n/en.json") == b"{}"
    with pytest.raises(PackError, match="asset not found: secret.txt"):
        runtime.read_asset("secret.txt")
    assert runtime.extensions == {"acme.custom.v1": {"kind": "acme", "inline": {"x": [1, 2]}}}
    assert runtime.read_file("pack.yaml") is not None
