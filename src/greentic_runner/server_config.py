"""The ``serve`` configuration: the server config file, and the resolved :class:`ServePlan`.

The file is YAML (all keys optional; relative paths are relative to the file)::

    host: 127.0.0.1
    port: 8080
    workers: 1
    store: sqlite:.greentic/runner.db        # memory | sqlite:PATH | redis://HOST:PORT/DB
    tenants:
      demo:
        pack: packs/hello                     # main pack: directory or .gtpack
        overlays: [packs/extra.gtpack]        # loaded after the main pack, in order
        bindings: bindings/demo.yaml          # the tenant's bindings (HostConfig)
    routing:
      tenant_resolver: env                    # env | header | host
      default_tenant: demo
    limits:
      max_body_bytes: 1048576
      max_json_depth: 64
      turn_timeout_secs: 30
    dedupe:
      max_entries: 10000
      ttl_secs: 3600
    shutdown_timeout_secs: 30
    admin:
      token_env: ADMIN_TOKEN                  # the variable holding the admin token

:func:`resolve_plan` merges, highest first: command-line flags, environment variables,
the file, defaults. Unknown keys are errors that name the file, the key and its line.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import orjson

from ._yaml import YamlDocument, YamlProblem, load_yaml
from .errors import ConfigError
from .http.auth import ADMIN_TOKEN_ENV
from .http.dedupe import DEFAULT_MAX_ENTRIES, DEFAULT_TTL_SECS
from .http.limits import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_JSON_DEPTH,
    DEFAULT_TURN_TIMEOUT_SECS,
    Limits,
)
from .http.settings import DEFAULT_SHUTDOWN_TIMEOUT_SECS
from .http.tenants import DEFAULT_TENANT, RESOLVERS, Resolver, TenantRouting
from .ids import is_valid_id

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_STORE = "sqlite:.greentic/runner.db"

ENV_HOST = "GREENTIC_RUNNER_HOST"
ENV_PORT = "GREENTIC_RUNNER_PORT"
ENV_WORKERS = "GREENTIC_RUNNER_WORKERS"
ENV_MAX_BODY = "GREENTIC_RUNNER_MAX_BODY_BYTES"
ENV_MAX_DEPTH = "GREENTIC_RUNNER_MAX_JSON_DEPTH"
ENV_TURN_TIMEOUT = "GREENTIC_RUNNER_TURN_TIMEOUT_SECS"
ENV_SHUTDOWN_TIMEOUT = "GREENTIC_RUNNER_SHUTDOWN_TIMEOUT_SECS"
STORE_ENV = ("GREENTIC_RUNNER_SESSION_BACKEND", "GREENTIC_RUNNER_STATE_BACKEND")

_TOP = frozenset(
    {"host", "port", "workers", "store", "tenants", "routing", "limits", "dedupe"}
    | {"shutdown_timeout_secs", "admin"}
)
_TENANT = frozenset({"pack", "overlays", "bindings"})
_ROUTING = frozenset({"tenant_resolver", "default_tenant"})
_LIMITS = frozenset({"max_body_bytes", "max_json_depth", "turn_timeout_secs"})
_DEDUPE = frozenset({"max_entries", "ttl_secs"})
_ADMIN = frozenset({"token_env"})


@dataclass(frozen=True, slots=True)
class TenantPlan:
    """One tenant to serve: its packs (main first, then overlays; empty when a pack index
    supplies them) and optional bindings."""

    tenant: str
    packs: tuple[Path, ...]
    bindings: Path | None = None


@dataclass(frozen=True, slots=True)
class ServePlan:
    """Everything ``serve`` needs, resolved and validated. ``store`` None means "from the
    ``GREENTIC_RUNNER_*`` store variables". JSON round-trips (handed to worker processes)."""

    tenants: tuple[TenantPlan, ...] = ()
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    workers: int = 1
    store: str | None = DEFAULT_STORE
    limits: Limits = field(default_factory=Limits)
    routing: TenantRouting = field(default_factory=TenantRouting)
    admin_token_env: str = ADMIN_TOKEN_ENV
    dedupe_max_entries: int = DEFAULT_MAX_ENTRIES
    dedupe_ttl_secs: float = DEFAULT_TTL_SECS
    shutdown_timeout_secs: float = DEFAULT_SHUTDOWN_TIMEOUT_SECS

    def to_json(self) -> str:
        return orjson.dumps(
            {
                "tenants": [
                    {
                        "tenant": t.tenant,
                        "packs": [str(p) for p in t.packs],
                        "bindings": str(t.bindings) if t.bindings else None,
                    }
                    for t in self.tenants
                ],
                "host": self.host,
                "port": self.port,
                "workers": self.workers,
                "store": self.store,
                "limits": {
                    "max_body_bytes": self.limits.max_body_bytes,
                    "max_json_depth": self.limits.max_json_depth,
                    "turn_timeout_secs": self.limits.turn_timeout_secs,
                },
                "routing": {
                    "resolver": self.routing.resolver,
                    "default_tenant": self.routing.default_tenant,
                },
                "admin_token_env": self.admin_token_env,
                "dedupe_max_entries": self.dedupe_max_entries,
                "dedupe_ttl_secs": self.dedupe_ttl_secs,
                "shutdown_timeout_secs": self.shutdown_timeout_secs,
            }
        ).decode()

    @classmethod
    def from_json(cls, text: str | bytes) -> ServePlan:
        raw = orjson.loads(text)
        tenants = tuple(
            TenantPlan(
                t["tenant"],
                tuple(Path(p) for p in t["packs"]),
                Path(t["bindings"]) if t["bindings"] else None,
            )
            for t in raw.pop("tenants")
        )
        routing = raw.pop("routing")
        return cls(
            tenants=tenants,
            limits=Limits(**raw.pop("limits")),
            routing=TenantRouting(routing["resolver"], routing["default_tenant"]),
            **raw,
        )


