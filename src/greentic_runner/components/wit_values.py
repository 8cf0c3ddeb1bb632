"""Building component-model values by reflecting on the types a component really declares.

The same Greentic version string has shipped several record shapes (wit-contracts.md §0.2,
§3.3). Instead of one hard-coded binding per shape, records are filled *by field name* from a
table of known values, coerced to each field's declared type. A record with a field we cannot
fill is a shape we do not speak: :class:`ShapeError`, and the caller tries the next adapter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from wasmtime import component as cm

U64_MAX = 2**64 - 1


class ShapeError(Exception):
    """A declared type does not match what an adapter can produce or consume."""


@dataclass(frozen=True, slots=True)
class Ok:
    """The ok arm of a WIT ``result`` returned by a host function."""

    value: Any = None


@dataclass(frozen=True, slots=True)
class Err:
    """The err arm of a WIT ``result`` returned by a host function."""

    value: Any = None


def record(**fields: Any) -> cm.Record:
    """A wasmtime Record; ``snake_case`` keyword names become the WIT ``kebab-case`` names."""
    value = cm.Record()
    for name, field in fields.items():
        setattr(value, name.replace("_", "-"), field)
    return value


def field(value: Any, name: str, default: Any = None) -> Any:
    """Read a WIT record field by its kebab-case name."""
    return getattr(value, name, default)


def type_name(ty: Any) -> str:
    """A short WIT-like rendering of a reflected type, for error messages."""
    if isinstance(ty, cm.RecordType):
        return "record{" + ", ".join(name for name, _ in ty.fields) + "}"
    if isinstance(ty, cm.OptionType):
        return f"option<{type_name(ty.payload)}>"
    if isinstance(ty, cm.ListType):
        return f"list<{type_name(ty.element)}>"
    if isinstance(ty, cm.ResultType):
        return f"result<{type_name(ty.ok)}, {type_name(ty.err)}>"
    if isinstance(ty, cm.VariantType):
        return "variant{" + ", ".join(name for name, _ in ty.cases) + "}"
    if ty is None:
        return "_"
    return type(ty).__name__.lower()


def is_bytes(ty: Any) -> bool:
    return isinstance(ty, cm.ListType) and isinstance(ty.element, cm.U8)


Filler = Callable[[Any], Any]


def filler(ty: Any, where: str) -> Filler:
    """Compile, once, a function turning plain Python values into ``ty``'s representation.

    Reflection through wasmtime-py is slow (every ``fields`` access crosses the FFI), so
    adapters compile their fillers when a component is loaded and reuse them per call.
    Raises ShapeError for types no Greentic context or envelope uses.
    """
    if isinstance(ty, cm.OptionType):
        inner = filler(ty.payload, where)
        return lambda value: None if value is None else inner(value)
    if isinstance(ty, cm.String):
        return lambda value: "" if value is None else str(value)
    if isinstance(ty, cm.U64):
        # The 0.6 tenant-ctx sends u64::MAX when there is no deadline.
        return lambda value: U64_MAX if value is None else int(value)
    if isinstance(ty, cm.U32 | cm.U16 | cm.U8 | cm.S64 | cm.S32):
        return lambda value: 0 if value is None else int(value)
    if isinstance(ty, cm.Bool):
        return bool
    if is_bytes(ty):
        return lambda value: b"" if value is None else bytes(value)
    if isinstance(ty, cm.ListType):
        element = filler(ty.element, where)
        return lambda value: [element(item) for item in value or []]
    if isinstance(ty, cm.TupleType):
        elements = [filler(t, where) for t in ty.elements]
        return lambda value: tuple(f(v) for f, v in zip(elements, value, strict=True))
    if isinstance(ty, cm.RecordType):
        return _record_filler(ty, where)
    raise ShapeError(f"{where}: unsupported type {type_name(ty)}")


def _record_filler(ty: cm.RecordType, where: str) -> Filler:
    fields = [
        (name, filler(field_ty, f"{where}.{name}"), isinstance(field_ty, cm.OptionType))
        for name, field_ty in ty.fields
    ]

    def fill(source: Any) -> cm.Record:
        if not isinstance(source, Mapping):
            raise ShapeError(f"{where}: cannot build a record from {type(source).__name__}")
        value = cm.Record()
        for name, fill_field, optional in fields:
            if name in source:
                setattr(value, name, fill_field(source[name]))
            elif optional:
                setattr(value, name, None)
            else:
                raise ShapeError(f"{where}: unknown field `{name}`")
        return value

    return fill


def fill_record(ty: cm.RecordType, source: Mapping[str, Any], where: str) -> cm.Record:
    """A Record of type ``ty`` whose fields come from ``source`` by name.

    Optional fields missing from ``source`` are ``none``; any other missing field means the
    record's shape is unknown to us (ShapeError). Compiles a filler per call: for hot paths
    keep the result of :func:`filler` instead.
    """
    record_value: cm.Record = _record_filler(ty, where)(source)
    return record_value


def to_plain(value: Any) -> Any:
    """Records to dicts (kebab-case keys), Variants to {"tag", "payload"}, recursively."""
    if isinstance(value, cm.Record):
        return {name: to_plain(item) for name, item in vars(value).items()}
    if isinstance(value, cm.Variant):
        return {"tag": value.tag, "payload": to_plain(value.payload)}
    if isinstance(value, list | tuple):
        return [to_plain(item) for item in value]
    return value


def export_func(funcs: dict[str, Any], name: str, world: str) -> cm.FuncType:
    """The function type of export ``name``; ShapeError when the world lacks it."""
    fty = funcs.get(name)
    if not isinstance(fty, cm.FuncType):
        raise ShapeError(f"{world} does not export `{name}`")
    return fty
