"""The C layout of component values, mirrored in ctypes for :mod:`.valcodec`.

``wasmtime_component_val_t`` is a kind byte followed by a union; records are arrays of
(name, value) entries; lists and tuples are arrays of values. The mirrors below have the same
layout as wasmtime-py's own bindings (checked by :func:`layout_matches` before they are used)
but pointer fields a compiled codec can fill cheaply: ``_Name.data`` is a ``c_char_p``, so a
``bytes`` object is stored without a copy, while reads of C-owned names and strings go through
the ``c_void_p`` view of the same union. Kind numbers come from the installed bindings.

Also here: wasmtime-py's rules for which Python classes stand for which component types, so
the codec accepts and produces exactly the values wasmtime-py's generic path does.
"""

from __future__ import annotations

import ctypes
from typing import Any

from wasmtime import _ffi as ffi
from wasmtime import component as cm


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


class Entry(ctypes.Structure):
    _fields_ = (("name", _Name), ("val", CVal))


VAL_SIZE = ctypes.sizeof(CVal)
U8_AT = CVal.of.offset  # where a u8 payload sits inside one list element


def layout_matches() -> bool:
    """True when the mirrors above have the installed wasmtime-py's C layout."""
    c_val, c_entry = ffi.wasmtime_component_val_t, ffi.wasmtime_component_valrecord_entry
    return (
        ctypes.sizeof(c_val) == VAL_SIZE
        and c_val.of.offset == CVal.of.offset
        and ctypes.sizeof(c_entry) == ctypes.sizeof(Entry)
        and c_entry.val.offset == Entry.val.offset
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
SCALARS: dict[type, tuple[int, str, type]] = {
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


def name_bytes(text: str) -> bytes:
    return text.encode("utf-8")


def is_bytes(ty: Any) -> bool:
    return isinstance(ty, cm.ListType) and isinstance(ty.element, cm.U8)


def cases_of(ty: Any) -> list[tuple[str, Any]]:
    if isinstance(ty, cm.OptionType):
        return [("none", None), ("some", ty.payload)]
    if isinstance(ty, cm.ResultType):
        return [("ok", ty.ok), ("err", ty.err)]
    return list(ty.cases)


def classes_of(ty: Any) -> tuple[type, ...]:
    found: set[type] = set()
    if ty is None:
        found.add(object)
    else:
        ty.add_classes(found)
    return tuple(found)


def is_tagged(cases: list[tuple[str, Any]]) -> bool:
    """wasmtime-py's rule: a variant-like is tagged when two cases share a Python class."""
    seen: set[type] = set()
    for _, ty in cases:
        classes = set(classes_of(ty))
        if classes & seen:
            return True
        seen |= classes
    return False


def variant_kind(ty: Any) -> int:
    if isinstance(ty, cm.OptionType):
        return K_OPTION
    return K_RESULT if isinstance(ty, cm.ResultType) else K_VARIANT
