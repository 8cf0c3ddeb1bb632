"""The YGTC compiler: upstream conformance fixtures, the node/op/routing rules, bad input."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import string
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from greentic_runner.errors import FlowError
from greentic_runner.flows.model import END, REPLY, Branch, Custom, Flow, Next, Route
from greentic_runner.flows.ygtc import (
    FLOW_TYPES,
    check_adapters,
    compile_document,
    compile_ygtc,
    load_ygtc,
)

UPSTREAM = Path(__file__).parent.parent / "fixtures" / "upstream"
NEGATIVE = {"invalid_node_shape.ygtc", "flow_missing_type.ygtc"}
POSITIVE_FLOWS = sorted(p for p in UPSTREAM.rglob("*.ygtc") if p.name not in NEGATIVE)


def flow(text: str, **kwargs: Any) -> Flow:
    return compile_ygtc(text, source="test.ygtc", **kwargs)


def one_node(body: str, *, schema_version: int = 2, extra_nodes: str = "") -> Flow:
    return flow(
        f"id: f\ntype: messaging\nschema_version: {schema_version}\nnodes:\n  a:\n"
        + "".join(f"    {line}\n" for line in body.strip("\n").splitlines())
        + extra_nodes
    )


# --- upstream fixtures -------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", POSITIVE_FLOWS, ids=[str(p.relative_to(UPSTREAM)) for p in POSITIVE_FLOWS]
)
def test_every_positive_upstream_flow_compiles(path: Path) -> None:
    compiled = load_ygtc(path)
    assert compiled.nodes
    assert compiled.start in compiled.nodes
    assert compiled.entrypoints["default"] == compiled.start
    assert compiled.source == str(path)
    for node in compiled.nodes.values():
        for target in _targets(node.routing):
            assert target in compiled.nodes


def _targets(routing: Any) -> list[str]:
    if isinstance(routing, Next):
        return [routing.node_id]
    if isinstance(routing, Branch):
        return [*routing.on_status.values(), *([routing.default] if routing.default else [])]
    if isinstance(routing, Custom):
        return [r.to for r in routing.routes if r.to]
    return []


def test_invalid_node_shape_fixture_is_rejected_naming_file_line_flow_and_node() -> None:
    path = UPSTREAM / "greentic-flow/fixtures/invalid_node_shape.ygtc"
    with pytest.raises(FlowError) as err:
        load_ygtc(path)
    message = str(err.value)
    assert f"{path}:4: flow 'bad', node 'x'" in message
    assert "NodeComponentShape" in message
    assert "qa.process, mcp.exec" in message


def test_missing_type_fixture_is_rejected() -> None:
    path = UPSTREAM / "greentic-flow/tests/data/flow_missing_type.ygtc"
    with pytest.raises(FlowError, match=r"flow 'missing_type': missing required `type`"):
        load_ygtc(path)


def test_adapter_registry_accepts_flow_ok_and_rejects_flow_fail() -> None:
    data = UPSTREAM / "greentic-flow/tests/data"
    registry = json.loads((data / "registry_ok.json").read_text())
    check_adapters(load_ygtc(data / "flow_ok.ygtc"), registry)
    failing = load_ygtc(data / "flow_fail.ygtc")
    with pytest.raises(FlowError) as err:
        check_adapters(failing, registry)
    assert "node 'in' uses `messaging.telegram.deleteUniverse`" in str(err.value)
    assert "node 'email_notify' uses `email.google.beamMeUp`" in str(err.value)


def test_flow_ok_matches_the_upstream_bundle() -> None:
    bundle = json.loads((UPSTREAM / "greentic-flow/fixtures/flow_ok.bundle.json").read_text())
    compiled = load_ygtc(UPSTREAM / "greentic-flow/fixtures/flow_ok.ygtc")
    assert compiled.id == bundle["bundle"]["id"]
    assert compiled.flow_type == bundle["bundle"]["kind"]
    assert compiled.start == bundle["bundle"]["entry"]
    assert compiled.schema_version == bundle["bundle"]["json"]["schema_version"]
    assert [n.id for n in compiled.nodes.values()] == [
        n["node_id"] for n in bundle["bundle"]["nodes"]
    ]
    assert [n.component for n in compiled.nodes.values()] == [
        n["component"]["name"] for n in bundle["bundle"]["nodes"]
    ]
    assert compiled.nodes["in"].routing == END


def test_hello_fixture() -> None:
    hello = load_ygtc(UPSTREAM / "greentic-flow/docs/examples/hello.ygtc")
    node = hello.nodes["start"]
    assert (hello.id, hello.flow_type, hello.start) == ("hello-flow", "messaging", "start")
    assert (node.component, node.operation) == ("templating.handlebars", None)
    assert node.mapping == {"text": "Hello from greentic-flow!"}
    assert node.routing == END


def test_hello_with_component_fixture_compiles_to_component_exec() -> None:
    compiled = load_ygtc(UPSTREAM / "greentic-flow/docs/examples/hello_with_component.ygtc")
    node = compiled.nodes["hello-world"]
    assert (node.component, node.operation) == ("component.exec", "handle_message")
    assert node.mapping == {"input": {"input": "Hello from hello-world!"}}


def test_weather_bot_fixture_keeps_legacy_ops_parameters_and_i18n_title() -> None:
    compiled = load_ygtc(UPSTREAM / "greentic-flow/fixtures/weather_bot.ygtc")
    assert compiled.start == "in"
    assert compiled.title == "i18n:flow.weather_bot.title"
    assert compiled.parameters == {"days_default": 3}
    assert [n.component for n in compiled.nodes.values()] == [
        "qa.process",
        "mcp.exec",
        "templating.handlebars",
    ]
    assert compiled.nodes["in"].routing == Next("forecast_weather")
    assert compiled.nodes["forecast_weather"].mapping["args"] == {
        "q": "in.q_location",
        "days": "parameters.days_default",
    }
    assert compiled.nodes["weather_text"].routing == END


def test_mcp_and_questions_fixture() -> None:
    compiled = load_ygtc(UPSTREAM / "greentic-flow/tests/data/mcp_node_ok.ygtc")
    assert compiled.nodes["in"].component == "questions"
    lookup = compiled.nodes["lookup_issue"]
    assert lookup.component == "mcp"
    assert lookup.mapping["server"] == "github"
    assert lookup.mapping["output"] == "issue"
    assert lookup.out_map is None  # `output` inside the mcp payload is not the node's out_map


def test_config_flow_fixture() -> None:
    compiled = load_ygtc(UPSTREAM / "greentic-flow/tests/data/config_flow.ygtc")
    assert compiled.flow_type == "component-config"
    assert compiled.nodes["emit_config"].component == "template"
    assert "NEXT_NODE_PLACEHOLDER" in compiled.nodes["emit_config"].mapping


def test_golden_add_step_flows_keep_document_order_and_explicit_start() -> None:
    compiled = load_ygtc(UPSTREAM / "greentic-flow/tests/golden/add_step/expected.ygtc")
    assert list(compiled.nodes) == ["end", "mid", "start"]
    assert compiled.start == "start"
    assert compiled.nodes["mid"].operation == "ai.greentic.echo"


# --- start node, entrypoints, top level ---------------------------------------------------


@pytest.mark.parametrize(
    ("nodes", "start_line", "expected"),
    [
        ("  b: {template: x}\n  in: {template: x}\n", "start: b\n", "b"),
        ("  b: {template: x}\n  in: {template: x}\n", "", "in"),
        ("  b: {template: x}\n  c: {template: x}\n", "", "b"),
    ],
    ids=["explicit-start", "node-named-in", "first-node"],
)
def test_start_node_rules(nodes: str, start_line: str, expected: str) -> None:
    compiled = flow(f"id: f\ntype: messaging\n{start_line}nodes:\n{nodes}")
    assert compiled.start == expected
    assert compiled.entrypoints == {"default": expected}


def test_start_naming_no_node_is_an_error() -> None:
    with pytest.raises(FlowError, match=r"test.ygtc:3: flow 'f': `start` 'ghost' does not name"):
        flow("id: f\ntype: messaging\nstart: ghost\nnodes:\n  a: {template: x}\n")


def test_empty_nodes_compile_without_a_start() -> None:
    compiled = flow("id: skeleton\ntype: messaging\nnodes: {}\n")
    assert compiled.nodes == {}
    assert compiled.start is None
    assert compiled.start_node is None


def test_declared_entrypoints_are_kept() -> None:
    compiled = flow(
        "id: f\ntype: messaging\nentrypoints: {telegram: a, default: a}\nnodes:\n  a: {template: x}\n"
    )
    assert compiled.entrypoints == {"telegram": "a", "default": "a"}


@pytest.mark.parametrize("flow_type", sorted(FLOW_TYPES))
def test_accepted_flow_types(flow_type: str) -> None:
    assert flow(f"id: f\ntype: {flow_type}\nnodes: {{}}\n").flow_type == flow_type


def test_events_is_read_as_event() -> None:
    assert flow("id: f\ntype: events\nnodes: {}\n").flow_type == "event"


def test_unknown_flow_type_is_rejected() -> None:
    with pytest.raises(FlowError, match=r"test.ygtc:2: flow 'f': unknown flow type 'chat'"):
        flow("id: f\ntype: chat\nnodes: {}\n")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n- b\n", "a flow must be a YAML mapping"),
        ("type: messaging\nnodes: {}\n", "missing required `id`"),
        ("id: 'a b'\ntype: messaging\nnodes: {}\n", "invalid flow id 'a b'"),
        ("id: f\ntype: messaging\n", "missing required `nodes`"),
        ("id: f\ntype: messaging\nnodes: [a]\n", "`nodes` must be a mapping"),
        ("id: f\ntype: messaging\nschema_version: two\nnodes: {}\n", "`schema_version` must be"),
        ("id: f\ntype: messaging\nparameters: [1]\nnodes: {}\n", "`parameters` must be a mapping"),
        ("id: f\ntype: messaging\ntags: [1]\nnodes: {}\n", "`tags` must be a list of strings"),
        ("id: f\ntype: 3\nnodes: {}\n", "`type` must be a string"),
    ],
)
def test_top_level_errors(text: str, message: str) -> None:
    with pytest.raises(FlowError, match=message):
        flow(text)


def test_metadata_keeps_meta_and_slot_schema() -> None:
    compiled = flow(
        "id: f\ntype: messaging\nmeta: {greentic: {x: 1}}\n"
        "slot_schema:\n  - {name: city, slot_type: string, pattern: '^.+$'}\n"
        "nodes:\n  a: {template: x}\n"
    )
    assert compiled.metadata == {
        "meta": {"greentic": {"x": 1}},
        "greentic.slot_schema": [{"name": "city", "slot_type": "string", "pattern": "^.+$"}],
    }


def test_duplicate_slot_names_are_rejected() -> None:
    with pytest.raises(FlowError, match="duplicate slot name 'city'"):
        flow(
            "id: f\ntype: messaging\nslot_schema:\n  - {name: city, slot_type: number}\n"
            "  - {name: city, slot_type: date}\nnodes: {}\n"
        )


# --- nodes: ids, operation keys, mappings ------------------------------------------------


@pytest.mark.parametrize(
    ("key", "schema_version", "component", "operation"),
    [
        ("handle_message", 2, "component.exec", "handle_message"),
        ("messaging.telegram.sendMessage", 2, "component.exec", "messaging.telegram.sendMessage"),
        ("ai.greentic.echo", 2, "component.exec", "ai.greentic.echo"),
        ("questions", 2, "questions", None),
        ("template", 2, "template", None),
        ("dw.agent", 2, "dw.agent", None),
        ("operala.call", 2, "operala.call", None),
        ("templating.handlebars", 2, "templating.handlebars", None),
        ("qa.process", 2, "qa.process", None),
        ("mcp.exec", 2, "mcp.exec", None),
        ("messaging.emit", 2, "messaging.emit", None),
        ("emit.response", 2, "emit.response", None),
        ("emit.log", 2, "emit.log", None),
        ("state.get", 2, "state.get", None),
        ("state.set", 2, "state.set", None),
        ("flow.call", 2, "flow.call", None),
        ("flow.goto", 2, "flow.goto", None),
        ("session.wait", 2, "session.wait", None),
        ("provider.invoke", 2, "provider.invoke", None),
        ("component.exec", 2, "component.exec", None),
        ("handle_message", 1, "handle_message", None),
        ("messaging.telegram.sendMessage", 1, "messaging.telegram.sendMessage", None),
    ],
)
def test_op_key_mapping(
    key: str, schema_version: int, component: str, operation: str | None
) -> None:
    node = one_node(f"{key}: {{x: 1}}", schema_version=schema_version).nodes["a"]
    assert (node.component, node.operation) == (component, operation)
    assert node.mapping == {"x": 1}


def test_sibling_operation_names_the_operation() -> None:
    exec_node = one_node("handle_message: {}\noperation: greet").nodes["a"]
    assert (exec_node.component, exec_node.operation) == ("component.exec", "greet")
    agent = one_node("dw.agent: {user_text: hi}\noperation: support").nodes["a"]
    assert (agent.component, agent.operation) == ("dw.agent", "support")


def test_explicit_component_exec_records_the_literal_component() -> None:
    node = one_node("component.exec: {component: acme.tpl, operation: run, input: {a: 1}}").nodes[
        "a"
    ]
    assert node.component_ref == "acme.tpl"
    templated = one_node("component.exec: {component: '{{in.c}}'}").nodes["a"]
    assert templated.component_ref is None


def test_two_operation_keys_fail_in_v2() -> None:
    with pytest.raises(FlowError, match=r"test.ygtc:5: flow 'f', node 'a': node has 2 operation"):
        one_node("qa.process: {}\ntemplating.handlebars: {}")


def test_schema_v1_relaxes_the_one_operation_rule(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        node = one_node("qa.process: {}\ntemplating.handlebars: {text: x}", schema_version=1)
    assert node.nodes["a"].component == "qa.process"
    assert "ignoring templating.handlebars" in caplog.text


def test_component_exec_beside_one_operation() -> None:
    node = one_node("component.exec: acme.weather\nforecast: {q: London}").nodes["a"]
    assert (node.component, node.operation) == ("component.exec", "forecast")
    assert node.mapping == {"component": "acme.weather", "input": {"q": "London"}}
    assert node.component_ref == "acme.weather"
    mapped = one_node("component.exec: {component: c, config: {k: v}}\nrun: {a: 1}").nodes["a"]
    assert mapped.mapping == {"component": "c", "config": {"k": "v"}, "input": {"a": 1}}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("component.exec: c\nrun: {}\nother: {}", "node has 3 operation keys"),
        ("component.exec: {input: 1}\nrun: {}", "sets `input` and operation `run`"),
        ("component.exec: 5\nrun: {}", "must be a component id or a mapping"),
        ("routing: out", "no operation key"),
        ("'bad key!': {}", "invalid operation key 'bad key!'"),
        ("template: x\noperation: ''", "`operation` must be a non-empty string"),
        ("template: x\nout_map: {a: 1}\noutput: {b: 2}", "either `out_map` or its alias"),
        ("template: x\nretry: 3", "`retry` must be a mapping"),
        ("template: x\nconversational: maybe", "`conversational` must be true or false"),
        ("mcp: {server: github}", "`mcp` needs a non-empty string `tool`"),
        ("mcp: x", "`mcp` needs a mapping"),
        ("mcp: {server: s, tool: t, arguments: [1]}", "`mcp.arguments` must be a mapping"),
    ],
)
def test_node_shape_errors(body: str, message: str) -> None:
    with pytest.raises(FlowError, match=r"node 'a'.*" + _escape(message)):
        one_node(body)


def _escape(text: str) -> str:
    return re.escape(text)


def test_a_node_that_is_not_a_mapping_is_rejected() -> None:
    with pytest.raises(FlowError, match="node 'a': a node must be a mapping"):
        flow("id: f\ntype: messaging\nnodes:\n  a: hello\n")


@pytest.mark.parametrize("node_id", ["1abc", "a.b", "a b", "-a"])
def test_invalid_node_ids(node_id: str) -> None:
    with pytest.raises(FlowError, match="invalid node id"):
        flow(f"id: f\ntype: messaging\nnodes:\n  '{node_id}': {{template: x}}\n")


def test_valid_node_ids_with_dash_and_underscore() -> None:
    compiled = flow("id: f\ntype: messaging\nnodes:\n  _a-b_1: {template: x}\n")
    assert list(compiled.nodes) == ["_a-b_1"]


def test_mappings_in_map_out_map_output_err_map_and_extras() -> None:
    node = one_node(
        """
