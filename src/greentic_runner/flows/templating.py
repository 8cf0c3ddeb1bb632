"""Node input templating: the template context and Handlebars rendering (spec §5.3).

Rules, in the order they apply to each string of a node's mapping:

1. A string without ``{{`` is left as it is (nothing is compiled).
2. **Typed injection**: a string that is exactly one path expression (``"{{in.count}}"``,
   surrounding whitespace and triple braces allowed) becomes the raw JSON value at that path,
   so numbers, booleans, objects and arrays keep their type. A present ``null`` injects
   ``null``; a missing path renders ``""`` like Handlebars would.
3. Anything else is a Handlebars template rendered to a string, without HTML escaping;
   missing values render empty. Templates are compiled once and cached.

Pointer mode (provider ``in_map``/``out_map`` and node ``out_map``): a string that starts
with ``/`` and has no ``{{`` is an RFC 6901 JSON pointer into the context, and a pointer that
resolves to nothing is an error.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from dotpromptz_handlebars import EscapeFunction, Handlebars

from ..errors import FlowError
from .conditions import is_index, lookup
from .model import Flow
from .snapshot import ExecutionState

log = logging.getLogger(__name__)

QA_META = "qa"  # NodeOutput.meta key that marks a qa.process / questions node
RESERVED_ROOTS = ("entry", "in", "input", "prev", "node", "state", "parameters", "flow")

# Chat text is not HTML: the reference registers handlebars' no_escape too.
_HANDLEBARS = Handlebars(escape_fn=EscapeFunction.NO_ESCAPE)

_ROOT = r"[A-Za-z_][\w-]*"
_TAIL = r"(?:\.[\w-]+|\.?\[[0-9]+\]|\.?\[\"[^\"]*\"\]|\.?\['[^']*'\])*"
_EXACT = re.compile(r"\s*(\{\{\{?)\s*(" + _ROOT + _TAIL + r")\s*(\}?\}\})\s*")
_BARE = re.compile(rf"({_ROOT})((?:\.[\w-]+)+)")
_SEGMENTS = re.compile(r"\.?([\w-]+)|\.?\[([0-9]+)\]|\.?\[\"([^\"]*)\"\]|\.?\['([^']*)'\]")
_NOT_PATHS = frozenset({"true", "false", "null", "undefined", "else", "this"})


class TemplateError(FlowError):
    """A template that does not compile or render; the engine adds flow and node."""


def collected_answers(state: ExecutionState) -> dict[str, Any]:
    """Answers gathered so far by qa.process / questions nodes, merged in node order."""
    answers: dict[str, Any] = {}
    for output in state.nodes.values():
        qa_node = isinstance(output.meta, dict) and QA_META in output.meta
        if qa_node and isinstance(output.payload, dict):
            answers.update(output.payload)
    return answers


def template_context(state: ExecutionState, flow: Flow) -> dict[str, Any]:
    """The context every node mapping renders against (see docs/flows.md).

    Node outputs are addressable by id (``{{ask.payload.city}}``) unless the id collides
    with a reserved root; reserved roots always win.
    """
    entry = state.entry if state.entry is not None else {}
    if not state.nodes:  # a turn's first node: no outputs or answers to gather
        first_state: dict[str, Any] = {
            "entry": state.entry,
            "input": state.input,
            "nodes": {},
            "redirect_count": state.redirect_count,
        }
        return _roots(state, flow, entry, entry, first_state, {})
    answers = collected_answers(state)
    nodes = {node_id: output.to_dict() for node_id, output in state.nodes.items()}
    context: dict[str, Any] = dict(nodes)
    if answers:
        entry_view = {**entry, **answers} if isinstance(entry, dict) else dict(answers)
    else:
        entry_view = entry
    state_view = dict(answers)
    state_view.update(
        entry=state.entry,
        input=state.input,
        nodes=nodes,
        redirect_count=state.redirect_count,
    )
    payloads = {node_id: output.payload for node_id, output in state.nodes.items()}
    context.update(_roots(state, flow, entry, entry_view, state_view, payloads))
    return context


def _roots(
    state: ExecutionState,
    flow: Flow,
    entry: Any,
    entry_view: Any,
    state_view: dict[str, Any],
    payloads: dict[str, Any],
) -> dict[str, Any]:
    """The reserved roots of a template context, in one dict display."""
    return {
        "entry": entry,
        "in": entry_view,
        "input": state.input,
        "prev": state.last_output if state.last_output is not None else {},
        "node": payloads,
        "state": state_view,
        "parameters": flow.parameters,
        "flow": _flow_view(flow),
    }


def _flow_view(flow: Flow) -> dict[str, Any]:
    """The ``flow`` root, built once per flow (Flow.template_view)."""
    view: dict[str, Any] | None = flow.template_view
    if view is None:
        view = {**flow.parameters, "id": flow.id, "type": flow.flow_type}
        object.__setattr__(flow, "template_view", view)  # a cache on a frozen record
    return view


def parse_path(expr: str) -> list[str] | None:
    """Segments of a Handlebars-style path (``a.b[0]["c d"]``), or None if it is not one."""
    match = re.fullmatch(rf"({_ROOT})({_TAIL})", expr.strip())
    if match is None or (match.group(1) in _NOT_PATHS and not match.group(2)):
        return None
    segments = [match.group(1)]
    for found in _SEGMENTS.finditer(match.group(2)):
        segments.append(next(group for group in found.groups() if group is not None))
    if segments[0] == "this":
        segments.pop(0)
    return segments


_MUSTACHE = re.compile(r"\{\{.*?\}\}", re.DOTALL)
_DOTTED = re.compile(r"[A-Za-z_@][\w-]*(?:\.(?:\[[^\]]*\]|[\w-]+))+")
_INDEX = re.compile(r"\.([0-9]+)(?=\.|$)")


def _index_segments(source: str) -> str:
    """``{{a.0.b}}`` → ``{{a.[0].b}}``: Handlebars.js accepts numeric path segments, the
    Python engine only their bracketed form."""

    def path(match: re.Match[str]) -> str:
        return _INDEX.sub(r".[\1]", match.group())

    return _MUSTACHE.sub(lambda tag: _DOTTED.sub(path, tag.group()), source)


@lru_cache(maxsize=4096)
def _compile(source: str) -> Callable[..., str]:
    return _HANDLEBARS.compile(_index_segments(source))


# Plain interpolation: ``{{ a.b_c }}`` tags only. Most real templates are this shape, and
# rendering them without the Handlebars interpreter is several times faster.
_PLAIN_TAG = re.compile(r"\{\{\s*([A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)*)\s*\}\}")
_BUILTIN_HELPERS = frozenset(
    {"if", "unless", "each", "with", "lookup", "log", "blockHelperMissing"}
)
_Plan = tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]


@lru_cache(maxsize=4096)
def _plain_plan(source: str) -> _Plan | None:
    """(literals, paths) when ``source`` uses nothing but plain path tags, else None."""
    parts = _PLAIN_TAG.split(source)
    literals, paths = tuple(parts[0::2]), parts[1::2]
    if any(char in text for text in literals for char in "{}\\"):
        return None
    split = tuple(tuple(path.split(".")) for path in paths)
    special = _NOT_PATHS | _BUILTIN_HELPERS
    if any(segment in special for path in split for segment in path):
        return None
    return literals, split


def _render_plain(plan: _Plan, context: Any) -> str | None:
    """Handlebars' output for a plain template; None when a value needs Handlebars'
    own formatting (floats, arrays, objects)."""
    literals, paths = plan
    out = [literals[0]]
    for path, literal in zip(paths, literals[1:], strict=True):
        value = _resolve(context, path)
        if value is _MISSING or value is None:
            text = ""
        elif isinstance(value, str):
            text = value
        elif isinstance(value, bool):
            text = "true" if value else "false"
        elif type(value) is int:
            text = str(value)
        else:
            return None
        out += (text, literal)
    return "".join(out)


def render_string(source: str, context: Any) -> str:
    """Render one Handlebars template (compiled once per distinct source)."""
    plan = _plain_plan(source)
    if plan is not None:
        rendered = _render_plain(plan, context)
        if rendered is not None:
            return rendered
    # dotpromptz-handlebars reports syntax and runtime problems (unclosed blocks, unknown
    # helpers, missing partials) with plain exceptions: this is the one translation point.
    try:
        return _compile(source)(context)
    except Exception as exc:
        raise TemplateError(f"{exc} in template {source!r}") from exc


def render_with_handlebars(source: str, context: Any) -> str:
    """Always the Handlebars interpreter (the reference for the plain-template fast path)."""
    return _compile(source)(context)


@lru_cache(maxsize=4096)  # templates repeat on every turn; the regex work need not
def _exact_path(raw: str) -> tuple[str, ...] | None:
    """The path of a template that is one tag and nothing else (``{{a.b}}``), else None."""
    match = _EXACT.fullmatch(raw)
    if match is None or len(match.group(1)) != len(match.group(3)):
        return None
    segments = parse_path(match.group(2))
    return tuple(segments) if segments is not None else None


def _exact_value(raw: str, context: Any) -> tuple[bool, Any]:
    segments = _exact_path(raw)
    if segments is None:
        return False, None
    value = _resolve(context, segments)
    if value is _MISSING:
        log.debug("template %s resolved to nothing; injecting ''", raw)
        return True, ""
    return True, copy.deepcopy(value)  # never alias live state into a payload


_MISSING = object()


def _resolve(root: Any, segments: Sequence[str]) -> Any:
    value = root
    for segment in segments:
        if isinstance(value, dict) and segment in value:
            value = value[segment]
        elif isinstance(value, list) and is_index(segment) and int(segment) < len(value):
            value = value[int(segment)]
        else:
            return _MISSING
    return value


def json_pointer(context: Any, pointer: str) -> Any:
    """Resolve an RFC 6901 pointer; TemplateError ``mapping path `p` not found``."""
    value = context
    for token in pointer.split("/")[1:]:
        key = token.replace("~1", "/").replace("~0", "~")
        found = _resolve(value, [key])
        if found is _MISSING:
            raise TemplateError(f"mapping path `{pointer}` not found")
        value = found
    return copy.deepcopy(value)


def render_value(template: Any, context: Any, *, pointer: bool = False) -> Any:
    """Render every string of a JSON value (objects and arrays recursively)."""
    if isinstance(template, str):
        if pointer and template.startswith("/") and "{{" not in template:
            return json_pointer(context, template)
        if "{{" not in template:
            return template
        exact, value = _exact_value(template, context)
        return value if exact else render_string(template, context)
    if isinstance(template, dict):
        return {
            key: render_value(value, context, pointer=pointer) for key, value in template.items()
        }
    if isinstance(template, list):
        return [render_value(item, context, pointer=pointer) for item in template]
    return template


Renderer = Callable[[Any], Any]


def compile_template(template: Any) -> Renderer:
    """``lambda context: render_value(template, context)``, with the decisions about each
    string (plain text, one tag, plain tags, Handlebars) taken once instead of per render."""
    if isinstance(template, str):
        return _string_renderer(template)
    if isinstance(template, dict):
        items = [(key, compile_template(value)) for key, value in template.items()]

        def render_dict(context: Any) -> dict[str, Any]:  # a loop: no comprehension frame
            out = {}
            for key, render in items:
                out[key] = render(context)
            return out

        return render_dict
    if isinstance(template, list):
        parts = [compile_template(item) for item in template]

        def render_list(context: Any) -> list[Any]:
            out = []
            for render in parts:
                out.append(render(context))
            return out

        return render_list
    return lambda context: template


def _string_renderer(source: str) -> Renderer:
    if "{{" not in source:
        return lambda context: source
    if _exact_path(source) is not None:
        return lambda context: _exact_value(source, context)[1]
    plan = _plain_plan(source)
    if plan is None:
        return lambda context: render_string(source, context)

    def plain(context: Any) -> str:
        rendered = _render_plain(plan, context)
        return rendered if rendered is not None else render_string(source, context)

    return plain


def resolve_bare_paths(value: Any, context: dict[str, Any]) -> Any:
    """Legacy (schema v1, ``mcp.exec``) bare dotted paths: ``in.city`` → the value there.

    Only strings that are exactly ``root.segment[.segment…]`` with a root that exists in the
    context are replaced (a missing value gives ``null``); everything else is kept.
    """
    if isinstance(value, str):
        match = _BARE.fullmatch(value)
        if match is None or match.group(1) not in context:
            return value
        return copy.deepcopy(lookup(context, value.split(".")))
    if isinstance(value, dict):
        return {key: resolve_bare_paths(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve_bare_paths(item, context) for item in value]
    return value
