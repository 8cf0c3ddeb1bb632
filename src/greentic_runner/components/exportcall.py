"""Calling one exported component function with conversions compiled at load time.

An :class:`ExportCall` is built once per loaded component and export (by the world
adapters) and used for every call: the argument lowering and result lifting come from
:mod:`.valcodec`, so a call costs one ``get_func`` and one ``wasmtime_component_func_call``
plus the conversion of the values themselves. When a type cannot be compiled, or the C layout
of the installed wasmtime-py is not the one :mod:`.valcodec` mirrors, the call goes through
wasmtime-py's generic ``Func.__call__`` instead (same values, same errors, only slower).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wasmtime import Store
from wasmtime import _ffi as ffi
from wasmtime import component as cm
from wasmtime.component._enter import enter_wasm

from .cabi import CVal
from .cabi import layout_matches as _layout_matches
from .valcodec import Keep, Lift, Lower, Unsupported, compile_lift, compile_lower
from .wit_values import ShapeError

_LAYOUT_OK = _layout_matches()
_C_VAL_POINTER = ctypes.POINTER(ffi.wasmtime_component_val_t)


@dataclass(frozen=True, slots=True)
class Compiled:
    """The compiled conversions of one function type."""

    lowers: tuple[Lower, ...]
    lift: Lift | None  # None: the function returns nothing


def compile_func(fty: cm.FuncType) -> Compiled | None:
    """Compile ``fty``'s conversions; None when some type needs the generic path."""
    if not _LAYOUT_OK:
        return None
    try:
        lowers = tuple(compile_lower(ty) for _, ty in fty.params)
        result = fty.result
        lift = None if result is None else compile_lift(result)
    except Unsupported:
        return None
    return Compiled(lowers, lift)


@dataclass(frozen=True, slots=True)
class ExportCall:
    """One exported function: ``call(store, instance, *args)`` returns the lifted result."""

    label: str
    index: cm.ExportIndex
    compiled: Compiled | None

    @classmethod
    def build(cls, fty: cm.FuncType, index: cm.ExportIndex, label: str) -> ExportCall:
        return cls(label, index, compile_func(fty))

    @property
    def fast(self) -> bool:
        """True when calls use the compiled conversions (not wasmtime-py's generic ones)."""
        return self.compiled is not None

    def func(self, store: Store, instance: cm.Instance) -> cm.Func:
        func = instance.get_func(store, self.index)
        if func is None:  # the index came from this component's own type; cannot really happen
            raise ShapeError(f"export {self.label} vanished from the instance")
        return func

    def __call__(self, store: Store, instance: cm.Instance, *args: Any) -> Any:
        func = self.func(store, instance)
        compiled = self.compiled
        if compiled is None:
            return func(store, *args)
        lowers = compiled.lowers
        if len(args) != len(lowers):
            raise TypeError(f"{self.label} takes {len(lowers)} arguments, got {len(args)}")
        keep: Keep = []
        params = (CVal * len(lowers))()
        for lower, value, slot in zip(lowers, args, params, strict=True):
            lower(value, slot, keep)
        has_result = compiled.lift is not None
        result = ffi.wasmtime_component_val_t()
        run = _invoker(
            func, store, ctypes.cast(params, _C_VAL_POINTER), len(lowers), result, has_result
        )
        try:
            enter_wasm(run)
            if compiled.lift is None:
                return None
            return compiled.lift(CVal.from_buffer(result))
        finally:
            # Arguments are Python memory (freed with `keep`); the result tree is C memory
            # (a zeroed value is a `bool` and deleting it is a no-op, so this is safe on error).
            if has_result:
                ffi.wasmtime_component_val_delete(ctypes.byref(result))
            del keep


def _invoker(
    func: cm.Func, store: Store, params: Any, count: int, result: Any, has_result: bool
) -> Callable[[], Any]:
    def run() -> Any:
        return ffi.wasmtime_component_func_call(
            ctypes.byref(func._func),
            store._context(),
            params,
            count,
            ctypes.byref(result) if has_result else None,
            1 if has_result else 0,
        )

    return run
