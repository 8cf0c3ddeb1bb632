"""HostConfig: one tenant's bindings (spec §1.3). Validated once, frozen afterwards.

``load_bindings`` (below) reads the bindings YAML; embedders and tests may also build a
``HostConfig`` directly with ``HostConfig(tenant="demo")``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._yaml import YamlDocument, YamlProblem, load_yaml
from .errors import ConfigError
from .ids import is_valid_id

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetryConfig:
    """Flow retries for transient errors. Clamped: at least 1 attempt, at least 50 ms."""

    max_attempts: int = 3
    base_delay_ms: int = 250

    def __post_init__(self) -> None:
        object.__setattr__(self, "max_attempts", max(1, int(self.max_attempts)))
        object.__setattr__(self, "base_delay_ms", max(50, int(self.base_delay_ms)))


@dataclass(frozen=True, slots=True)
class Fast2FlowConfig:
    """Intent routing through a pack component (spec §4.2). Disabled by default."""

    enabled: bool = False
    scope: str | None = None
    component_ref: str = "fast2flow-routing"
    operation: str = "route"
    time_budget_ms: int = 50
    registry_path: str | None = None
    indexes_path: str | None = None


@dataclass(frozen=True, slots=True)
class SecretsPolicy:
    """Which secret keys the tenant's packs may read: the union of the bindings' lists."""

    allowed: frozenset[str] = frozenset()
    allow_all: bool = False

    def is_allowed(self, key: str) -> bool:
        return self.allow_all or key in self.allowed


@dataclass(frozen=True, slots=True)
class WebhookPolicy:
    allow_paths: tuple[str, ...] = ()
    deny_paths: tuple[str, ...] = ()

    def is_allowed(self, path: str) -> bool:
        """A deny prefix wins; an empty allow list allows everything else."""
        if any(path.startswith(prefix) for prefix in self.deny_paths):
            return False
        return not self.allow_paths or any(path.startswith(p) for p in self.allow_paths)


@dataclass(frozen=True, slots=True)
class TimerSpec:
    flow_id: str
    cron: str
    schedule_id_: str | None = None
    timezone: str | None = None

    @property
    def schedule_id(self) -> str:
        return self.schedule_id_ or self.flow_id


@dataclass(frozen=True, slots=True)
class FlowTypeBinding:
    adapter: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class HostConfig:
    tenant: str
    bindings_path: Path | None = None
    flow_type_bindings: dict[str, FlowTypeBinding] = field(default_factory=dict)
    retry: RetryConfig = RetryConfig()
    secrets_policy: SecretsPolicy = SecretsPolicy()
    webhook_policy: WebhookPolicy = WebhookPolicy()
    timers: tuple[TimerSpec, ...] = ()
    fast2flow: Fast2FlowConfig = Fast2FlowConfig()
    mocks: Any = None  # raw `mocks:` section; parsed by components.mocks
    env_passthrough: tuple[str, ...] = ()
    network_allow: tuple[str, ...] = ()
    http_enabled: bool = False
    rate_limits: dict[str, Any] = field(default_factory=dict)
    mcp: dict[str, Any] = field(default_factory=dict)  # raw `mcp:` section (store, runtime, …)
    mcp_servers: tuple[dict[str, Any], ...] = ()  # generated bindings' `mcp_servers`


# --- the bindings YAML file (spec §1.3) -------------------------------------------------

_KNOWN_KEYS = frozenset(
    {"tenant", "flow_type_bindings", "mcp", "rate_limits", "timers", "retry", "fast2flow"}
    | {"mocks", "env_passthrough", "network_allow", "secrets_required", "mcp_servers"}
)
_DEFAULT_RATE_LIMITS = {"messaging_send_qps": 10, "messaging_burst": 20}


class _Bindings:
    """Reads one bindings document; every error names the file, the key and its line."""

    def __init__(self, path: Path, doc: YamlDocument) -> None:
        self.path = path
        self.doc = doc

    def fail(self, message: str, *key: str | int) -> ConfigError:
        line = self.doc.line(*key) if key else None
        where = f" (line {line})" if line is not None else ""
        return ConfigError(f"failed to parse bindings file {self.path}: {message}{where}")

    def warn(self, message: str, *key: str | int) -> None:
        line = self.doc.line(*key) if key else None
        where = f" (line {line})" if line is not None else ""
        logger.warning("bindings file %s: %s%s", self.path, message, where)

    def mapping(self, value: Any, *key: str | int) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(f"`{_dotted(key)}` must be a mapping", *key)
        return value

    def strings(self, value: Any, *key: str | int) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(f"`{_dotted(key)}` must be a list of strings", *key)
        return tuple(value)

    def text(self, value: Any, *key: str | int, required: bool = False) -> str | None:
        if value is None and not required:
            return None
        if value is None:
            raise self.fail(f"`{_dotted(key)}` is required", *key)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"`{_dotted(key)}` must be a non-empty string", *key)
        return value

    def integer(self, value: Any, default: int, *key: str | int) -> int:
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"`{_dotted(key)}` must be an integer", *key)
        return value

    def unknown(self, section: dict[str, Any], known: frozenset[str], *key: str | int) -> None:
        for name in sorted(set(section) - known):
            self.warn(f"unknown key `{_dotted((*key, name))}` ignored", *key, name)


def _dotted(key: tuple[str | int, ...]) -> str:
    return "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in key).lstrip(".")


def load_bindings(path: Path | str) -> HostConfig:
    """Read a tenant bindings YAML file into a HostConfig.

    Raises ConfigError "failed to read bindings file {path}" when the file cannot be read
    and "failed to parse bindings file {path}: …" naming the key (and line) otherwise.
    Unknown keys are logged as warnings and ignored.
    """
    path = Path(path)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"failed to read bindings file {path}: {exc.strerror or exc}") from exc
    try:
        doc = load_yaml(text)
    except YamlProblem as exc:
        raise ConfigError(f"failed to parse bindings file {path}: {exc}") from exc
    return _host_config(_Bindings(path, doc))


def _host_config(b: _Bindings) -> HostConfig:
    data = b.doc.data
    if not isinstance(data, dict):
        raise b.fail("expected a mapping with at least `tenant`")
    b.unknown(data, _KNOWN_KEYS)
    tenant = b.text(data.get("tenant"), "tenant", required=True)
    assert tenant is not None
    if not is_valid_id(tenant):
        raise b.fail(f"`tenant` {tenant!r} is not a valid id (letters, digits, '.', '_', '-')")
    bindings = _flow_type_bindings(b, data.get("flow_type_bindings"))
    secrets = {s for binding in bindings.values() for s in binding.secrets}
    secrets.update(b.strings(data.get("secrets_required"), "secrets_required"))
    mcp = b.mapping(data.get("mcp"), "mcp")
    http_enabled = mcp.get("http_enabled")
    if http_enabled is not None and not isinstance(http_enabled, bool):
        raise b.fail("`mcp.http_enabled` must be true or false", "mcp", "http_enabled")
    mcp_servers = data.get("mcp_servers") or []
    if not isinstance(mcp_servers, list) or not all(isinstance(s, dict) for s in mcp_servers):
        raise b.fail("`mcp_servers` must be a list of mappings", "mcp_servers")
    return HostConfig(
        tenant=tenant,
        bindings_path=b.path,
        flow_type_bindings=bindings,
        retry=_retry(b, data),
        secrets_policy=SecretsPolicy(allowed=frozenset(secrets)),
        webhook_policy=_webhook_policy(b, bindings.get("webhook")),
        timers=_timers(b, data.get("timers")),
        fast2flow=_fast2flow(b, data.get("fast2flow")),
        mocks=_mocks(b, data.get("mocks")),
        env_passthrough=b.strings(data.get("env_passthrough"), "env_passthrough"),
        network_allow=b.strings(data.get("network_allow"), "network_allow"),
        http_enabled=http_enabled if http_enabled is not None else "messaging" in bindings,
        rate_limits=_rate_limits(b, data.get("rate_limits")),
        mcp=mcp,
        mcp_servers=tuple(mcp_servers),
    )


def _flow_type_bindings(b: _Bindings, raw: Any) -> dict[str, FlowTypeBinding]:
    bindings: dict[str, FlowTypeBinding] = {}
    for flow_type, value in b.mapping(raw, "flow_type_bindings").items():
        key = ("flow_type_bindings", flow_type)
        section = b.mapping(value, *key)
        b.unknown(section, frozenset({"adapter", "config", "secrets"}), *key)
        bindings[flow_type] = FlowTypeBinding(
            adapter=b.text(section.get("adapter"), *key, "adapter"),
            config=b.mapping(section.get("config"), *key, "config"),
            secrets=b.strings(section.get("secrets"), *key, "secrets"),
        )
    return bindings


def _webhook_policy(b: _Bindings, binding: FlowTypeBinding | None) -> WebhookPolicy:
    """From the webhook binding's config; a malformed one only warns (like the reference)."""
    if binding is None:
        return WebhookPolicy()
    allow, deny = binding.config.get("allow_paths") or [], binding.config.get("deny_paths") or []
    if not all(isinstance(v, list) and all(isinstance(p, str) for p in v) for v in (allow, deny)):
        b.warn("webhook policy is malformed; using the default", "flow_type_bindings", "webhook")
        return WebhookPolicy()
    return WebhookPolicy(allow_paths=tuple(allow), deny_paths=tuple(deny))


