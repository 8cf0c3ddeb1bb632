"""The host side of the Greentic import interfaces (wit-contracts.md §5, §6 checklist).

Everything is defined once on a process-wide linker (:func:`build_linker`); each function finds
its call through :func:`.scope.current`. Failures a guest can handle are returned as the WIT
error arm (``denied``, ``not-found``, ``unavailable`` ...); only host bugs and unsupported
operations trap.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson
import wasmtime
from wasmtime import component as cm

from . import host_http
from . import scope as scopes
from .hostfunc import HostTrap, define
from .wit_values import Err, Ok, field, record

log = logging.getLogger("greentic_runner.components.guest")

STATE_PREFIX_FORMAT = "pack:{pack_id}"
PACK_CONFIG_EXTENSIONS = ("greentic.pack-config.v1", "pack-config.v1")

# WASI p2 packages that Linker.add_wasip2() provides. wasi:http is deliberately absent: it
# would bypass the network allowlist.
WASI_PROVIDED = ("wasi:io/", "wasi:clocks/", "wasi:random/", "wasi:cli/", "wasi:filesystem/")
WASI_SOCKETS = "wasi:sockets/"  # linked, but every address is refused by WASI's default check


# -- control ---------------------------------------------------------------------------------


def _should_cancel() -> bool:
    return scopes.current().should_cancel()


def _yield_now() -> None:
    return None


# -- secrets-store -----------------------------------------------------------------------------


def _secrets_get(key: str) -> Ok | Err:
    call = scopes.current()
    if not key or len(key) > 256:
        return Err("invalid-key")
    if not call.policy.secrets_allowed(key):
        log.warning(call.deny(f"secret {key}"))
        return Err("denied")
    manager = call.services.secrets
    if manager is None:
        return Ok(None)
    try:
        value = call.run(lambda: manager.get(call.tenant_ctx(), call.pack_id, key))
    except Exception as exc:
        log.warning("secret %s unavailable for pack %s: %s", key, call.pack_id, exc)
        return Err("internal")
    return Ok(None if value is None else value.encode())


def _secrets_put(key: str, value: bytes) -> None:
    raise HostTrap(f"secrets-store.put({key!r}) is not supported by this host")


# -- state-store -------------------------------------------------------------------------------


def _state_error(code: str, message: str) -> Err:
    return Err(record(code=code, message=message))


def _state_call(action: Callable[[scopes.CallScope, Any], Any]) -> Ok | Err:
    call = scopes.current()
    store = call.services.state
    if store is None or not call.policy.allow_state:
        return _state_error("unavailable", "state store is not available to this component")
    try:
        return Ok(call.run(lambda: action(call, store)))
    except LookupError as exc:
        return _state_error("not-found", f"state key `{exc.args[0]}` not found")
    except Exception as exc:
        log.warning("state store failed for pack %s: %s", call.pack_id, exc)
        return _state_error("internal", f"state store failed: {exc}")


def _decode_state(raw: bytes) -> Any:
    """Writes parse the bytes as JSON and otherwise store them as a JSON string (reference)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", errors="replace")


def _state_read(key: str, ctx: Any) -> Ok | Err:
    async def read(call: scopes.CallScope, store: Any) -> bytes:
        value = await store.get_json(call.tenant_ctx(), _prefix(call), key)
        if value is None:
            raise LookupError(key)
        return orjson.dumps(value)

    return _state_call(read)


def _state_write(key: str, data: bytes, ctx: Any) -> Ok | Err:
    async def write(call: scopes.CallScope, store: Any) -> str:
        await store.set_json(call.tenant_ctx(), _prefix(call), key, _decode_state(data))
        return "ok"

    return _state_call(write)


def _state_delete(key: str, ctx: Any) -> Ok | Err:
    async def delete(call: scopes.CallScope, store: Any) -> str:
        await store.delete(call.tenant_ctx(), _prefix(call), key)
        return "ok"

    return _state_call(delete)


def _state_write_if_absent(key: str, data: bytes, ctx: Any) -> Ok | Err:
    # The StateStore protocol has no atomic create; the contract says to refuse (§5.3).
    return _state_error("unsupported", "write-if-absent needs an atomic backend")


def _prefix(call: scopes.CallScope) -> str:
    return STATE_PREFIX_FORMAT.format(pack_id=call.pack_id)


# -- telemetry ---------------------------------------------------------------------------------