@dataclass(frozen=True, slots=True)
class ServeFlags:
    """The ``serve`` command line; None means "not given"."""

    config: Path | None = None
    packs: Sequence[str] = ()
    bindings: Sequence[Path] = ()
    host: str | None = None
    port: int | None = None
    store: str | None = None
    workers: int | None = None


# -- the file ------------------------------------------------------------------------------


class _File:
    """Typed reads from one config document, with errors naming file, key and line."""

    def __init__(self, path: Path, doc: YamlDocument) -> None:
        self.path = path
        self.doc = doc

    def fail(self, message: str, *key: str) -> ConfigError:
        line = self.doc.line(*key) if key else None
        where = f"{self.path}:{line}" if line else str(self.path)
        return ConfigError(f"invalid server config {where}: {message}")

    def mapping(self, value: Any, *key: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(f"`{'.'.join(key)}` must be a mapping", *key)
        return value

    def known(self, section: dict[str, Any], allowed: frozenset[str], *key: str) -> None:
        for name in sorted(set(section) - allowed):
            dotted = ".".join((*key, name))
            raise self.fail(
                f"unknown key `{dotted}` (expected one of: {sorted(allowed)})", *key, name
            )

    def text(self, value: Any, *key: str) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"`{'.'.join(key)}` must be a non-empty string", *key)
        return value.strip()

    def number(self, value: Any, kind: type, *key: str) -> Any:
        if value is None:
            return None
        ok = isinstance(value, int) if kind is int else isinstance(value, int | float)
        if isinstance(value, bool) or not ok or value < 0:
            noun = "a non-negative integer" if kind is int else "a non-negative number"
            raise self.fail(f"`{'.'.join(key)}` must be {noun}", *key)
        return value

    def relpath(self, value: Any, *key: str) -> Path | None:
        text = self.text(value, *key)
        if text is None:
            return None
        candidate = Path(text).expanduser()
        return candidate if candidate.is_absolute() else self.path.parent / candidate


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """The server config file's values; every field None/empty when the file omits it."""

    path: Path
    host: str | None = None
    port: int | None = None
    workers: int | None = None
    store: str | None = None
    tenants: tuple[TenantPlan, ...] = ()
    resolver: str | None = None
    default_tenant: str | None = None
    limits: dict[str, Any] = field(default_factory=dict)
    dedupe: dict[str, Any] = field(default_factory=dict)
    shutdown_timeout_secs: float | None = None
    admin_token_env: str | None = None


