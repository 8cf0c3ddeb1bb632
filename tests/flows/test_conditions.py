"""The route condition language: parsing, evaluation, errors, round trips (hypothesis)."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greentic_runner.errors import FlowError
from greentic_runner.flows.conditions import (
    KEYWORDS,
    MAX_DEPTH,
    BoolOp,
    Compare,
    Expr,
    ListExpr,
    Literal,
    Not,
    Path,
    compile_condition,
    evaluate,
    parse,
    to_source,
)

CTX: dict[str, Any] = {
    "in": {
        "answer": "yes",
        "age": 36,
        "tags": ["a", "b"],
        "ok": True,
        "none": None,
        "zero": 0,
        "name": "Ada Lovelace",
        "meta": {"k": 1},
    },
    "ask": {"payload": {"status": "done", "n": 2.5}},
    "state": {"nodes": {"x-y": {"payload": "dash"}}},
    "my-node": {"payload": {"list": [{"v": 1}, {"v": 2}]}},
}


def holds(source: str, ctx: dict[str, Any] | None = None) -> bool:
    return compile_condition(source).holds(CTX if ctx is None else ctx)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('in.answer == "yes"', True),
        ("in.answer == 'no'", False),
        ('in.answer != "no"', True),
        ("in.age >= 18", True),
        ("in.age < 18", False),
        ("in.age <= 36 and in.age > 35.5", True),
        ("ask.payload.n == 2.5", True),
        ('ask.payload.status == "done" or in.age < 0', True),
        ("not in.ok", False),
        ("not (in.age < 18 or in.answer == 'no')", True),
        ('"a" in in.tags', True),
        ('"c" not in in.tags', True),
        ('in.answer in ["yes", "y"]', True),
        ('"Love" in in.name', True),
        ('"meta" in in', True),
        ('"k" in in.meta', True),
        ("1 in in.name", False),
        ("in.ok == true", True),
        ("in.ok == 1", False),  # booleans never equal numbers
        ("in.zero == false", False),
        ("in.none == null", True),
        ("in.missing == null", True),
        ("in.missing.deeper.still == null", True),
        ("in.missing", False),
        ("in.zero", False),
        ("in.tags", True),
        ("in.age > 'a'", False),  # mixed types never order
        ("in.answer > 'abc'", True),
        ("state.nodes['x-y'].payload == 'dash'", True),
        ("my-node.payload.list[1].v == 2", True),
        ("my-node.payload.list.0.v == 1", True),
        ("[1, [2]] == [1, [2]]", True),
        ("in.meta == in.meta", True),
        ("-1 < 0", True),
        ("1e2 == 100", True),
        ("true and false or true", True),
        ("true and (false or false)", False),
    ],
)
def test_evaluation(source: str, expected: bool) -> None:
    assert holds(source) is expected


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("", "empty condition at column 1"),
        ("in.x ==", "expected a value but found end of condition at column 8"),
        ("a == b == c", "comparisons cannot be chained; use `and` at column 8"),
        ("(a", "expected `)` but found end of condition at column 3"),
        ("a b", "unexpected `b` at column 3"),
        ("a.", "expected a path segment after `.` at column 2"),
        ("a[x]", "expected an index or a quoted key inside `[...]` at column 3"),
        ("a[0", "expected `]` at column 4"),
        ('"open', "unterminated string at column 1"),
        ('"bad \\q"', "invalid escape \\q in string at column 6"),
        ('"\\u12"', "invalid \\u escape in string at column 2"),
        ("a = 1", "unexpected character '=' at column 3"),
        ("1abc", "malformed number '1' at column 1"),
        ("1e999", "number '1e999' is out of range at column 1"),
        ("a && b", "unexpected character '&' at column 3"),
        ("[1, 2", "expected `,` or `]` but found end of condition at column 6"),
        ("not", "expected a value but found end of condition at column 4"),
        (
            "(" * (MAX_DEPTH + 1) + "a" + ")" * (MAX_DEPTH + 1),
            f"nesting deeper than {MAX_DEPTH} levels at column {MAX_DEPTH + 2}",
        ),
        ("import os", "unexpected `os` at column 8"),
        ("__import__('os').system('x')", "unexpected character '.' at column 17"),
    ],
)
def test_syntax_errors(source: str, message: str) -> None:
    with pytest.raises(FlowError) as info:
        parse(source)
    assert str(info.value) == f"invalid condition `{source}`: {message}"


def test_non_string_conditions_are_rejected() -> None:
    with pytest.raises(FlowError, match="a condition must be a string"):
        compile_condition(["x"])  # type: ignore[arg-type]


def test_conditions_are_parsed_once() -> None:
    assert compile_condition("in.a == 1") is compile_condition("in.a == 1")


def test_in_is_both_a_root_and_an_operator() -> None:
    assert parse("in in in") == Compare("in", Path(("in",)), Path(("in",)))
    assert parse("not in.x") == Not(Path(("in", "x")))


def test_printer_output() -> None:
    expr = parse('a and (b or not c == "x") and [1, null]')
    assert to_source(expr) == 'a and (b or not c == "x") and [1, null]'
    assert to_source(parse("(not a) == b")) == "(not a) == b"
    assert to_source(parse("a or b and c")) == "a or b and c"
    assert to_source(parse("(a or b) and c")) == "(a or b) and c"
    assert to_source(parse("(a and b) and c")) == "(a and b) and c"
    assert parse("a and b and c") == BoolOp("and", (Path(("a",)), Path(("b",)), Path(("c",))))


# -- properties ---------------------------------------------------------------------------

_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,6}", fullmatch=True).filter(
    lambda name: name not in KEYWORDS
)
_segments = st.one_of(st.from_regex(r"[A-Za-z0-9_-]{1,5}", fullmatch=True), st.text(max_size=5))
_paths = st.builds(
    lambda root, rest: Path((root, *rest)),
    st.one_of(_names, st.just("in")),
    st.lists(_segments, max_size=3),
).filter(lambda path: len(path.segments) > 1 or path.segments[0] not in KEYWORDS - {"in"})
_literals = st.builds(
    Literal,
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**12), max_value=10**12),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=8),
    ),
)


def _extend(children: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    atoms = st.one_of(
        _literals,
        _paths,
        st.builds(lambda items: ListExpr(tuple(items)), st.lists(children, max_size=3)),
    )
    return st.one_of(
        st.builds(Not, children),
        st.builds(
            lambda op, items: BoolOp(op, tuple(items)),
            st.sampled_from(["and", "or"]),
            st.lists(children, min_size=2, max_size=3),
        ),
        st.builds(
            Compare,
            st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "in", "not in"]),
            atoms,
            atoms,
        ),
        st.builds(lambda items: ListExpr(tuple(items)), st.lists(children, max_size=3)),
    )


_exprs = st.recursive(st.one_of(_literals, _paths), _extend, max_leaves=12)
_json = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=4)
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=400, deadline=None)
@given(_exprs)
def test_print_then_parse_round_trips(expr: Expr) -> None:
    source = to_source(expr)
    reparsed = parse(source)
    assert to_source(reparsed) == source
    assert repr(reparsed) == repr(expr)  # repr tells 1, 1.0 and true apart


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=40))
def test_parsing_anything_raises_only_flow_errors(text: str) -> None:
    with contextlib.suppress(FlowError):
        parse(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="abin.[]()\"'0123456789=!<>-, notandorue", max_size=40))
def test_parsing_near_miss_syntax_raises_only_flow_errors(text: str) -> None:
    with contextlib.suppress(FlowError):
        parse(text)


@settings(max_examples=300, deadline=None)
@given(_exprs, st.dictionaries(st.sampled_from(["in", "a", "b", "state"]), _json))
def test_evaluation_never_raises(expr: Expr, context: dict[str, Any]) -> None:
    evaluate(expr, context)
    assert isinstance(compile_condition(to_source(expr)).holds(context), bool)
