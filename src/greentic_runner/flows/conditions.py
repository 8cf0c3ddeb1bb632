"""Route conditions: a small, safe expression language (no Python ``eval``).

Grammar (lowest precedence first)::

    expr     := or
    or       := and ("or" and)*
    and      := not ("and" not)*
    not      := "not" not | compare
    compare  := atom [("==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not in") atom]
    atom     := literal | path | "[" [expr ("," expr)*] "]" | "(" expr ")"
    literal  := "string" | 'string' | number | true | false | null
    path     := name ("." segment | "[" digits "]" | "[" string "]")*

A path reads the evaluation context (``in.answer``, ``node_id.payload.status``); a missing
path is ``null``. Comparisons never raise: ``<`` and friends are false unless both sides are
numbers or both are strings, and ``==`` is JSON equality (``true`` is not ``1``). A bare
operand is tested for truthiness (``null``, ``false``, ``0``, ``""``, ``[]``, ``{}`` are false).

Conditions are parsed once and cached; a syntax error is a :class:`FlowError` that quotes the
source and the column.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..errors import FlowError

MAX_DEPTH = 64  # nesting of parentheses / not / lists; keeps recursion bounded

KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false", "null"})
COMPARISONS = ("==", "!=", "<", "<=", ">", ">=", "in", "not in")

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]+)?)(?:[eE][+-]?[0-9]+)?")
_INDEX = re.compile(r"[0-9]+")
_DIGITS = "0123456789"
_DIGITS_1 = tuple(_DIGITS)
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n"}
_ESCAPES |= {"r": "\r", "t": "\t"}

# -- syntax tree ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Literal:
    value: str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class Path:
    segments: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ListExpr:
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Not:
    operand: Expr


@dataclass(frozen=True, slots=True)
class BoolOp:
    """``and`` / ``or`` over two or more operands, evaluated left to right, short-circuit."""

    op: str
    operands: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Compare:
    op: str
    left: Expr
    right: Expr


Expr = Literal | Path | ListExpr | Not | BoolOp | Compare


# -- tokens -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "literal" | "path" | "kw" | "op" | "end"
    value: Any
    column: int


class _Tokenizer:
    def __init__(self, source: str) -> None:
        self.source = source
        self.pos = 0
        self.tokens: list[_Token] = []

    def fail(self, message: str, column: int) -> FlowError:
        return FlowError(f"invalid condition `{self.source}`: {message} at column {column + 1}")

    def run(self) -> list[_Token]:
        src = self.source
        while True:
            while self.pos < len(src) and src[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos >= len(src):
                self.tokens.append(_Token("end", None, self.pos))
                return self.tokens
            start = self.pos
            char = src[start]
            if char in "\"'":
                self.tokens.append(_Token("literal", self._string(char), start))
            elif char in _DIGITS or (char == "-" and src[start + 1 : start + 2] in _DIGITS_1):
                self.tokens.append(_Token("literal", self._number(), start))
            elif _NAME.match(src, start):
                self._word()
            else:
                for op in ("==", "!=", "<=", ">=", "<", ">", "(", ")", "[", "]", ","):
                    if src.startswith(op, start):
                        self.tokens.append(_Token("op", op, start))
                        self.pos += len(op)
                        break
                else:
                    raise self.fail(f"unexpected character {char!r}", start)

    def _string(self, quote: str) -> str:
        src, start = self.source, self.pos
        self.pos += 1
        out: list[str] = []
        while self.pos < len(src):
            char = src[self.pos]
            if char == quote:
                self.pos += 1
                return "".join(out)
            if char == "\\":
                escape = src[self.pos + 1 : self.pos + 2]
                if escape == "u":
                    digits = src[self.pos + 2 : self.pos + 6]
                    if not re.fullmatch(r"[0-9a-fA-F]{4}", digits):
                        raise self.fail("invalid \\u escape in string", self.pos)
                    out.append(chr(int(digits, 16)))
                    self.pos += 6
                    continue
                if escape not in _ESCAPES:
                    raise self.fail(f"invalid escape \\{escape} in string", self.pos)
                out.append(_ESCAPES[escape])
                self.pos += 2
                continue
            out.append(char)
            self.pos += 1
        raise self.fail("unterminated string", start)

    def _number(self) -> int | float:
        match = _NUMBER.match(self.source, self.pos)
        assert match is not None  # the caller saw a digit
        text = match.group()
        self.pos = match.end()
        if _NAME.match(self.source, self.pos) or self.source.startswith(".", self.pos):
            raise self.fail(f"malformed number {text!r}", match.start())
        if "." in text or "e" in text.lower():
            value = float(text)
            if value in (float("inf"), float("-inf")):
                raise self.fail(f"number {text!r} is out of range", match.start())
            return value
        return int(text)

    def _word(self) -> None:
        src, start = self.source, self.pos
        match = _NAME.match(src, start)
        assert match is not None
        word = match.group()
        self.pos = match.end()
        is_path = self.pos < len(src) and src[self.pos] in ".["
        if word in KEYWORDS and not is_path:
            self.tokens.append(_Token("kw", word, start))
            return
        segments = [word]
        while self.pos < len(src) and src[self.pos] in ".[":
            segments.append(self._segment())
        self.tokens.append(_Token("path", tuple(segments), start))

    def _segment(self) -> str:
        src = self.source
        if src[self.pos] == ".":
            match = _SEGMENT.match(src, self.pos + 1)
            if match is None:
                raise self.fail("expected a path segment after `.`", self.pos)
            self.pos = match.end()
            return match.group()
        self.pos += 1  # "["
        if self.pos < len(src) and src[self.pos] in "\"'":
            segment = self._string(src[self.pos])
        else:
            match = _INDEX.match(src, self.pos)
            if match is None:
                raise self.fail("expected an index or a quoted key inside `[...]`", self.pos)
            segment = match.group()
            self.pos = match.end()
        if not src.startswith("]", self.pos):
            raise self.fail("expected `]`", self.pos)
        self.pos += 1
        return segment


# -- parser -----------------------------------------------------------------------------


class _Parser:
    def __init__(self, source: str) -> None:
        self.tokenizer = _Tokenizer(source)
        self.tokens = self.tokenizer.run()
        self.index = 0
        self.depth = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def fail(self, message: str, token: _Token | None = None) -> FlowError:
        return self.tokenizer.fail(message, (token or self.token).column)

    def is_(self, kind: str, value: Any = None) -> bool:
        token = self.token
        return token.kind == kind and (value is None or token.value == value)

    def advance(self) -> _Token:
        token = self.token
        self.index += 1
        return token

    def describe(self, token: _Token) -> str:
        if token.kind == "end":
            return "end of condition"
        if token.kind == "path":
            return f"`{_print_path(token.value)}`"
        if token.kind == "literal":
            return f"`{_print_literal(token.value)}`"
        return f"`{token.value}`"

    def nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(f"nesting deeper than {MAX_DEPTH} levels")

    def parse(self) -> Expr:
        if self.is_("end"):
            raise self.fail("empty condition")
        expr = self.parse_or()
        if not self.is_("end"):
            raise self.fail(f"unexpected {self.describe(self.token)}")
        return expr

    def parse_or(self) -> Expr:
        return self._bool_chain("or", self.parse_and)

    def parse_and(self) -> Expr:
        return self._bool_chain("and", self.parse_not)

    def _bool_chain(self, op: str, operand: Any) -> Expr:
        items = [operand()]
        while self.is_("kw", op):
            self.advance()
            items.append(operand())
        return items[0] if len(items) == 1 else BoolOp(op, tuple(items))

    def parse_not(self) -> Expr:
        if self.is_("kw", "not"):
            self.advance()
            self.nest()
            operand = self.parse_not()
            self.depth -= 1
            return Not(operand)
        return self.parse_compare()

    def parse_compare(self) -> Expr:
        left = self.parse_atom()
        op: str | None = None
        if self.token.kind == "op" and self.token.value in COMPARISONS:
            op = self.advance().value
        elif self.is_("kw", "in"):
            self.advance()
            op = "in"
        elif self.is_("kw", "not") and self._next_is_in():
            self.index += 2
            op = "not in"
        if op is None:
            return left
        right = self.parse_atom()
        if (self.token.kind == "op" and self.token.value in COMPARISONS) or self.is_("kw", "in"):
            raise self.fail("comparisons cannot be chained; use `and`")
        return Compare(op, left, right)

    def _next_is_in(self) -> bool:
        following = self.tokens[self.index + 1]
        return following.kind == "kw" and following.value == "in"

    def parse_atom(self) -> Expr:
        token = self.token
        if token.kind == "literal":
            self.advance()
            return Literal(token.value)
        if token.kind == "path":
            self.advance()
            return Path(token.value)
        if token.kind == "kw":
            if token.value in ("true", "false", "null"):
                self.advance()
                return Literal({"true": True, "false": False, "null": None}[token.value])
            if token.value == "in":  # the context root `in` used as a value
                self.advance()
                return Path(("in",))
        if self.is_("op", "("):
            self.advance()
            self.nest()
            inner = self.parse_or()
            self.depth -= 1
            if not self.is_("op", ")"):
                raise self.fail(f"expected `)` but found {self.describe(self.token)}")
            self.advance()
            return inner
        if self.is_("op", "["):
            return self.parse_list()
        raise self.fail(f"expected a value but found {self.describe(token)}", token)

    def parse_list(self) -> Expr:
        self.advance()
        self.nest()
        items: list[Expr] = []
        if not self.is_("op", "]"):
            items.append(self.parse_or())
            while self.is_("op", ","):
                self.advance()
                items.append(self.parse_or())
        if not self.is_("op", "]"):
            raise self.fail(f"expected `,` or `]` but found {self.describe(self.token)}")
        self.advance()
        self.depth -= 1
        return ListExpr(tuple(items))


def parse(source: str) -> Expr:
    """Parse a condition into its syntax tree; FlowError (with the column) when invalid."""
    if not isinstance(source, str):
        raise FlowError(f"invalid condition {source!r}: a condition must be a string")
    return _Parser(source).parse()


# -- printer ----------------------------------------------------------------------------

_PRECEDENCE = {"or": 1, "and": 2}


def _print_literal(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


def _print_path(segments: tuple[str, ...]) -> str:
    out = segments[0]
    for segment in segments[1:]:
        if _SEGMENT.fullmatch(segment):
            out += f".{segment}"
        else:
            out += f"[{json.dumps(segment, ensure_ascii=False)}]"
    return out


def _precedence(expr: Expr) -> int:
    if isinstance(expr, BoolOp):
        return _PRECEDENCE[expr.op]
    if isinstance(expr, Not):
        return 3
    if isinstance(expr, Compare):
        return 4
    return 5


def to_source(expr: Expr, minimum: int = 0) -> str:
    """Print ``expr`` so that :func:`parse` gives the same tree back (round trip)."""
    if isinstance(expr, Literal):
        text = _print_literal(expr.value)
    elif isinstance(expr, Path):
        text = _print_path(expr.segments)
    elif isinstance(expr, ListExpr):
        text = "[" + ", ".join(to_source(item) for item in expr.items) + "]"
    elif isinstance(expr, Not):
        text = f"not {to_source(expr.operand, 3)}"
    elif isinstance(expr, BoolOp):
        # Operands of the same operator get parentheses, so nested chains keep their shape.
        own = _PRECEDENCE[expr.op]
        text = f" {expr.op} ".join(to_source(item, own + 1) for item in expr.operands)
    else:
        text = f"{to_source(expr.left, 5)} {expr.op} {to_source(expr.right, 5)}"
    return f"({text})" if _precedence(expr) < minimum else text


# -- evaluation -------------------------------------------------------------------------

_MISSING = object()


def lookup(root: Any, segments: tuple[str, ...] | list[str]) -> Any:
    """Follow object keys / array indexes; ``None`` when any step is missing."""
    value = root
    for segment in segments:
        if isinstance(value, Mapping):
            value = value.get(segment, _MISSING)
        elif isinstance(value, list) and is_index(segment) and int(segment) < len(value):
            value = value[int(segment)]
        else:
            return None
        if value is _MISSING:
            return None
    return value


def is_index(segment: str) -> bool:
    """ASCII digits only: ``"¹".isdigit()`` is true but ``int("¹")`` fails."""
    return segment.isascii() and segment.isdigit()


def truthy(value: Any) -> bool:
    """JSON truthiness: null, false, 0, "", [] and {} are false."""
    if value is None or value is False:
        return False
    if isinstance(value, int | float | str | list | dict):
        return bool(value)
    return True


def json_equal(left: Any, right: Any) -> bool:
    """Equality of JSON values where booleans never equal numbers."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left is right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(json_equal, left, right))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(json_equal(left[k], right[k]) for k in left)
    if type(left) is not type(right):
        return False
    return bool(left == right)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _order(op: str, left: Any, right: Any) -> bool:
    if not (
        (_is_number(left) and _is_number(right))
        or (isinstance(left, str) and isinstance(right, str))
    ):
        return False
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


