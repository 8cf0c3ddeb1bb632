"""The compiled value codec agrees with wasmtime itself, in both directions.

Types are reflected from a component written in WAT whose imports use every kind of value the
codec compiles. Lowered values are deep-copied by wasmtime's own C code
(``wasmtime_component_val_clone``, the same read ``wasmtime_component_func_call`` does of its
arguments) and read back with wasmtime-py's converters; values built by wasmtime-py's
converters are read with the codec's lifters.
"""

from __future__ import annotations

import ctypes
from typing import Any

import pytest
import wasmtime
from hypothesis import given
from hypothesis import strategies as st
from wasmtime import _ffi as ffi
from wasmtime import component as cm

from greentic_runner.components import cabi
from greentic_runner.components.cabi import CVal
from greentic_runner.components.exportcall import compile_func
from greentic_runner.components.valcodec import Unsupported, compile_lift, compile_lower
from greentic_runner.components.wit_values import record

NAMED = """
  (type $point' (record (field "x" s32) (field "label" string) (field "tags" (list string))))
  (import "point" (type $point (eq $point')))
  (type $shape' (variant (case "circle" f64) (case "empty") (case "named" string)))
  (import "shape" (type $shape (eq $shape')))
  (type $pair' (variant (case "left" string) (case "right" string)))
  (import "pair" (type $pair (eq $pair')))
  (type $color' (enum "red" "green"))
  (import "color" (type $color (eq $color')))
  (type $perm' (flags "read" "write"))
  (import "perm" (type $perm (eq $perm')))
"""

TYPES = {
    "bool": "bool",
    "s8": "s8",
    "u8": "u8",
    "s16": "s16",
    "u16": "u16",
    "s32": "s32",
    "u32": "u32",
    "s64": "s64",
    "u64": "u64",
    "f32": "f32",
    "f64": "f64",
    "char": "char",
    "string": "string",
    "bytes": "(list u8)",
    "strings": "(list string)",
    "point": "$point",
    "points": "(list $point)",
    "tuple": "(tuple u32 string (list u8))",
    "shape": "$shape",
    "pair": "$pair",
    "color": "$color",
    "maybe": "(option string)",
    "maybe-maybe": "(option (option u32))",
    "outcome": "(result u32 (error string))",
    "text-outcome": "(result string (error string))",
    "bare-result": "(result)",
    "err-only": "(result (error string))",
    "perm": "$perm",
}


def _component_wat() -> str:
    funcs = "\n".join(
        f'  (import "t-{name}" (func (param "v" {wit}) (result {wit})))'
        for name, wit in TYPES.items()
    )
    return f"(component\n{NAMED}\n{funcs}\n)"


@pytest.fixture(scope="module")
def engine() -> wasmtime.Engine:
    return wasmtime.Engine()


@pytest.fixture(scope="module")
def types(engine: wasmtime.Engine) -> dict[str, Any]:
    component = cm.Component(engine, _component_wat())
    imports = component.type.imports(engine)
    found: dict[str, Any] = {}
    for name in TYPES:
        fty = imports[f"t-{name}"].ty
        assert isinstance(fty, cm.FuncType)
        found[name] = (fty, fty.params[0][1])
    return found


def point(x: int, label: str, tags: list[str]) -> cm.Record:
    return record(x=x, label=label, tags=tags)


CASES: list[tuple[str, Any]] = [
    ("bool", True),
    ("bool", False),
    ("s8", -128),
    ("u8", 255),
    ("s16", -32768),
    ("u16", 65535),
    ("s32", -5),
    ("u32", 4_000_000_000),
    ("s64", -(2**63)),
    ("u64", 2**64 - 1),
    ("f32", 1.5),
    ("f64", 0.1),
    ("char", "é"),
    ("char", "\U0001d11e"),
    ("string", ""),
    ("string", "hello"),
    ("string", "ünïcødé 🎉"),
    ("string", "nul\x00inside"),
    ("bytes", b""),
    ("bytes", b"\x00\x01\xff"),
    ("bytes", bytes(range(256)) * 40),
    ("strings", []),
    ("strings", ["a", "", "ç"]),
    ("point", point(-1, "p", ["t", "u"])),
    ("points", [point(1, "a", []), point(2, "b", ["x"])]),
    ("tuple", (7, "seven", b"\x07")),
    ("shape", 2.5),  # untagged: the payload classes (float, none, str) are distinct
    ("shape", None),
    ("shape", "named"),
    ("pair", cm.Variant("left", "l")),  # tagged: both cases carry a string
    ("pair", cm.Variant("right", "")),
    ("color", "red"),
    ("color", "green"),
    ("maybe", None),
    ("maybe", "x"),
    ("maybe-maybe", cm.Variant("none")),
    ("maybe-maybe", cm.Variant("some", None)),
    ("maybe-maybe", cm.Variant("some", 3)),
    ("outcome", 5),
    ("outcome", "failed"),
    ("text-outcome", cm.Variant("ok", "fine")),
    ("text-outcome", cm.Variant("err", "bad")),
    ("bare-result", cm.Variant("ok")),
    ("bare-result", cm.Variant("err")),
    ("err-only", None),
    ("err-only", "oops"),
]


