"""Building component-model values by reflecting on the types a component really declares.

The same Greentic version string has shipped several record shapes (wit-contracts.md §0.2,
§3.3). Instead of one hard-coded binding per shape, records are filled *by field name* from a
table of known values, coerced to each field's declared type. A record with a field we cannot
fill is a shape we do not speak: :class:`ShapeError`, and the caller tries the next adapter.
"""

from __future__ import annotations

from collections.abc import Mapping
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


def coerce(ty: Any, value: Any, where: str) -> Any:
    """Convert a plain Python value (str, int, None, list, Mapping) to ``ty``'s representation."""
    if isinstance(ty, cm.OptionType):
        return None if value is None else coerce(ty.payload, value, where)
    if isinstance(ty, cm.String):
        return "" if value is None else str(value)
    if isinstance(ty, cm.U64):
        # The 0.6 tenant-ctx sends u64::MAX when there is no deadline.
        return U64_MAX if value is None else int(value)
    if isinstance(ty, cm.U32 | cm.U16 | cm.U8 | cm.S64 | cm.S32):
        return 0 if value is None else int(value)
    if isinstance(ty, cm.Bool):
        return bool(value)
    if is_bytes(ty):
        return b"" if value is None else bytes(value)
    if isinstance(ty, cm.ListType):
        items = list(value or [])
        return [coerce(ty.element, item, where) for item in items]
    if isinstance(ty, cm.TupleType):
        return tuple(coerce(t, v, where) for t, v in zip(ty.elements, value, strict=True))
    if isinstance(ty, cm.RecordType):
        if not isinstance(value, Mapping):
            raise ShapeError(f"{where}: cannot build {type_name(ty)} from {type(value).__name__}")
        return fill_record(ty, value, where)
    raise ShapeError(f"{where}: unsupported type {type_name(ty)}")


def fill_record(ty: cm.RecordType, source: Mapping[str, Any], where: str) -> cm.Record:
    """A Record of type ``ty`` whose fields come from ``source`` by name.

    Optional fields missing from ``source`` are ``none``; any other missing field means the
    record's shape is unknown to us (ShapeError).
    """
    value = cm.Record()
    for name, field_ty in ty.fields:
        if name in source:
            setattr(value, name, coerce(field_ty, source[name], f"{where}.{name}"))
        elif isinstance(field_ty, cm.OptionType):
            setattr(value, name, None)
        else:
            raise ShapeError(f"{where}: unknown field `{name}`")
    return value


def to_plain(value: Any) -> Any:
    """Records to dicts (kebab-case keys), Variants to {"tag", "payload"}, recursively."""
    if isinstance(value, cm.Record):
        return {name: to_plain(item) for name, item in vars(value).items()}
    if isinstance(value, cm.Variant):
        return {"tag": value.tag, "payload": to_plain(value.payload)}
    if isinstance(value, list | tuple):
        return [to_plain(item) for item in value]
    return value
