"""Host functions for wasmtime-py component linkers, with two fixes over ``add_func``.

1. wasmtime-py 50 lowers an untagged ``result`` by trying the arms in order with
   ``isinstance``; for ``result<option<list<u8>>, some-enum>`` the ``none`` case accepts any
   object, so an ``err`` can never be returned (secrets-store ``get`` needs exactly that).
   Here a host function returns :class:`~.wit_values.Ok` / :class:`~.wit_values.Err` and the
   result is lowered arm by arm.
2. ``add_func`` parks Python exceptions in a module-global slot that the next failing call on
   *any* thread re-raises. Our trampoline turns every exception into a trap message itself and
   records it in a thread-local, so concurrent calls cannot see each other's failures.

Host functions run synchronously on the thread that called into wasm, which is what makes the
thread-local :func:`current_failure` (and the per-call scope in :mod:`.host_imports`) sound.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from typing import Any

from wasmtime import StoreContext, WasmtimeError
from wasmtime import _ffi as ffi
from wasmtime import component as cm

from .wit_values import Err, Ok

HostFn = Callable[..., Any]

_FUNCS: dict[int, HostFn] = {}
_NEXT_ID = [0]
_IDS_LOCK = threading.Lock()
_STATE = threading.local()


class HostTrap(Exception):
    """Raised by a host function to trap the guest with a cause the host reports verbatim."""


def reset_failure() -> None:
    _STATE.failure = None


def current_failure() -> BaseException | None:
    """The exception that made a host function trap during this thread's current call."""
    failure: BaseException | None = getattr(_STATE, "failure", None)
    return failure


def _lower(ty: Any, store: StoreContext, value: Any, out: Any) -> None:
    if isinstance(value, Ok | Err) and isinstance(ty, cm.ResultType):
        arm = ty.ok if isinstance(value, Ok) else ty.err
        raw_ptr = None
        if arm is not None:
            raw = ffi.wasmtime_component_val_t()
            arm.convert_to_c(store, value.value, ctypes.pointer(raw))
            raw_ptr = ffi.wasmtime_component_val_new(ctypes.byref(raw))
        out.contents.kind = ffi.WASMTIME_COMPONENT_RESULT
        out.contents.of.result.is_ok = isinstance(value, Ok)
        out.contents.of.result.val = raw_ptr
        return
    ty.convert_to_c(store, value, out)


@ffi.wasmtime_component_func_callback_t  # type: ignore[untyped-decorator]
def _trampoline(
    idx: int | None,
    context: Any,
    ty_raw: Any,
    args: Any,
    nargs: int,
    results: Any,
    nresults: int,
) -> int:
    store = StoreContext(context)
    try:
        fty = cm.FuncType._from_ptr(ty_raw, owner=store)
        params = fty.params
        py_args = [
            ty.convert_from_c(args[i]) for (_, ty), i in zip(params, range(nargs), strict=False)
        ]
        result = _FUNCS[idx or 0](*py_args)
        result_ty = fty.result
        if result_ty is not None and nresults:
            _lower(result_ty, store, result, results)
        return 0
    except BaseException as exc:  # every failure becomes a trap; nothing crosses into C
        _STATE.failure = exc
        error = WasmtimeError(f"host function failed: {exc}")
        pointer = ctypes.cast(error._consume(), ctypes.c_void_p).value
        return int(pointer or 0)
    finally:
        store._invalidate()


@ctypes.CFUNCTYPE(None, ctypes.c_void_p)  # type: ignore[untyped-decorator]
def _finalize(idx: int | None) -> None:
    _FUNCS.pop(idx or 0, None)


def define(instance: cm.LinkerInstance, name: str, fn: HostFn) -> None:
    """Define ``name`` in a linker instance; ``fn`` gets lifted arguments, returns the result."""
    with _IDS_LOCK:
        _NEXT_ID[0] += 1
        idx = _NEXT_ID[0]
    _FUNCS[idx] = fn
    raw_name = name.encode()
    error = ffi.wasmtime_component_linker_instance_add_func(
        instance.ptr(),
        ctypes.create_string_buffer(raw_name),
        len(raw_name),
        _trampoline,
        idx,
        _finalize,
    )
    if error:
        _FUNCS.pop(idx, None)
        raise WasmtimeError._from_ptr(error)