def load_server_config(path: Path | str) -> ServerConfig:
    """Read and validate a server config file; ConfigError names the file, key and line."""
    path = Path(path)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"failed to read server config {path}: {exc.strerror or exc}") from exc
    try:
        doc = load_yaml(text)
    except YamlProblem as exc:
        where = f"{path}:{exc.line}" if exc.line else str(path)
        raise ConfigError(f"failed to parse server config {where}: {exc}") from exc
    f = _File(path, doc)
    data = f.mapping(doc.data if doc.data is not None else {})
    f.known(data, _TOP)
    routing = f.mapping(data.get("routing"), "routing")
    f.known(routing, _ROUTING, "routing")
    limits = f.mapping(data.get("limits"), "limits")
    f.known(limits, _LIMITS, "limits")
    dedupe = f.mapping(data.get("dedupe"), "dedupe")
    f.known(dedupe, _DEDUPE, "dedupe")
    admin = f.mapping(data.get("admin"), "admin")
    f.known(admin, _ADMIN, "admin")
    resolver = f.text(routing.get("tenant_resolver"), "routing", "tenant_resolver")
    if resolver is not None and resolver not in RESOLVERS:
        raise f.fail(f"`routing.tenant_resolver` must be one of {list(RESOLVERS)}", "routing")
    return ServerConfig(
        path=path,
        host=f.text(data.get("host"), "host"),
        port=f.number(data.get("port"), int, "port"),
        workers=f.number(data.get("workers"), int, "workers"),
        store=_file_store(f, data.get("store")),
        tenants=_tenants(f, data.get("tenants")),
        resolver=resolver,
        default_tenant=f.text(routing.get("default_tenant"), "routing", "default_tenant"),
        limits={
            "max_body_bytes": f.number(
                limits.get("max_body_bytes"), int, "limits", "max_body_bytes"
            ),
            "max_json_depth": f.number(
                limits.get("max_json_depth"), int, "limits", "max_json_depth"
            ),
            "turn_timeout_secs": f.number(
                limits.get("turn_timeout_secs"), float, "limits", "turn_timeout_secs"
            ),
        },
        dedupe={
            "max_entries": f.number(dedupe.get("max_entries"), int, "dedupe", "max_entries"),
            "ttl_secs": f.number(dedupe.get("ttl_secs"), float, "dedupe", "ttl_secs"),
        },
        shutdown_timeout_secs=f.number(
            data.get("shutdown_timeout_secs"), float, "shutdown_timeout_secs"
        ),
        admin_token_env=f.text(admin.get("token_env"), "admin", "token_env"),
    )


def _file_store(f: _File, value: Any) -> str | None:
    """A relative ``sqlite:PATH`` in the file is relative to the file."""
    store = f.text(value, "store")
    if store is None or not store.startswith("sqlite:"):
        return store
    raw = store.removeprefix("sqlite:").removeprefix("//")
    if not raw:
        raise f.fail("`store` sqlite: needs a path, e.g. sqlite:.greentic/runner.db", "store")
    db = Path(raw).expanduser()
    return f"sqlite:{db if db.is_absolute() else f.path.parent / db}"


def _tenants(f: _File, value: Any) -> tuple[TenantPlan, ...]:
    section = f.mapping(value, "tenants")
    plans = []
    for tenant, raw in section.items():
        if not isinstance(tenant, str) or not is_valid_id(tenant):
            raise f.fail(f"tenant `{tenant}` is not a valid id", "tenants")
        body = f.mapping(raw, "tenants", tenant)
        f.known(body, _TENANT, "tenants", tenant)
        pack = f.relpath(body.get("pack"), "tenants", tenant, "pack")
        if pack is None:
            raise f.fail(f"tenant `{tenant}` needs a `pack`", "tenants", tenant)
        overlays_raw = body.get("overlays") or []
        if not isinstance(overlays_raw, list):
            raise f.fail(f"`tenants.{tenant}.overlays` must be a list", "tenants", tenant)
        overlays = [f.relpath(item, "tenants", tenant, "overlays") for item in overlays_raw]
        plans.append(
            TenantPlan(
                tenant,
                (pack, *(p for p in overlays if p is not None)),
                f.relpath(body.get("bindings"), "tenants", tenant, "bindings"),
            )
        )
    return tuple(plans)


# -- merging -------------------------------------------------------------------------------


def _env_number(environ: Mapping[str, str], name: str, kind: type) -> Any:
    raw = environ.get(name, "").strip()
    if not raw:
        return None
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a valid {kind.__name__}") from None
    if value < 0:
        raise ConfigError(f"{name} must not be negative")
    return value


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def parse_pack_flag(value: str, default_tenant: str) -> tuple[str, Path]:
    """``[TENANT=]PATH`` → (tenant, path). A bare path belongs to the default tenant."""
    tenant, sep, path = value.partition("=")
    if not sep:
        return default_tenant, Path(value)
    if not is_valid_id(tenant) or not path:
        raise ConfigError(f"--pack {value!r}: expected [TENANT=]PATH with a valid tenant id")
    return tenant, Path(path)


def _flag_tenants(
    flags: ServeFlags, default_tenant: str, bindings_by_tenant: dict[str, Path]
) -> dict[str, TenantPlan]:
    packs: dict[str, list[Path]] = {}
    for value in flags.packs:
        tenant, path = parse_pack_flag(value, default_tenant)
        packs.setdefault(tenant, []).append(path)
    return {
        tenant: TenantPlan(tenant, tuple(paths), bindings_by_tenant.get(tenant))
        for tenant, paths in packs.items()
    }


