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

from wasmtime import _ffi as ffi
from wasmtime import component as cm

Keep = list[Any]
Lower = Callable[[Any, Any, Keep], None]  # (value, out: CVal, keep) -> None
Lift = Callable[[Any], Any]  # (val: CVal) -> Python value


class Unsupported(Exception):
    """A type this codec does not compile (the generic wasmtime-py path handles it)."""


# -- memory layout ------------------------------------------------------------------------
# Mirrors of wasmtime's C structs. Pointer fields are c_void_p (addresses we compute or read)
# except `_Name.data`, a c_char_p so a `bytes` object can be stored without a copy; reads of
# C-owned names and strings go through the c_void_p view of the same union instead.


class _Name(ctypes.Structure):
    _fields_ = (("size", ctypes.c_size_t), ("data", ctypes.c_char_p))


class _Seq(ctypes.Structure):
    _fields_ = (("size", ctypes.c_size_t), ("data", ctypes.c_void_p))


class _VariantIn(ctypes.Structure):
    _fields_ = (("name", _Name), ("val", ctypes.c_void_p))


class _VariantOut(ctypes.Structure):
    _fields_ = (("name", _Seq), ("val", ctypes.c_void_p))


class _Result(ctypes.Structure):
    _fields_ = (("is_ok", ctypes.c_bool), ("val", ctypes.c_void_p))


class _Of(ctypes.Union):
    _fields_ = (
        ("boolean", ctypes.c_bool),
        ("s8", ctypes.c_int8),
        ("u8", ctypes.c_uint8),
        ("s16", ctypes.c_int16),
        ("u16", ctypes.c_uint16),
        ("s32", ctypes.c_int32),
        ("u32", ctypes.c_uint32),
        ("s64", ctypes.c_int64),
        ("u64", ctypes.c_uint64),
        ("f32", ctypes.c_float),
        ("f64", ctypes.c_double),
        ("string", _Name),  # write a bytes object in place
        ("seq", _Seq),  # string/list/record/tuple read, and list/record/tuple write
        ("variant", _VariantIn),
        ("variant_out", _VariantOut),
        ("option", ctypes.c_void_p),
        ("result", _Result),
    )


class CVal(ctypes.Structure):
    """``wasmtime_component_val_t``: a kind byte and a union (lowerers write into one)."""

    _fields_ = (("kind", ctypes.c_uint8), ("of", _Of))


class _Entry(ctypes.Structure):
    _fields_ = (("name", _Name), ("val", CVal))


_VAL_SIZE = ctypes.sizeof(CVal)
_U8_AT = CVal.of.offset  # where a u8 payload sits inside one list element


def layout_matches() -> bool:
    """True when the mirrors above have the installed wasmtime-py's C layout."""
    c_val, c_entry = ffi.wasmtime_component_val_t, ffi.wasmtime_component_valrecord_entry
    return (
        ctypes.sizeof(c_val) == _VAL_SIZE
        and c_val.of.offset == CVal.of.offset
        and ctypes.sizeof(c_entry) == ctypes.sizeof(_Entry)
        and c_entry.val.offset == _Entry.val.offset
        and ctypes.sizeof(ffi.wasmtime_component_valunion_t) == ctypes.sizeof(_Of)
    )


def _kind(name: str) -> int:
    return int(getattr(ffi, f"WASMTIME_COMPONENT_{name}").value)


K_BOOL, K_U8, K_CHAR, K_STRING = _kind("BOOL"), _kind("U8"), _kind("CHAR"), _kind("STRING")
K_LIST, K_RECORD, K_TUPLE = _kind("LIST"), _kind("RECORD"), _kind("TUPLE")
K_VARIANT, K_ENUM, K_OPTION, K_RESULT = (
    _kind("VARIANT"),
    _kind("ENUM"),
    _kind("OPTION"),
    _kind("RESULT"),
)