def _lower(ty: Any, value: Any) -> tuple[CVal, list[Any]]:
    out, keep = CVal(), list[Any]()
    compile_lower(ty)(value, out, keep)
    return out, keep


@pytest.mark.parametrize(("name", "value"), CASES)
def test_lowered_values_are_what_wasmtime_reads(
    types: dict[str, Any], name: str, value: Any
) -> None:
    _, ty = types[name]
    ours, keep = _lower(ty, value)
    copy = ffi.wasmtime_component_val_t()
    # wasmtime's C API converts the Python-owned tree into its own values and back.
    ffi.wasmtime_component_val_clone(
        ctypes.byref(ffi.wasmtime_component_val_t.from_buffer(ours)), ctypes.byref(copy)
    )
    del keep
    assert ty.convert_from_c(copy) == value  # wasmtime-py's reader frees the copy


@pytest.mark.parametrize(("name", "value"), CASES)
def test_wasmtime_values_lift(
    types: dict[str, Any], engine: wasmtime.Engine, name: str, value: Any
) -> None:
    _, ty = types[name]
    theirs = ffi.wasmtime_component_val_t()
    ty.convert_to_c(wasmtime.Store(engine), value, ctypes.pointer(theirs))
    try:
        assert compile_lift(ty)(CVal.from_buffer(theirs)) == value
    finally:
        ffi.wasmtime_component_val_delete(ctypes.byref(theirs))


@pytest.mark.parametrize(("name", "value"), CASES)
def test_round_trip(types: dict[str, Any], name: str, value: Any) -> None:
    _, ty = types[name]
    ours, _keep = _lower(ty, value)
    assert compile_lift(ty)(ours) == value


@given(
    x=st.integers(-(2**31), 2**31 - 1),
    label=st.text(),
    tags=st.lists(st.text(), max_size=5),
    payload=st.binary(max_size=300),
)
def test_records_and_bytes_survive_wasmtime(
    types: dict[str, Any], x: int, label: str, tags: list[str], payload: bytes
) -> None:
    for name, value in (("point", point(x, label, tags)), ("bytes", payload)):
        _, ty = types[name]
        ours, keep = _lower(ty, value)
        copy = ffi.wasmtime_component_val_t()
        ffi.wasmtime_component_val_clone(
            ctypes.byref(ffi.wasmtime_component_val_t.from_buffer(ours)), ctypes.byref(copy)
        )
        del keep
        try:
            assert compile_lift(ty)(CVal.from_buffer(copy)) == value
        finally:
            ffi.wasmtime_component_val_delete(ctypes.byref(copy))


@pytest.mark.parametrize(
    ("name", "value", "error"),
    [
        ("string", 5, TypeError),
        ("u32", "5", TypeError),
        ("f64", 1, TypeError),
        ("char", "ab", TypeError),
        ("bytes", [1, 2], TypeError),
        ("strings", ("a",), TypeError),
        ("tuple", (1, "one"), TypeError),
        ("pair", "left", TypeError),
        ("pair", cm.Variant("middle", "x"), ValueError),
        ("maybe", 5, ValueError),
        ("point", record(x=1, label="no tags"), AttributeError),
    ],
)
def test_values_of_the_wrong_shape_are_refused(
    types: dict[str, Any], name: str, value: Any, error: type[Exception]
) -> None:
    _, ty = types[name]
    with pytest.raises(error):
        _lower(ty, value)


def test_flags_use_the_generic_path(types: dict[str, Any]) -> None:
    fty, ty = types["perm"]
    with pytest.raises(Unsupported):
        compile_lower(ty)
    with pytest.raises(Unsupported):
        compile_lift(ty)
    assert compile_func(fty) is None
    assert compile_func(types["point"][0]) is not None


def test_mirrors_match_the_installed_wasmtime() -> None:
    assert cabi.layout_matches()


@pytest.mark.parametrize(
    ("written", "read"), [("string", "u32"), ("u32", "maybe"), ("point", "tuple")]
)
def test_a_value_of_another_kind_is_refused_before_its_union_is_read(
    types: dict[str, Any], written: str, read: str
) -> None:
    value = dict(CASES)[written]
    ours, _keep = _lower(types[written][1], value)
    with pytest.raises(TypeError, match="expected value kind"):
        compile_lift(types[read][1])(ours)
