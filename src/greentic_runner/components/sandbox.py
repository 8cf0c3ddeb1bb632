"""One isolated component call: a fresh store with fuel, an epoch deadline and a memory cap.

Every call instantiates into a new :class:`wasmtime.Store` that is dropped afterwards, so a
trap, a timeout or an exhausted memory never leaks into the next call. All wasmtime and
payload failures are translated here, at one boundary, into :class:`ComponentCallError`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import wasmtime
from wasmtime import component as cm

from ..errors import ComponentError
from .engine import EpochTicker
from .hostfunc import HostTrap, current_failure, reset_failure
from .payloads import PayloadError
from .policy import ComponentLimits, WasiPolicy
from .scope import CallScope, active
from .wit_values import ShapeError
from .worlds import WorldPlan

log = logging.getLogger(__name__)
guest_log = logging.getLogger("greentic_runner.components.guest")

T = TypeVar("T")


class ComponentCallError(ComponentError):
    """A component call or load that failed; ``kind`` says why.

    Kinds: ``load`` (bytes missing, corrupt, unknown world, unprovided import), ``fuel``,
    ``timeout``, ``memory``, ``trap``, ``host`` (a host import failed), ``payload`` (input or
    output could not be converted), ``abi`` (types the adapter cannot speak).
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        tenant: str | None = None,
        pack: str | None = None,
        component: str | None = None,
        operation: str | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.tenant = tenant
        self.pack = pack
        self.component = component
        self.operation = operation


@dataclass(frozen=True, slots=True)
class LoadedComponent:
    """A compiled component and the adapters chosen for it."""

    digest: str
    component: cm.Component
    plan: WorldPlan


def _classify(
    exc: BaseException, limits: ComponentLimits, host_failure: BaseException | None
) -> tuple[str, str]:
    text = str(exc)
    lowered = text.lower()
    if host_failure is not None:
        if isinstance(host_failure, HostTrap | ComponentError):
            return "host", str(host_failure)
        return "host", f"host import failed: {type(host_failure).__name__}: {host_failure}"
    if "all fuel consumed" in lowered or "out of fuel" in lowered:
        return "fuel", f"out of fuel (limit {limits.fuel})"
    if "epoch" in lowered or "interrupt" in lowered:
        return "timeout", f"wall-clock deadline of {limits.timeout_ms} ms exceeded"
    if "memory" in lowered and ("limit" in lowered or "exceeds" in lowered):
        return (
            "memory",
            f"memory limit of {limits.memory_bytes} bytes exceeded ({_first_line(text)})",
        )
    return "trap", _first_line(text)


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return "unknown failure"
    # wasmtime puts the trap reason on the last "Caused by" line; keep both ends readable.
    return lines[0] if len(lines) == 1 else f"{lines[0]} ({lines[-1]})"


def _wasi_config(policy: WasiPolicy, label: str) -> wasmtime.WasiConfig:
    config = wasmtime.WasiConfig()
    config.env = policy.environment()
    # Allowed stdio goes to logging, never to the host's own streams (which may be a CLI's).
    if policy.allow_stdout:
        config.stdout_custom = _log_sink(label, "stdout")
    if policy.allow_stderr:
        config.stderr_custom = _log_sink(label, "stderr")
    return config


def _log_sink(label: str, stream: str) -> Callable[[bytes], None]:
    def write(data: bytes) -> None:
        text = data.decode("utf-8", errors="replace").rstrip("\n")
        if text:
            guest_log.info("%s %s: %s", label, stream, text)

    return write


class Sandbox:
    """Runs calls against loaded components under limits (thread-safe; one per invoker)."""

    def __init__(
        self,
        engine: wasmtime.Engine,
        linker: cm.Linker,
        ticker: EpochTicker,
    ) -> None:
        self._engine = engine
        self._linker = linker
        self._ticker = ticker

    def run(
        self,
        loaded: LoadedComponent,
        scope: CallScope,
        body: Callable[[wasmtime.Store, cm.Instance], T],
    ) -> T:
        """Instantiate ``loaded`` in a fresh store and run ``body``; translate every failure."""
        limits = scope.limits
        store = wasmtime.Store(self._engine)
        store.set_fuel(limits.fuel)
        self._ticker.ensure_running()
        store.set_epoch_deadline(self._ticker.ticks_for(limits.timeout_ms))
        store.set_limits(memory_size=limits.memory_bytes)
        if loaded.plan.uses_wasi:
            store.set_wasi(_wasi_config(scope.policy.wasi, scope.component_ref))
        reset_failure()
        started = time.perf_counter()
        try:
            with active(scope):
                instance = self._linker.instantiate(store, loaded.component)
                return body(store, instance)
        except (wasmtime.WasmtimeError, wasmtime.Trap) as exc:
            kind, cause = _classify(exc, limits, current_failure())
            raise self._error(scope, kind, cause) from exc
        except PayloadError as exc:
            raise self._error(scope, "payload", str(exc)) from exc
        except (ShapeError, TypeError, ValueError, AttributeError) as exc:
            raise self._error(scope, "abi", f"{type(exc).__name__}: {exc}") from exc
        finally:
            store.close()
            log.debug(
                "component %s %s took %.3f ms",
                scope.component_ref,
                scope.operation,
                (time.perf_counter() - started) * 1000,
            )

    @staticmethod
    def _error(scope: CallScope, kind: str, cause: str) -> ComponentCallError:
        return ComponentCallError(
            f"component {scope.component_ref} failed in operation {scope.operation} "
            f"(tenant {scope.ctx.tenant}, pack {scope.pack_id}): {cause}",
            kind=kind,
            tenant=scope.ctx.tenant,
            pack=scope.pack_id,
            component=scope.component_ref,
            operation=scope.operation,
        )