def resolve_plan(
    flags: ServeFlags,
    environ: Mapping[str, str] | None = None,
    *,
    bindings_tenant: Mapping[Path, str] | None = None,
) -> ServePlan:
    """Merge flags > environment > config file > defaults into a validated ServePlan.

    ``bindings_tenant`` maps each ``--bindings`` file to the tenant it declares (the caller
    reads the files); a ``--pack`` for that tenant uses it. ``--pack`` for a tenant the file
    also names replaces the file's packs for that tenant. With ``PACK_INDEX_URL`` set the
    index supplies the packs, so tenants may have bindings only (or nothing may be named).
    Raises ConfigError.
    """
    env = os.environ if environ is None else environ
    file = load_server_config(flags.config) if flags.config else None
    file_limits = file.limits if file else {}
    file_dedupe = file.dedupe if file else {}
    routing = TenantRouting.from_env(
        env,
        TenantRouting(
            cast(Resolver, (file.resolver if file else None) or "env"),
            (file.default_tenant if file else None) or DEFAULT_TENANT,
        ),
    )
    flag_bindings = {tenant: path for path, tenant in (bindings_tenant or {}).items()}
    tenants = {t.tenant: t for t in (file.tenants if file else ())}
    for tenant, path in flag_bindings.items():
        if tenant in tenants:
            tenants[tenant] = replace(tenants[tenant], bindings=path)
    for tenant, plan in _flag_tenants(flags, routing.default_tenant, flag_bindings).items():
        known = tenants.get(tenant)
        # --pack replaces the file's packs; the file's bindings stay unless --bindings says
        tenants[tenant] = replace(
            plan, bindings=plan.bindings or (known.bindings if known else None)
        )
    from_index = bool(env.get("PACK_INDEX_URL", "").strip())
    for tenant, path in flag_bindings.items():
        if tenant in tenants:
            continue
        if not from_index:
            raise ConfigError(
                f"--bindings for tenant {tenant} but no pack for it: add --pack {tenant}=PATH"
            )
        tenants[tenant] = TenantPlan(tenant, (), path)  # its packs come from the index
    if not tenants and not from_index:
        raise ConfigError(
            "nothing to serve: pass --pack [TENANT=]PATH or a --config file with `tenants`"
        )
    store_from_env = any(env.get(name, "").strip() for name in STORE_ENV)
    if flags.store is not None:
        store: str | None = flags.store
    elif store_from_env:
        store = None  # StorageConfig.from_env reads them
    else:
        store = (file.store if file else None) or DEFAULT_STORE
    try:
        limits = Limits(
            max_body_bytes=_first(
                _env_number(env, ENV_MAX_BODY, int),
                file_limits.get("max_body_bytes"),
                DEFAULT_MAX_BODY_BYTES,
            ),
            max_json_depth=_first(
                _env_number(env, ENV_MAX_DEPTH, int),
                file_limits.get("max_json_depth"),
                DEFAULT_MAX_JSON_DEPTH,
            ),
            turn_timeout_secs=float(
                _first(
                    _env_number(env, ENV_TURN_TIMEOUT, float),
                    file_limits.get("turn_timeout_secs"),
                    DEFAULT_TURN_TIMEOUT_SECS,
                )
            ),
        )
    except ValueError as exc:
        raise ConfigError(f"invalid limits: {exc}") from exc
    workers = _first(flags.workers, _env_number(env, ENV_WORKERS, int), file and file.workers, 1)
    port = _first(flags.port, _env_number(env, ENV_PORT, int), file and file.port, DEFAULT_PORT)
    if not 0 <= port <= 65535:
        raise ConfigError(f"port {port} is out of range (0-65535)")
    if workers < 1:
        raise ConfigError("workers must be at least 1")
    max_entries = _first(file_dedupe.get("max_entries"), DEFAULT_MAX_ENTRIES)
    if max_entries < 1:
        raise ConfigError("dedupe.max_entries must be at least 1")
    return ServePlan(
        tenants=tuple(tenants[t] for t in sorted(tenants)),
        host=_first(
            flags.host, env.get(ENV_HOST, "").strip() or None, file and file.host, DEFAULT_HOST
        ),
        port=port,
        workers=workers,
        store=store,
        limits=limits,
        routing=routing,
        admin_token_env=(file.admin_token_env if file else None) or ADMIN_TOKEN_ENV,
        dedupe_max_entries=max_entries,
        dedupe_ttl_secs=float(_first(file_dedupe.get("ttl_secs"), DEFAULT_TTL_SECS)),
        shutdown_timeout_secs=float(
            _first(
                _env_number(env, ENV_SHUTDOWN_TIMEOUT, float),
                file.shutdown_timeout_secs if file else None,
                DEFAULT_SHUTDOWN_TIMEOUT_SECS,
            )
        ),
    )
