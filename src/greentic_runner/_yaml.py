"""One YAML reader for flows (YGTC), pack.yaml and bindings files.

PyYAML's ``SafeLoader`` speaks YAML 1.1, where ``on``/``yes`` are booleans, ``12:30`` is the
integer 750 and ``2024-01-01`` a date. The reference tools read these files with a YAML 1.2
parser (serde_yaml), so this loader resolves plain scalars with the YAML 1.2 core schema
instead, rejects duplicate mapping keys (PyYAML silently keeps the last one) and returns
plain JSON-like values: ``dict`` with ``str`` keys, ``list``, ``str``, ``int``, ``float``,
``bool`` and ``None``. It also reports the line of every key near the top of the document
so callers can point at the offending node or setting.

Callers translate :class:`YamlProblem` into their own ``RunnerError`` subclass; this module
is the one boundary where ``yaml.YAMLError`` is caught.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

# How deep `lines` records key positions (``nodes.<id>.routing`` is depth 3).
_LINE_DEPTH = 3
# Guards against alias bombs and self-referencing anchors.
_MAX_DEPTH = 128
_MAX_VALUES = 200_000

Path = tuple[str | int, ...]


class YamlProblem(Exception):
    """The text is not a YAML document this project accepts. ``line`` is 1-based."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True, slots=True)
class YamlDocument:
    """A loaded document and the 1-based line of each key path (up to depth 3)."""

    data: Any
    lines: dict[Path, int]

    def line(self, *path: str | int) -> int | None:
        """The line of the deepest known prefix of ``path`` (None when unknown)."""
        for end in range(len(path), 0, -1):
            found = self.lines.get(tuple(path[:end]))
            if found is not None:
                return found
        return None


class _Resolver(Resolver):
    """YAML 1.2 core schema resolution for plain scalars (and the ``<<`` merge key)."""

    yaml_implicit_resolvers: dict[Any, Any] = {}  # noqa: RUF012 - PyYAML's class registry


_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]
)
_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)
_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
    list("-+0123456789"),
)
_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+.0123456789"),
)
_Resolver.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^(?:<<)$"), ["<"])


class _Constructor(yaml.constructor.SafeConstructor):
    def construct_yaml_int(self, node: ScalarNode) -> int:
        value = str(self.construct_scalar(node))
        sign = -1 if value.startswith("-") else 1
        digits = value.lstrip("+-")
        if digits.startswith("0o"):
            return sign * int(digits[2:], 8)
        if digits.startswith("0x"):
            return sign * int(digits[2:], 16)
        return sign * int(digits, 10)  # YAML 1.2: a leading 0 is still decimal

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[tuple[str, str], Node] = {}
        for key_node, _ in node.value:
            if isinstance(key_node, ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                marker = (key_node.tag, key_node.value)
                if marker in seen:
                    raise ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"found duplicate key {key_node.value!r}",
                        key_node.start_mark,
                    )
                seen[marker] = key_node
        return super().construct_mapping(node, deep=deep)


_Constructor.add_constructor(  # type: ignore[type-var]
    "tag:yaml.org,2002:int", _Constructor.construct_yaml_int
)


class _Loader(
    yaml.reader.Reader,
    yaml.scanner.Scanner,
    yaml.parser.Parser,
    yaml.composer.Composer,
    _Constructor,
    _Resolver,
):
    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        _Constructor.__init__(self)
        _Resolver.__init__(self)


def load_yaml(text: str | bytes) -> YamlDocument:
    """Parse one YAML document into plain JSON-like values.

    Raises YamlProblem (with the line when known) for syntax errors, duplicate keys,
    unsupported tags, values JSON cannot hold and documents that nest too deeply.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise YamlProblem(f"not UTF-8 text (byte {exc.start})") from None
    loader: _Loader | None = None
    try:
        loader = _Loader(text)  # the reader already rejects control characters here
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        where = f" (line {line}, column {mark.column + 1})" if mark is not None else ""
        raise YamlProblem(f"{problem}{where}", line) from exc
    except yaml.reader.ReaderError as exc:
        offset = exc.position if isinstance(exc.position, int) else 0
        line = text.count("\n", 0, offset) + 1
        code = exc.character if isinstance(exc.character, int) else 0
        raise YamlProblem(f"unacceptable character #x{code:04x} (line {line})", line) from exc
    except yaml.YAMLError as exc:
        raise YamlProblem(str(exc)) from exc
    except RecursionError:
        raise YamlProblem("the document nests too deeply") from None
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        # PyYAML's constructors raise these for explicitly tagged junk (`!!int abc`).
        raise YamlProblem(f"invalid tagged value: {exc}") from exc
    finally:
        if loader is not None:
            loader.dispose()
    lines: dict[Path, int] = {}
    if root is not None:
        _record_lines(root, (), lines)
    return YamlDocument(_plain(data, 0, [0]), lines)


def _record_lines(node: Node, path: Path, lines: dict[Path, int]) -> None:
    if len(path) >= _LINE_DEPTH:
        return
    if isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode):
                key_path = (*path, str(key_node.value))
                lines.setdefault(key_path, key_node.start_mark.line + 1)
                _record_lines(value_node, key_path, lines)
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            lines.setdefault((*path, index), item.start_mark.line + 1)
            _record_lines(item, (*path, index), lines)


def _key(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return str(value)
    raise YamlProblem(f"mapping keys must be scalars, found {type(value).__name__}")


def _plain(value: Any, depth: int, budget: list[int]) -> Any:
    """A fresh JSON-like copy; aliases are expanded under a size budget."""
    if depth > _MAX_DEPTH:
        raise YamlProblem(f"the document nests deeper than {_MAX_DEPTH} levels")
    budget[0] += 1
    if budget[0] > _MAX_VALUES:
        raise YamlProblem(f"the document expands to more than {_MAX_VALUES} values")
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {_key(k): _plain(v, depth + 1, budget) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(item, depth + 1, budget) for item in value]
    raise YamlProblem(f"unsupported YAML value of type {type(value).__name__}")
