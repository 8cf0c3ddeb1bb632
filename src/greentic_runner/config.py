"""HostConfig: one tenant's bindings (spec §1.3). Validated once, frozen afterwards.

``load_bindings`` (below) reads the bindings YAML; embedders and tests may also build a
``HostConfig`` directly with ``HostConfig(tenant="demo")``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


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
