"""Template context, typed injection, Handlebars semantics, pointers and legacy paths."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greentic_runner.errors import FlowError
from greentic_runner.flows.model import Flow
from greentic_runner.flows.snapshot import ExecutionState, NodeOutput
from greentic_runner.flows.templating import (
    TemplateError,
    _compile,
    json_pointer,
    render_string,
    render_value,
    resolve_bare_paths,
    template_context,
)

CTX: dict[str, Any] = {
    "in": {
        "name": "Ada",
        "count": 3,
        "ok": True,
        "none": None,
        "tags": ["a", "b"],
        "html": "<b>&'\"",
    },
    "fc": {"payload": {"forecast": [{"date": "mon", "t": 1}, {"date": "tue", "t": 2}]}},
    "empty": [],
}


# -- typed injection ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{in.count}}", 3),
        ("{{in.ok}}", True),
        ("{{in.tags}}", ["a", "b"]),
        ("{{in.none}}", None),
        ("  {{ in.name }}  ", "Ada"),
        ("{{{in.count}}}", 3),
        ("{{in.tags.1}}", "b"),
        ("{{in.tags[0]}}", "a"),
        ("{{fc.payload.forecast.[1].date}}", "tue"),
        ("{{this.in.count}}", 3),
        ("{{in.missing.deep}}", ""),
        ("{{in.count}} items", "3 items"),
        ("{{in.name}}{{in.count}}", "Ada3"),
        ("{{true}}", "true"),
    ],
    ids=[
        "number",
        "bool",
        "array",
        "null",
        "spaces",
        "triple",
        "index-dot",
        "index-bracket",
        "handlebars-index",
        "this",
        "missing",
        "mixed",
        "two-paths",
        "keyword",
    ],
)
def test_typed_injection(template: str, expected: Any) -> None:
    assert render_value(template, CTX) == expected


def test_injected_values_are_copies() -> None:
    ctx = {"in": {"tags": ["a"]}}
    value = render_value({"t": "{{in.tags}}"}, ctx)
    value["t"].append("mutated")
    assert ctx["in"]["tags"] == ["a"]


def test_render_value_walks_objects_and_arrays_and_keeps_other_values() -> None:
    template = {"a": ["{{in.name}}", 1, None, {"b": "plain {not a template}"}], "c": False}
    assert render_value(template, CTX) == {
        "a": ["Ada", 1, None, {"b": "plain {not a template}"}],
        "c": False,
    }


# -- Handlebars semantics -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("Hi {{in.name}}!", "Hi Ada!"),
        ("{{#if in.ok}}yes{{else}}no{{/if}}", "yes"),
        ("{{#if in.none}}yes{{else}}no{{/if}}", "no"),
        ("{{#unless in.ok}}a{{else}}b{{/unless}}", "b"),
        ("{{#each in.tags}}[{{this}}]{{/each}}", "[a][b]"),
        ("{{#each in.tags}}{{@index}}{{/each}}.", "01."),
        (
            "{{#fc.payload.forecast}}- {{date}}: {{t}}\n{{/fc.payload.forecast}}",
            "- mon: 1\n- tue: 2\n",
        ),
        ("{{#empty}}x{{/empty}}.", "."),
        ("[{{in.missing}}][{{nope.x.y}}]", "[][]"),
        ("<{{in.html}}>", "<<b>&'\">"),
        ("{{fc.payload.forecast.0.date}} and {{fc.payload.forecast.1.t}}", "mon and 2"),
    ],
    ids=[
        "path",
        "if",
        "if-null",
        "unless-else",
        "each",
        "each-index",
        "mustache-section",
        "empty-section",
        "missing",
        "no-html-escape",
        "numeric-segments",
    ],
)
def test_handlebars(template: str, expected: str) -> None:
    assert render_value(template, CTX) == expected


@pytest.mark.parametrize(
    "template",
    ["{{#if in.ok}}never closed", "{{/if}}", "x {{in.name", "{{> nopartial}}", "{{nohelper in.x}}"],
    ids=["unclosed-block", "stray-close", "unclosed-tag", "partial", "helper"],
)
def test_template_errors(template: str) -> None:
    with pytest.raises(TemplateError) as info:
        render_value({"text": template}, CTX)
    assert isinstance(info.value, FlowError)
    assert repr(template) in str(info.value)


def test_templates_compile_once() -> None:
    source = "cached {{#if in.name}}{{in.name}}{{/if}} 8c1e"  # not plain: Handlebars renders it
    render_string(source, CTX)
    before = _compile.cache_info()
    render_string(source, {"in": {"name": "Bob"}})
    after = _compile.cache_info()
    assert (after.hits - before.hits, after.misses - before.misses) == (1, 0)


def test_plain_templates_are_planned_once() -> None:
    source = "planned {{in.name}} 41f0"
    render_string(source, CTX)
    before = _plain_plan.cache_info()
    assert render_string(source, {"in": {"name": "Bob"}}) == "planned Bob 41f0"
    after = _plain_plan.cache_info()
    assert (after.hits - before.hits, after.misses - before.misses) == (1, 0)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="{}#/^!>&.ab01 -\"'\\[]@", max_size=40))
def test_rendering_arbitrary_text_never_raises_anything_but_template_errors(text: str) -> None:
    try:
        result = render_value("{{" + text, CTX)
    except TemplateError:
        return
    assert isinstance(result, str | int | bool | list | dict) or result is None


# -- pointers and legacy paths ------------------------------------------------------------


def test_pointer_mode() -> None:
    ctx = {"input": {"a/b": {"~x": [10, 20]}}}
    assert render_value("/input/a~1b/~0x/1", ctx, pointer=True) == 20
    assert render_value("/input", ctx) == "/input"  # only in pointer mode
    with pytest.raises(TemplateError, match="mapping path `/input/zzz` not found"):
        json_pointer(ctx, "/input/zzz")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("in.name", "Ada"),
        ("in.tags.0", "a"),
        ("in.absent", None),
        ("unknown.root", "unknown.root"),
        ("plain", "plain"),
        ("v1.2", "v1.2"),
        ({"x": ["in.count"]}, {"x": [3]}),
        (5, 5),
    ],
)
def test_resolve_bare_paths(value: Any, expected: Any) -> None:
    assert resolve_bare_paths(value, CTX) == expected


# -- template context ---------------------------------------------------------------------


def test_template_context_roots() -> None:
    state = ExecutionState.new({"text": "hi"})
    state.input = {"text": "second"}
    state.nodes["ask"] = NodeOutput(True, {"city": "Oslo"}, {"qa": {"status": "complete"}})
    state.nodes["calc"] = NodeOutput(True, {"n": 1}, None)
    state.nodes["state"] = NodeOutput(True, "shadowed", None)
    state.last_output = {"n": 1}
    state.redirect_count = 2
    flow = Flow(id="f1", flow_type="messaging", nodes={}, parameters={"days": 3})
    ctx = template_context(state, flow)
    assert ctx["entry"] == {"text": "hi"}
    assert ctx["in"] == {"text": "hi", "city": "Oslo"}  # entry plus collected answers
    assert ctx["input"] == {"text": "second"}
    assert ctx["prev"] == {"n": 1}
    assert ctx["node"] == {"ask": {"city": "Oslo"}, "calc": {"n": 1}, "state": "shadowed"}
    assert ctx["calc"] == {"ok": True, "payload": {"n": 1}, "meta": None}
    assert ctx["state"]["city"] == "Oslo" and ctx["state"]["redirect_count"] == 2
    assert ctx["state"]["nodes"]["calc"]["payload"] == {"n": 1}  # reserved root wins
    assert ctx["parameters"] == {"days": 3}
    assert ctx["flow"] == {"days": 3, "id": "f1", "type": "messaging"}


def test_template_context_defaults() -> None:
    ctx = template_context(ExecutionState(), Flow(id="f", flow_type="messaging", nodes={}))
    assert (ctx["entry"], ctx["in"], ctx["prev"], ctx["input"]) == ({}, {}, {}, None)


VALUES = st.none() | st.text(max_size=3) | st.dictionaries(st.text(max_size=2), st.integers())


@given(VALUES, VALUES, VALUES, st.integers(0, 3))
def test_a_first_node_sees_every_root_with_no_node_outputs(
    entry: Any, input: Any, last: Any, redirects: int
) -> None:
    state = ExecutionState(entry=entry, input=input, last_output=last, redirect_count=redirects)
    flow = Flow(id="f", flow_type="messaging", nodes={}, parameters={"days": 3})
    shown_entry = {} if entry is None else entry
    assert template_context(state, flow) == {
        "entry": shown_entry,
        "in": shown_entry,
        "input": input,
        "prev": {} if last is None else last,
        "node": {},
        "state": {"entry": entry, "input": input, "nodes": {}, "redirect_count": redirects},
        "parameters": {"days": 3},
        "flow": {"days": 3, "id": "f", "type": "messaging"},
    }


def test_the_flow_root_is_built_once_per_flow() -> None:
    flow = Flow(id="f", flow_type="messaging", nodes={}, parameters={"id": "shadowed"})
    first = template_context(ExecutionState(), flow)["flow"]
    state = ExecutionState()
    state.nodes["a"] = NodeOutput(True, 1, None)
    assert template_context(state, flow)["flow"] is first
    assert first == {"id": "f", "type": "messaging"}  # the flow's own id wins


def test_answers_replace_a_non_object_entry_view() -> None:
    state = ExecutionState.new("just text")
    state.nodes["ask"] = NodeOutput(True, {"a": 1}, {"qa": {"status": "waiting"}})
    ctx = template_context(state, Flow(id="f", flow_type="messaging", nodes={}))
    assert ctx["in"] == {"a": 1} and ctx["entry"] == "just text"


# -- the plain-template fast path must agree with Handlebars ------------------------------

from hypothesis import given as _given  # noqa: E402
from hypothesis import strategies as _st  # noqa: E402

from greentic_runner.flows.templating import (  # noqa: E402
    _plain_plan,
    render_with_handlebars,
)

_KEYS = _st.sampled_from(["a", "b", "in", "text", "x_1", "node-2", "if", "this", "each"])
_LEAVES = (
    _st.none()
    | _st.booleans()
    | _st.integers(-(10**6), 10**6)
    | _st.floats(allow_nan=False, allow_infinity=False, width=32)
    | _st.text(max_size=6)
)
_VALUES = _st.recursive(
    _LEAVES,
    lambda children: (
        _st.lists(children, max_size=3) | _st.dictionaries(_KEYS, children, max_size=3)
    ),
    max_leaves=10,
)
_PATHS = _st.lists(_KEYS, min_size=1, max_size=3).map(".".join)
_LITERALS = _st.text(alphabet="ab {}:\\-.,\n", max_size=6)
_TEMPLATES = _st.lists(
    _st.tuples(_LITERALS, _PATHS, _st.sampled_from(["", " "])), min_size=1, max_size=4
).map(lambda parts: "".join(f"{lit}{{{{{sp}{path}{sp}}}}}" for lit, path, sp in parts))


@_given(template=_TEMPLATES, context=_st.dictionaries(_KEYS, _VALUES, max_size=4))
def test_plain_fast_path_renders_exactly_like_handlebars(
    template: str, context: dict[str, object]
) -> None:
    try:
        expected = render_with_handlebars(template, context)
    except Exception:
        return  # not a valid template for Handlebars either; render_string raises TemplateError
    assert render_string(template, context) == expected


def test_plain_plan_only_takes_plain_tags() -> None:
    assert _plain_plan("Hello {{in.text}}, {{ name }}!") is not None
    for source in [
        "{{#if a}}x{{/if}}",
        "{{a.0}}",
        "{{{a}}}",
        "\\{{a}}",
        "{{lookup a b}}",
        "{{this}}",
        "{{else}}",
    ]:
        assert _plain_plan(source) is None, source


# -- compiled templates ---------------------------------------------------------------------

from greentic_runner.flows.templating import compile_template  # noqa: E402

_STRINGS = (
    _TEMPLATES
    | _LITERALS
    | _PATHS.map(lambda path: f"{{{{{path}}}}}")
    | _st.sampled_from(["{{#if a}}yes{{/if}}", "{{a.0}}", "{{{a}}}", "{{#each", "x {{a}} y"])
)
_MAPPINGS = _st.recursive(
    _STRINGS | _LEAVES,
    lambda children: (
        _st.lists(children, max_size=3) | _st.dictionaries(_KEYS, children, max_size=3)
    ),
    max_leaves=8,
)


def _outcome(render: Any) -> tuple[str, Any]:
    try:
        return "ok", render()
    except TemplateError as exc:
        return "error", str(exc)


@_given(mapping=_MAPPINGS, context=_st.dictionaries(_KEYS, _VALUES, max_size=4))
def test_compiled_mappings_render_exactly_like_render_value(
    mapping: Any, context: dict[str, Any]
) -> None:
    compiled = compile_template(mapping)
    assert _outcome(lambda: compiled(context)) == _outcome(lambda: render_value(mapping, context))


def test_compiled_mappings_build_fresh_containers_and_copy_values() -> None:
    context = {"in": {"items": [1, 2]}}
    compiled = compile_template({"list": "{{in.items}}", "nested": ["{{in.items}}"]})
    first, second = compiled(context), compiled(context)
    assert first == {"list": [1, 2], "nested": [[1, 2]]}
    assert first is not second and first["nested"] is not second["nested"]
    assert first["list"] is not context["in"]["items"]