provider.invoke: {op: chat}
in_map: {prompt: "{{in.text}}"}
out_map: {reply: "{{result.text}}"}
err_map: {error: "{{error}}"}
telemetry: {span_name: ask}
retry: {max_attempts: 2}
annotations: {owner: me}
"""
    ).nodes["a"]
    assert node.mapping == {"prompt": "{{in.text}}"}
    assert node.out_map == {"reply": "{{result.text}}"}
    assert node.err_map == {"error": "{{error}}"}
    assert node.extra == {
        "telemetry": {"span_name": "ask"},
        "retry": {"max_attempts": 2},
        "annotations": {"owner": "me"},
    }
    aliased = one_node("template: x\noutput: {y: 1}").nodes["a"]
    assert aliased.out_map == {"y": 1}


def test_payload_without_value_is_none() -> None:
    assert one_node("template:").nodes["a"].mapping is None


# --- routing -----------------------------------------------------------------------------

TWO = "  b: {template: x}\n  c: {template: x}\n"


@pytest.mark.parametrize(
    ("routing", "expected"),
    [
        ("", END),
        ("routing:", END),
        ("routing: []", END),
        ("routing: out", END),
        ("routing: reply", REPLY),
        ("routing: [{out: true}]", END),
        ("routing: [{to: out}]", END),
        ("routing: [{reply: true}]", REPLY),
        ("routing: [{to: b}]", Next("b")),
        ("routing: [{next: b}]", Next("b")),
        ("routing: [{to: b, next: b}]", Next("b")),
        (
            "routing: [{status: ok, to: b}, {to: c}]",
            Branch({"ok": "b"}, "c"),
        ),
        (
            "routing: [{status: ok, to: b}, {status: 404, to: c}]",
            Branch({"ok": "b", "404": "c"}, None),
        ),
        (
            "routing: [{condition: 'in.x == \"y\"', to: b}, {to: c}]",
            Custom((Route(to="b", condition='in.x == "y"'), Route(to="c"))),
        ),
        ("routing: [{status: ok, to: b}]", Custom((Route(to="b", status="ok"),))),
        ("routing: [{to: b}, {out: true}]", Custom((Route(to="b"), Route(out=True)))),
        ("routing: [{to: b}, {to: c}]", Custom((Route(to="b"), Route(to="c")))),
        (
            "routing: [{status: a, to: b}, {status: a, to: c}]",
            Custom((Route(to="b", status="a"), Route(to="c", status="a"))),
        ),
        (
            "routing: [{condition: done, reply: true}]",
            Custom((Route(reply=True, condition="done"),)),
        ),
    ],
)
def test_routing_grammar(routing: str, expected: object) -> None:
    compiled = one_node(f"template: x\n{routing}", extra_nodes=TWO)
    assert compiled.nodes["a"].routing == expected


@pytest.mark.parametrize(
    ("routing", "message"),
    [
        ("routing: sideways", "invalid routing shorthand 'sideways'"),
        ("routing: 5", "`routing` must be `out`, `reply` or a list"),
        ("routing: [{to: ghost}]", "routes to missing node `ghost` (MissingNode)"),
        ("routing: [{condition: x, to: ghost}]", "routes to missing node `ghost`"),
        ("routing: [{go: b}]", "route 1: unknown key `go`"),
        ("routing: [{}]", "route 1: a route needs a target"),
        ("routing: [{to: b}, {out: false}]", "route 2: a route needs a target"),
        ("routing: [{to: b, next: c}]", "`to: b` and `next: c` disagree"),
        ("routing: [b]", "a route must be a mapping"),
        ("routing: [{out: yes}]", "`out` must be true or false"),
        ("routing: [{condition: '', to: b}]", "`condition` must be a non-empty expression"),
        ("routing: [{to: 3}]", "`to` must be a node id"),
    ],
)
def test_routing_errors_name_file_line_flow_and_node(routing: str, message: str) -> None:
    with pytest.raises(FlowError) as err:
        one_node(f"template: x\n{routing}", extra_nodes=TWO)
    assert "test.ygtc:7: flow 'f', node 'a': " in str(err.value)  # the routing line
    assert message in str(err.value)


# --- YAML problems -----------------------------------------------------------------------


def test_yaml_syntax_errors_carry_file_and_line() -> None:
    with pytest.raises(FlowError, match=r"test.ygtc:3: invalid YAML: .*\(line 3, column 13\)"):
        flow("id: f\ntype: messaging\nnodes: {a: [}\n")


def test_duplicate_node_ids_are_rejected_instead_of_silently_merged() -> None:
    with pytest.raises(FlowError, match=r"test.ygtc:5: invalid YAML: found duplicate key 'a'"):
        flow("id: f\ntype: messaging\nnodes:\n  a: {template: x}\n  a: {template: y}\n")


def test_yaml_scalars_follow_yaml_1_2() -> None:
    node = one_node("template: {on: on, at: 12:30, day: 2024-01-01, n: 010}").nodes["a"]
    assert node.mapping == {"on": "on", "at": "12:30", "day": "2024-01-01", "n": 10}


def test_non_utf8_bytes_are_rejected() -> None:
    with pytest.raises(FlowError, match="not UTF-8 text"):
        compile_ygtc(b"id: \xff\n", source="x.ygtc")


def test_alias_bombs_are_bounded() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(6)
    )
    with pytest.raises(FlowError, match="expands to more than"):
        compile_ygtc(bomb)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(FlowError, match="failed to read flow file"):
        load_ygtc(tmp_path / "missing.ygtc")


def test_compile_document_accepts_parsed_data() -> None:
    compiled = compile_document(
        {"id": "f", "type": "job", "nodes": {"a": {"template": "x", "routing": "out"}}},
        source="api",
    )
    assert compiled.flow_type == "job"
    assert compiled.source == "api"
    with pytest.raises(FlowError, match="invalid node id 3"):
        compile_document({"id": "f", "type": "job", "nodes": {3: {"template": "x"}}})


# --- properties ---------------------------------------------------------------------------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.text(string.ascii_letters + "._-{} ", max_size=8),
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(string.ascii_letters + "._-", max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
_RESERVED_SAMPLE = ["routing", "in_map", "out_map", "output", "err_map", "operation", "retry"]
_keys = st.sampled_from(
    [*_RESERVED_SAMPLE, "template", "qa.process", "component.exec", "mcp", "handle_message", "x y"]
)
_routes = st.one_of(
    st.sampled_from(["out", "reply", "sideways", None]),
    st.lists(
        st.dictionaries(
            st.sampled_from(["to", "next", "out", "reply", "status", "condition", "x"]),
            st.one_of(st.sampled_from(["a", "b", "out", "ghost", ""]), st.booleans(), st.none()),
            max_size=3,
        ),
        max_size=3,
    ),
)
_nodes = st.dictionaries(
    st.sampled_from(["a", "b", "in", "1x", "c-d"]),
    st.one_of(
        _values,
        st.dictionaries(_keys, st.one_of(_values, _routes), max_size=4),
    ),
    max_size=4,
)
_docs = st.one_of(
    _values,
    st.fixed_dictionaries(
        {},
        optional={
            "id": st.one_of(st.sampled_from(["f", "", "a b"]), _scalars),
            "type": st.one_of(st.sampled_from(["messaging", "events", "chat"]), _scalars),
            "schema_version": st.one_of(st.sampled_from([1, 2, 0]), _scalars),
            "start": st.one_of(st.sampled_from(["a", "in", "ghost"]), _scalars),
            "nodes": st.one_of(_nodes, _values),
            "parameters": _values,
            "tags": _values,
            "slot_schema": _values,
            "entrypoints": _values,
        },
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_docs)
def test_the_compiler_only_raises_flow_errors_on_structured_input(doc: Any) -> None:
    text = yaml.safe_dump(doc, sort_keys=False)
    try:
        compiled = compile_ygtc(text, source="prop.ygtc")
    except FlowError as exc:
        assert str(exc).startswith("prop.ygtc")
        return
    for node in compiled.nodes.values():
        assert all(target in compiled.nodes for target in _targets(node.routing))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=string.printable + "äß\x00\x85{}[]&*!|>%@`", max_size=120))
def test_the_compiler_only_raises_flow_errors_on_arbitrary_text(text: str) -> None:
    with contextlib.suppress(FlowError):
        compile_ygtc(text)


_node_ids = st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,6}", fullmatch=True)


@st.composite
def _valid_flows(draw: st.DrawFn) -> tuple[dict[str, Any], list[str]]:
    ids = draw(st.lists(_node_ids, min_size=1, max_size=5, unique=True))
    nodes: dict[str, Any] = {}
    for node_id in ids:
        op = draw(st.sampled_from(["template", "qa.process", "handle_message", "state.get"]))
        routing = draw(
            st.one_of(
                st.sampled_from(["out", "reply", None]),
                st.lists(
                    st.builds(lambda t: {"to": t}, st.sampled_from(ids)), min_size=1, max_size=1
                ),
                st.lists(
                    st.builds(
                        lambda t, s: {"to": t, "status": s},
                        st.sampled_from(ids),
                        st.sampled_from(["ok", "err", "retry"]),
                    ),
                    min_size=1,
                    max_size=3,
                ),
            )
        )
        nodes[node_id] = {op: {"value": draw(_values)}, "routing": routing}
    return {"id": "generated", "type": "messaging", "nodes": nodes}, ids


@settings(max_examples=200, deadline=None)
@given(_valid_flows())
def test_well_formed_flows_always_compile(case: tuple[dict[str, Any], list[str]]) -> None:
    doc, ids = case
    compiled = compile_ygtc(yaml.safe_dump(doc, sort_keys=False))
    assert list(compiled.nodes) == ids
    assert compiled.start == ("in" if "in" in ids else ids[0])
    for node in compiled.nodes.values():
        assert all(target in ids for target in _targets(node.routing))