def _retry(b: _Bindings, data: dict[str, Any]) -> RetryConfig:
    """Top-level ``retry``, else the older ``mcp.retry``; clamped by RetryConfig."""
    key: tuple[str, ...] = ("retry",)
    raw = data.get("retry")
    if raw is None and isinstance(data.get("mcp"), dict) and data["mcp"].get("retry") is not None:
        key, raw = ("mcp", "retry"), data["mcp"]["retry"]
    section = b.mapping(raw, *key)
    b.unknown(section, frozenset({"max_attempts", "base_delay_ms"}), *key)
    default = RetryConfig()
    return RetryConfig(
        max_attempts=b.integer(
            section.get("max_attempts"), default.max_attempts, *key, "max_attempts"
        ),
        base_delay_ms=b.integer(
            section.get("base_delay_ms"), default.base_delay_ms, *key, "base_delay_ms"
        ),
    )


def _timers(b: _Bindings, raw: Any) -> tuple[TimerSpec, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise b.fail("`timers` must be a list of {flow_id, cron}", "timers")
    timers = []
    for index, item in enumerate(raw):
        key = ("timers", index)
        section = b.mapping(item, *key)
        b.unknown(section, frozenset({"flow_id", "cron", "schedule_id", "timezone"}), *key)
        flow_id = b.text(section.get("flow_id"), *key, "flow_id", required=True)
        cron = b.text(section.get("cron"), *key, "cron", required=True)
        assert flow_id is not None and cron is not None
        timers.append(
            TimerSpec(
                flow_id=flow_id,
                cron=cron,
                schedule_id_=b.text(section.get("schedule_id"), *key, "schedule_id"),
                timezone=b.text(section.get("timezone"), *key, "timezone"),
            )
        )
    return tuple(timers)


def _fast2flow(b: _Bindings, raw: Any) -> Fast2FlowConfig:
    section = b.mapping(raw, "fast2flow")
    default = Fast2FlowConfig()
    b.unknown(section, frozenset(Fast2FlowConfig.__dataclass_fields__), "fast2flow")
    enabled = section.get("enabled", default.enabled)
    if not isinstance(enabled, bool):
        raise b.fail("`fast2flow.enabled` must be true or false", "fast2flow", "enabled")

    def text(name: str, fallback: str | None) -> str | None:
        return b.text(section.get(name), "fast2flow", name) or fallback

    return Fast2FlowConfig(
        enabled=enabled,
        scope=text("scope", default.scope),
        component_ref=text("component_ref", default.component_ref) or default.component_ref,
        operation=text("operation", default.operation) or default.operation,
        time_budget_ms=b.integer(
            section.get("time_budget_ms"), default.time_budget_ms, "fast2flow", "time_budget_ms"
        ),
        registry_path=text("registry_path", default.registry_path),
        indexes_path=text("indexes_path", default.indexes_path),
    )


def _rate_limits(b: _Bindings, raw: Any) -> dict[str, Any]:
    limits: dict[str, Any] = dict(_DEFAULT_RATE_LIMITS)
    for name, value in b.mapping(raw, "rate_limits").items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise b.fail(f"`rate_limits.{name}` must be a non-negative number", "rate_limits", name)
        limits[name] = value
    return limits


def _mocks(b: _Bindings, raw: Any) -> Any:
    """Validated here so a typo fails at load, naming the file; kept raw for the invoker."""
    from .components.mocks import parse_mocks

    try:
        parse_mocks(raw)
    except ConfigError as exc:
        raise b.fail(str(exc), "mocks") from exc
    return raw
