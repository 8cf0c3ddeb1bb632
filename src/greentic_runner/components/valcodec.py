"""Component values to and from the C API, with the conversion compiled once per type.

wasmtime-py's generic ``Func.__call__`` re-reflects the function's types through the FFI on
every call (each record ``fields`` access is one C call per field and allocates new type
objects), copies ``list<u8>`` one byte at a time, and allocates every argument string and
record field name in C memory. For a small component that conversion costs far more than
the call itself. Here a type is reflected once, when a component is loaded, into a pair of
plain Python functions:

* :func:`compile_lower` writes a Python value into a ``wasmtime_component_val_t`` whose
  memory belongs to Python (ctypes objects kept alive in a per-call ``keep`` list). This is
  sound because ``wasmtime_component_func_call`` only *reads* its arguments: it copies them
  into Rust values before the call and never frees them.
* :func:`compile_lift` reads a result value without freeing anything; the caller deletes
  the whole result tree once with ``wasmtime_component_val_delete``.

Both produce and accept exactly the Python shapes wasmtime-py uses (``Record`` with
kebab-case attributes, ``Variant`` for tagged variant-likes, ``bytes`` for ``list<u8>``...),
so adapters work unchanged. Types outside the Greentic contracts (flags, resources, futures,
streams, error-context) raise :class:`Unsupported`; callers then use wasmtime-py's own path.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any

from wasmtime import component as cm

from .cabi import (
    K_CHAR,
    K_ENUM,
    K_LIST,
    K_OPTION,
    K_RECORD,
    K_RESULT,
    K_STRING,
    K_TUPLE,
    K_U8,
    SCALARS,
    U8_AT,
    VAL_SIZE,
    CVal,
    Entry,
    cases_of,
    classes_of,
    is_bytes,
    is_tagged,
    name_bytes,
    variant_kind,
)

Keep = list[Any]
Lower = Callable[[Any, Any, Keep], None]  # (value, out: CVal, keep) -> None
Lift = Callable[[Any], Any]  # (val: CVal) -> Python value


class Unsupported(Exception):
    """A type this codec does not compile (the generic wasmtime-py path handles it)."""


# -- lowering -----------------------------------------------------------------------------


def compile_lower(ty: Any) -> Lower:
    """A function writing a Python value of type ``ty`` into a ``CVal`` (see module doc)."""
    scalar = SCALARS.get(type(ty))
    if scalar is not None:
        return _lower_scalar(*scalar)
    if isinstance(ty, cm.String):
        return _lower_string
    if isinstance(ty, cm.Char):
        return _lower_char
    if isinstance(ty, cm.EnumType):
        return _lower_enum
    if isinstance(ty, cm.ListType):
        return _lower_bytes if is_bytes(ty) else _lower_list(compile_lower(ty.element))
    if isinstance(ty, cm.RecordType):
        return _lower_record(ty)
    if isinstance(ty, cm.TupleType):
        return _lower_tuple([compile_lower(t) for t in ty.elements])
    if isinstance(ty, cm.OptionType | cm.ResultType | cm.VariantType):
        return _lower_variant_like(ty)
    raise Unsupported(f"cannot lower {type(ty).__name__}")


def _lower_scalar(kind: int, field: str, accepted: type) -> Lower:
    def lower(value: Any, out: Any, keep: Keep) -> None:
        if not isinstance(value, accepted):
            raise TypeError(f"expected {accepted.__name__}, got {type(value).__name__}")
        out.kind = kind
        setattr(out.of, field, value)

    return lower


def _lower_string(value: Any, out: Any, keep: Keep) -> None:
    if not isinstance(value, str):
        raise TypeError(f"expected str, got {type(value).__name__}")
    data = value.encode("utf-8")
    keep.append(data)
    out.kind = K_STRING
    name = out.of.string
    name.size = len(data)
    name.data = data


def _lower_enum(value: Any, out: Any, keep: Keep) -> None:
    _lower_string(value, out, keep)
    out.kind = K_ENUM


def _lower_char(value: Any, out: Any, keep: Keep) -> None:
    if not isinstance(value, str) or len(value) != 1:
        raise TypeError("expected a single-character string for char")
    out.kind = K_CHAR
    out.of.u32 = ord(value)


def _lower_bytes(value: Any, out: Any, keep: Keep) -> None:
    if not isinstance(value, bytes | bytearray):
        raise TypeError(f"expected bytes, got {type(value).__name__}")
    count = len(value)
    # One u8 value per byte, written with two strided slice copies instead of a Python loop.
    raw = bytearray(count * VAL_SIZE)
    raw[0::VAL_SIZE] = bytes((K_U8,)) * count
    raw[U8_AT::VAL_SIZE] = value
    array = (ctypes.c_char * len(raw)).from_buffer(raw)
    keep.append(array)
    out.kind = K_LIST
    seq = out.of.seq
    seq.size = count
    seq.data = ctypes.addressof(array)


def _lower_list(element: Lower) -> Lower:
    def lower(value: Any, out: Any, keep: Keep) -> None:
        if not isinstance(value, list):
            raise TypeError(f"expected list, got {type(value).__name__}")
        _lower_items(K_LIST, [element] * len(value), value, out, keep)

    return lower


def _lower_tuple(elements: list[Lower]) -> Lower:
    def lower(value: Any, out: Any, keep: Keep) -> None:
        if not isinstance(value, tuple) or len(value) != len(elements):
            raise TypeError(f"expected a tuple of {len(elements)}")
        _lower_items(K_TUPLE, elements, value, out, keep)

    return lower


def _lower_items(kind: int, lowers: list[Lower], values: Any, out: Any, keep: Keep) -> None:
    array = (CVal * len(lowers))()
    keep.append(array)
    for lower, item, slot in zip(lowers, values, array, strict=True):
        lower(item, slot, keep)
    out.kind = kind
    seq = out.of.seq
    seq.size = len(lowers)
    seq.data = ctypes.addressof(array)


def _lower_record(ty: cm.RecordType) -> Lower:
    fields = [(name, compile_lower(field_ty)) for name, field_ty in ty.fields]
    count = len(fields)
    entries_type = Entry * count
    names = [name_bytes(name) for name, _ in fields]
    # The field names never change: a template with every name filled in is copied per call.
    template = entries_type()
    for entry, name in zip(template, names, strict=True):
        entry.name.size = len(name)
        entry.name.data = name
    plan = tuple((name, lower, index) for index, (name, lower) in enumerate(fields))

    def lower(value: Any, out: Any, keep: Keep) -> None:
        # Copying the template (which owns the name buffers) keeps them alive with this closure.
        entries = entries_type.from_buffer_copy(template)
        keep.append(entries)
        for name, lower_field, index in plan:
            lower_field(getattr(value, name), entries[index].val, keep)
        out.kind = K_RECORD
        seq = out.of.seq
        seq.size = count
        seq.data = ctypes.addressof(entries)

    return lower


def _lower_variant_like(ty: Any) -> Lower:
    cases = cases_of(ty)
    tagged = is_tagged(cases)
    kind = variant_kind(ty)
    plan = [
        (name, name_bytes(name), None if case is None else compile_lower(case), classes_of(case))
        for name, case in cases
    ]

    def lower(value: Any, out: Any, keep: Keep) -> None:
        for name, raw_name, lower_case, classes in plan:
            if tagged:
                if not isinstance(value, cm.Variant):
                    raise TypeError("expected a Variant")
                if value.tag != name:
                    continue
                payload = value.payload
            elif lower_case is None:
                if value is not None:
                    continue
                payload = None
            else:
                if not isinstance(value, classes):
                    continue
                payload = value
            address = None
            if lower_case is not None:
                inner = CVal()
                keep.append(inner)
                lower_case(payload, inner, keep)
                address = ctypes.addressof(inner)
            out.kind = kind
            if kind == K_OPTION:
                out.of.option = address
            elif kind == K_RESULT:
                result = out.of.result
                result.is_ok = name == "ok"
                result.val = address
            else:
                variant = out.of.variant
                variant.name.size = len(raw_name)
                variant.name.data = raw_name
                variant.val = address
            return
        raise ValueError("value not valid for this variant")

    return lower


# -- lifting ------------------------------------------------------------------------------


def compile_lift(ty: Any) -> Lift:
    """A function reading a ``CVal`` of type ``ty`` into wasmtime-py's Python shape.

    Every value's kind is checked before its union is read: a pointer is never followed
    unless the value really holds one.
    """
    kind, read = _lifter(ty)

    def lift(val: Any) -> Any:
        if val.kind != kind:
            raise TypeError(f"expected value kind {kind}, got {val.kind}")
        return read(val)

    return lift


def _lifter(ty: Any) -> tuple[int, Lift]:
    scalar = SCALARS.get(type(ty))
    if scalar is not None:
        kind, field, accepted = scalar
        return kind, _lift_scalar(field, accepted)
    if isinstance(ty, cm.String):
        return K_STRING, _lift_string
    if isinstance(ty, cm.EnumType):
        return K_ENUM, _lift_string
    if isinstance(ty, cm.Char):
        return K_CHAR, lambda val: chr(val.of.u32)
    if isinstance(ty, cm.ListType):
        return K_LIST, (_lift_bytes if is_bytes(ty) else _lift_list(compile_lift(ty.element)))
    if isinstance(ty, cm.RecordType):
        return K_RECORD, _lift_record(ty)
    if isinstance(ty, cm.TupleType):
        return K_TUPLE, _lift_tuple([compile_lift(t) for t in ty.elements])
    if isinstance(ty, cm.OptionType | cm.ResultType | cm.VariantType):
        return variant_kind(ty), _lift_variant_like(ty)
    raise Unsupported(f"cannot lift {type(ty).__name__}")


def _lift_scalar(field: str, convert: type) -> Lift:
    def lift(val: Any) -> Any:
        return convert(getattr(val.of, field))

    return lift


def _read(seq: Any) -> bytes:
    size = seq.size
    return ctypes.string_at(seq.data, size) if size else b""


def _lift_string(val: Any) -> str:
    return _read(val.of.seq).decode("utf-8")


def _lift_bytes(val: Any) -> bytes:
    seq = val.of.seq
    count = seq.size
    if not count:
        return b""
    return ctypes.string_at(seq.data, count * VAL_SIZE)[U8_AT::VAL_SIZE]


def _lift_list(element: Lift) -> Lift:
    def lift(val: Any) -> list[Any]:
        seq = val.of.seq
        if not seq.size:
            return []
        return [element(item) for item in (CVal * seq.size).from_address(seq.data)]

    return lift


def _lift_tuple(elements: list[Lift]) -> Lift:
    count = len(elements)

    def lift(val: Any) -> tuple[Any, ...]:
        seq = val.of.seq
        if seq.size != count:
            raise TypeError(f"tuple has {seq.size} elements, expected {count}")
        items = (CVal * count).from_address(seq.data) if count else ()
        return tuple(f(item) for f, item in zip(elements, items, strict=True))

    return lift


def _lift_record(ty: cm.RecordType) -> Lift:
    fields = [(name, compile_lift(field_ty)) for name, field_ty in ty.fields]
    count = len(fields)
    entries_type = Entry * count

    def lift(val: Any) -> cm.Record:
        record = cm.Record()
        seq = val.of.seq
        if seq.size != count:
            raise TypeError(f"record has {seq.size} fields, expected {count}")
        entries = entries_type.from_address(seq.data) if count else ()
        attributes = record.__dict__
        for (name, lift_field), entry in zip(fields, entries, strict=True):
            attributes[name] = lift_field(entry.val)
        return record

    return lift


def _lift_variant_like(ty: Any) -> Lift:
    cases = cases_of(ty)
    tagged = is_tagged(cases)
    lifts = {name: (None if case is None else compile_lift(case)) for name, case in cases}
    by_raw = {name_bytes(name): name for name in lifts}

    def finish(tag: str, address: int | None) -> Any:
        lift_case = lifts[tag]
        payload = (
            None if lift_case is None or not address else lift_case(CVal.from_address(address))
        )
        return cm.Variant(tag, payload) if tagged else payload

    if isinstance(ty, cm.OptionType):
        return lambda val: finish("some" if val.of.option else "none", val.of.option)
    if isinstance(ty, cm.ResultType):
        return lambda val: finish("ok" if val.of.result.is_ok else "err", val.of.result.val)

    def lift_variant(val: Any) -> Any:
        variant = val.of.variant_out
        raw = _read(variant.name)
        tag = by_raw.get(raw)
        if tag is None:
            raise TypeError(f"unknown variant case {raw!r}")
        return finish(tag, variant.val)

    return lift_variant