def _contains(container: Any, item: Any) -> bool:
    if isinstance(container, list):
        return any(json_equal(item, element) for element in container)
    if isinstance(container, str):
        return isinstance(item, str) and item in container
    if isinstance(container, dict):
        return isinstance(item, str) and item in container
    return False


def evaluate(expr: Expr, context: Mapping[str, Any]) -> Any:
    """The JSON value of ``expr`` in ``context``; never raises for well-formed trees."""
    if isinstance(expr, Literal):
        return expr.value
    if isinstance(expr, Path):
        return lookup(context, expr.segments)
    if isinstance(expr, ListExpr):
        return [evaluate(item, context) for item in expr.items]
    if isinstance(expr, Not):
        return not truthy(evaluate(expr.operand, context))
    if isinstance(expr, BoolOp):
        if expr.op == "and":
            return all(truthy(evaluate(item, context)) for item in expr.operands)
        return any(truthy(evaluate(item, context)) for item in expr.operands)
    left, right = evaluate(expr.left, context), evaluate(expr.right, context)
    if expr.op == "==":
        return json_equal(left, right)
    if expr.op == "!=":
        return not json_equal(left, right)
    if expr.op == "in":
        return _contains(right, left)
    if expr.op == "not in":
        return not _contains(right, left)
    return _order(expr.op, left, right)


@dataclass(frozen=True, slots=True)
class Condition:
    """A parsed condition; :meth:`holds` tests it against a context."""

    source: str
    expr: Expr

    def holds(self, context: Mapping[str, Any]) -> bool:
        return truthy(evaluate(self.expr, context))


def compile_condition(source: str) -> Condition:
    """Parse once per distinct source text (cached); FlowError when the syntax is invalid."""
    if not isinstance(source, str):
        raise FlowError(f"invalid condition {source!r}: a condition must be a string")
    return _compile(source)


@lru_cache(maxsize=2048)
def _compile(source: str) -> Condition:
    return Condition(source, parse(source))