# Scalar types: (kind, union field, the Python type accepted on lowering and made on lifting).
_SCALARS: dict[type, tuple[int, str, type]] = {
    cm.Bool: (K_BOOL, "boolean", bool),
    cm.S8: (_kind("S8"), "s8", int),
    cm.U8: (K_U8, "u8", int),
    cm.S16: (_kind("S16"), "s16", int),
    cm.U16: (_kind("U16"), "u16", int),
    cm.S32: (_kind("S32"), "s32", int),
    cm.U32: (_kind("U32"), "u32", int),
    cm.S64: (_kind("S64"), "s64", int),
    cm.U64: (_kind("U64"), "u64", int),
    cm.F32: (_kind("F32"), "f32", float),
    cm.F64: (_kind("F64"), "f64", float),
}


def _name_bytes(text: str) -> bytes:
    return text.encode("utf-8")


def _is_bytes(ty: Any) -> bool:
    return isinstance(ty, cm.ListType) and isinstance(ty.element, cm.U8)


def _cases(ty: Any) -> list[tuple[str, Any]]:
    if isinstance(ty, cm.OptionType):
        return [("none", None), ("some", ty.payload)]
    if isinstance(ty, cm.ResultType):
        return [("ok", ty.ok), ("err", ty.err)]
    return list(ty.cases)


def _classes(ty: Any) -> tuple[type, ...]:
    found: set[type] = set()
    if ty is None:
        found.add(object)
    else:
        ty.add_classes(found)
    return tuple(found)


def _tagged(cases: list[tuple[str, Any]]) -> bool:
    """wasmtime-py's rule: a variant-like is tagged when two cases share a Python class."""
    seen: set[type] = set()
    for _, ty in cases:
        classes = set(_classes(ty))
        if classes & seen:
            return True
        seen |= classes
    return False


# -- lowering -----------------------------------------------------------------------------


def compile_lower(ty: Any) -> Lower:
    """A function writing a Python value of type ``ty`` into a ``CVal`` (see module doc)."""
    scalar = _SCALARS.get(type(ty))
    if scalar is not None:
        return _lower_scalar(*scalar)
    if isinstance(ty, cm.String):
        return _lower_string
    if isinstance(ty, cm.Char):
        return _lower_char
    if isinstance(ty, cm.EnumType):
        return _lower_enum
    if isinstance(ty, cm.ListType):
        return _lower_bytes if _is_bytes(ty) else _lower_list(compile_lower(ty.element))
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
    raw = bytearray(count * _VAL_SIZE)
    raw[0::_VAL_SIZE] = bytes((K_U8,)) * count
    raw[_U8_AT::_VAL_SIZE] = value
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
    entries_type = _Entry * count
    names = [_name_bytes(name) for name, _ in fields]
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
    cases = _cases(ty)
    tagged = _tagged(cases)
    kind = (
        K_OPTION
        if isinstance(ty, cm.OptionType)
        else (K_RESULT if isinstance(ty, cm.ResultType) else K_VARIANT)
    )
    plan = [
        (name, _name_bytes(name), None if case is None else compile_lower(case), _classes(case))
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
    """A function reading a ``CVal`` of type ``ty`` into wasmtime-py's Python shape."""
    scalar = _SCALARS.get(type(ty))
    if scalar is not None:
        _, field, accepted = scalar
        return _lift_scalar(field, accepted)
    if isinstance(ty, cm.String | cm.EnumType):
        return _lift_string
    if isinstance(ty, cm.Char):
        return lambda val: chr(val.of.u32)
    if isinstance(ty, cm.ListType):
        return _lift_bytes if _is_bytes(ty) else _lift_list(compile_lift(ty.element))
    if isinstance(ty, cm.RecordType):
        return _lift_record(ty)
    if isinstance(ty, cm.TupleType):
        return _lift_tuple([compile_lift(t) for t in ty.elements])
    if isinstance(ty, cm.OptionType | cm.ResultType | cm.VariantType):
        return _lift_variant_like(ty)
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
    return ctypes.string_at(seq.data, count * _VAL_SIZE)[_U8_AT::_VAL_SIZE]


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
    entries_type = _Entry * count

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
    cases = _cases(ty)
    tagged = _tagged(cases)
    lifts = {name: (None if case is None else compile_lift(case)) for name, case in cases}
    by_raw = {_name_bytes(name): name for name in lifts}

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