def _telemetry_log(span: Any, fields: list[tuple[str, str]], ctx: Any) -> Ok:
    call = scopes.current()
    values = dict(fields)
    message = values.pop("message", values.pop("msg", ""))
    level = logging.getLevelName(str(values.pop("level", "info")).upper())
    log.log(
        level if isinstance(level, int) else logging.INFO,
        "component %s: %s",
        call.component_ref,
        message,
        extra={
            "tenant": call.ctx.tenant,
            "pack": call.pack_id,
            "component": call.component_ref,
            "flow": field(span, "flow-id"),
            "node": field(span, "node-id"),
            "fields": values,
        },
    )
    return Ok("ok")


def _logging_log(*args: Any) -> None:
    call = scopes.current()
    log.info("component %s: %s", call.component_ref, " ".join(str(a) for a in args))


# -- runtime-config ----------------------------------------------------------------------------


def _config_get(key: str) -> Ok | Err:
    call = scopes.current()
    if not key:
        return Err("invalid-key")
    if not call.policy.allow_runtime_config:
        log.warning(call.deny(f"runtime config {key}"))
        return Err("denied")
    lookup = call.services.runtime_config or pack_config_value
    try:
        value = lookup(call.pack, key)
    except Exception as exc:
        log.warning("runtime config %s failed for pack %s: %s", key, call.pack_id, exc)
        return Err("internal")
    if value is None and call.policy.secrets_allowed(key) and call.services.secrets is not None:
        log.warning("runtime config %s read from the secrets store (deprecated fallback)", key)
        return _secrets_get(key)
    return Ok(value)


def pack_config_value(pack: Any, key: str) -> bytes | None:
    """The default runtime-config source: the pack's ``pack-config.v1`` ``non_secret`` map."""
    for name in PACK_CONFIG_EXTENSIONS:
        config = pack.extensions.get(name)
        if isinstance(config, dict):
            values = config.get("non_secret")
            if isinstance(values, dict) and key in values:
                value = values[key]
                return value.encode() if isinstance(value, str) else orjson.dumps(value)
    return None


# -- linker ------------------------------------------------------------------------------------

_INTERFACES: dict[str, dict[str, Callable[..., Any]]] = {
    **{
        f"greentic:component/control@{v}": {
            "should-cancel": _should_cancel,
            "yield-now": _yield_now,
        }
        for v in ("0.6.0", "0.5.0", "0.4.0")
    },
    "greentic:secrets-store/secrets-store@1.0.0": {"get": _secrets_get},
    "greentic:secrets-store/secrets-store@1.1.0": {"get": _secrets_get, "put": _secrets_put},
    "greentic:state/state-store@1.0.0": {
        "read": _state_read,
        "write": _state_write,
        "delete": _state_delete,
    },
    "greentic:state/state-store@1.1.0": {
        "read": _state_read,
        "write": _state_write,
        "delete": _state_delete,
        "write-if-absent": _state_write_if_absent,
    },
    **{
        name: {"send": host_http.send_v1_1}
        for name in ("greentic:http/http-client@1.1.0", "greentic:http/client@1.1.0")
    },
    **{
        name: {"send": host_http.send_v1_0}
        for name in ("greentic:http/http-client@1.0.0", "greentic:http/client@1.0.0")
    },
    "greentic:host/http-v1@1.0.0": {"request": host_http.legacy_request},
    "greentic:host/kv-v1@1.0.0": {"get": lambda ns, key: None, "put": lambda ns, key, v: None},
    "greentic:telemetry/logger-api@1.0.0": {"log": _telemetry_log},
    "greentic:telemetry/logging": {
        "log": _logging_log,
        "span-start": lambda *args: 0,
        "span-end": lambda *args: None,
    },
    "greentic:runtime-config/runtime-config@1.0.0": {"get": _config_get},
    "greentic:oauth-broker/broker-v1@1.0.0": {
        "get-consent-url": lambda *args: "",
        "exchange-code": lambda *args: "",
        "get-token": lambda *args: "",
    },
}

PROVIDED_INSTANCES = frozenset(_INTERFACES)


def build_linker(engine: wasmtime.Engine) -> cm.Linker:
    """A linker with WASI p2 and every Greentic host interface (shared by all components)."""
    linker = cm.Linker(engine)
    linker.add_wasip2()
    with linker.root() as root:
        for instance_name, funcs in _INTERFACES.items():
            with root.add_instance(instance_name) as instance:
                for func_name, fn in funcs.items():
                    define(instance, func_name, fn)
    return linker


def is_provided(import_name: str) -> bool:
    """True when the host links ``import_name`` (an instance name from a component's imports)."""
    if import_name in PROVIDED_INSTANCES:
        return True
    if import_name.startswith(WASI_PROVIDED) or import_name.startswith(WASI_SOCKETS):
        return "@0.2." in import_name or "@" not in import_name
    return False
