"""Tenant runtimes and the copy-on-write map of the active ones (spec §2.1, §2.2)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NamedTuple

from .activity import Activity
from .components.invoker import ComponentInvoker
from .config import Fast2FlowConfig, HostConfig
from .errors import PackError, SecretsError, TenantError
from .flows.registry import FlowRegistry
from .flows.resume import FlowResumeStore
from .flows.runner import Engine
from .packs.pack import PackRuntime
from .routing.resolve import resolve_flow_id
from .secrets import RUNNER_PACK, SecretsManager, not_found
from .storage.session import SessionStore
from .storage.state import StateStore
from .tenancy import TenantCtx


class RuntimeKey(NamedTuple):
    """The legacy key has no rollout ids; a revision key has all three. A named tuple:
    every turn hashes one, and a tuple hashes and compares in C."""

    tenant: str
    deployment_id: str | None = None
    bundle_id: str | None = None
    revision_id: str | None = None

    @classmethod
    def revision(cls, tenant: str, deployment: str, bundle: str, revision: str) -> RuntimeKey:
        return cls(tenant, deployment, bundle, revision)

    @property
    def is_revision(self) -> bool:
        return self.revision_id is not None

    def rollout_fields(self) -> dict[str, str | None]:
        """The revision's ids as JSON fields (none for the legacy key)."""
        if not self.is_revision:
            return {}
        return {
            "deployment_id": self.deployment_id,
            "bundle_id": self.bundle_id,
            "revision_id": self.revision_id,
        }


# Route answers remembered per registry. A key can hold a value from the request (an
# activity without flow id or type runs the main pack's entry flow whatever pack id it
# names), so the cache is bounded; past the bound, answers are computed every time.
MAX_REMEMBERED_ROUTES = 1024


@dataclass(frozen=True, slots=True)
class RolloutIds:
    deployment_id: str | None = None
    bundle_id: str | None = None
    revision_id: str | None = None
    customer_id: str | None = None


@dataclass(slots=True, eq=False)
class TenantRuntime:
    """A tenant's main pack plus ordered overlays, their engine and stores."""

    tenant: str
    config: HostConfig
    packs: list[PackRuntime]
    engine: Engine
    session_store: SessionStore
    state_store: StateStore
    invoker: ComponentInvoker
    secrets: SecretsManager
    rollout: RolloutIds = RolloutIds()
    timers: list[asyncio.Task[None]] = field(default_factory=list)

    resume: FlowResumeStore = field(init=False)
    # config.fast2flow when enabled, else None: every turn checks it, and with many tenants
    # each object read on the way (config, its fast2flow) is a cache miss.
    fast2flow: Fast2FlowConfig | None = field(init=False, repr=False)
    # resolve_flow_id's answers: the registry and main pack never change for a runtime,
    # and runtimes over the same packs share them (FlowRegistry.route_cache).
    _routes: dict[tuple[str | None, ...], tuple[str, str]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.packs:
            raise PackError(f"tenant runtime for {self.tenant} requires at least one pack")
        self.resume = FlowResumeStore.shared(self.session_store)
        self.fast2flow = self.config.fast2flow if self.config.fast2flow.enabled else None
        self._routes = self.engine.registry.route_cache(self.packs[0])

    def resolve(self, tenant: str, activity: Activity) -> tuple[str, str]:
        """``resolve_flow_id`` on this runtime: (pack_id, flow_id) or RoutingError. Answers
        are remembered by what decides them (flow id and pack id, else pack id and flow
        type), so the cache only holds flows the registry has; errors are not remembered."""
        if activity.flow_id is not None:
            key: tuple[str | None, ...] = (activity.flow_id, activity.pack_id)
        else:
            key = (None, activity.pack_id, activity.resolved_flow_type())
        found = self._routes.get(key)
        if found is None:
            found = resolve_flow_id(self.registry, self.main_pack, tenant, activity)
            if len(self._routes) < MAX_REMEMBERED_ROUTES:
                self._routes[key] = found
        return found

    @property
    def registry(self) -> FlowRegistry:
        return self.engine.registry

    @property
    def main_pack(self) -> PackRuntime:
        return self.packs[0]

    @property
    def overlays(self) -> list[PackRuntime]:
        return self.packs[1:]

    @property
    def digest(self) -> str | None:
        return self.main_pack.digest

    @property
    def overlay_digests(self) -> list[str | None]:
        return [pack.digest for pack in self.overlays]

    def pack_for_component(self, component_ref: str) -> PackRuntime | None:
        return next((p for p in self.packs if component_ref in p.components), None)

    async def get_secret(self, key: str) -> str:
        """A runtime-level secret, subject to the bindings policy."""
        if not self.config.secrets_policy.is_allowed(key):
            raise SecretsError(f"secret {key} is not permitted by bindings policy")
        ctx = TenantCtx(env="local", tenant=self.tenant)
        value = await self.secrets.get(ctx, RUNNER_PACK, key)
        if value is None:
            raise not_found(key)
        return value

    def close(self) -> None:
        """Cancel the runtime's timer tasks (called when it leaves the active map)."""
        for task in self.timers:
            task.cancel()
        self.timers.clear()


class ActivePacks:
    """Copy-on-write map RuntimeKey → TenantRuntime: lock-free reads, one writer at a time."""

    def __init__(self) -> None:
        self._dict: dict[RuntimeKey, TenantRuntime] = {}
        self._map: Mapping[RuntimeKey, TenantRuntime] = MappingProxyType(self._dict)
        self._write = threading.Lock()

    def _publish(self, new: dict[RuntimeKey, TenantRuntime]) -> None:
        """Swap in ``new``; readers holding the old snapshot keep a consistent view."""
        self._dict = new
        self._map = MappingProxyType(new)

    def snapshot(self) -> Mapping[RuntimeKey, TenantRuntime]:
        return self._map

    def __len__(self) -> int:
        return len(self._map)

    def load_pack(self, tenant: str) -> TenantRuntime | None:
        # A plain tuple equals (and hashes like) RuntimeKey(tenant), without its slow __new__.
        key: RuntimeKey = (tenant, None, None, None)  # type: ignore[assignment]
        return self._dict.get(key)

    def load_revision(
        self, tenant: str, deployment: str, bundle: str, revision: str
    ) -> TenantRuntime | None:
        return self._dict.get(RuntimeKey.revision(tenant, deployment, bundle, revision))

    def _swap(self, change: dict[RuntimeKey, TenantRuntime | None]) -> list[TenantRuntime]:
        """Apply ``change`` (None deletes); returns the runtimes that left the map."""
        with self._write:
            current = self._dict.copy()  # copies the hash table: no re-hashing of keys
            gone = []
            for key, runtime in change.items():
                old = current.pop(key, None)
                if old is not None and old is not runtime:
                    gone.append(old)
                if runtime is not None:
                    current[key] = runtime
            self._publish(current)
        return gone

    def insert_pack(self, tenant: str, runtime: TenantRuntime) -> None:
        """Set the tenant's legacy runtime; revision entries stay."""
        _close_all(self._swap({RuntimeKey(tenant): runtime}))

    def insert_revision(
        self, tenant: str, deployment: str, bundle: str, revision: str, runtime: TenantRuntime
    ) -> None:
        if runtime.tenant != tenant:
            raise TenantError(
                f"revision runtime tenant `{runtime.tenant}` does not match key tenant `{tenant}`"
            )
        ids = runtime.rollout
        if (ids.deployment_id, ids.bundle_id, ids.revision_id) != (deployment, bundle, revision):
            raise TenantError(
                "revision runtime rollout identity (deployment="
                f"{_debug(ids.deployment_id)}, bundle={_debug(ids.bundle_id)}, "
                f"revision={_debug(ids.revision_id)}) does not match key "
                f"(deployment=`{deployment}`, bundle=`{bundle}`, revision=`{revision}`)"
            )
        key = RuntimeKey.revision(tenant, deployment, bundle, revision)
        _close_all(self._swap({key: runtime}))

    def remove_revision(
        self, tenant: str, deployment: str, bundle: str, revision: str
    ) -> TenantRuntime | None:
        """Remove and return the revision runtime; None (and no change) when absent."""
        key = RuntimeKey.revision(tenant, deployment, bundle, revision)
        if key not in self._map:
            return None
        gone = self._swap({key: None})
        return gone[0] if gone else None

    def replace_legacy(self, runtimes: Mapping[str, TenantRuntime]) -> None:
        """Swap every legacy entry for ``runtimes``; revision entries are kept."""
        with self._write:
            kept = {key: rt for key, rt in self._map.items() if key.is_revision}
            gone = [rt for key, rt in self._map.items() if not key.is_revision]
            kept.update({RuntimeKey(tenant): rt for tenant, rt in runtimes.items()})
            self._publish(kept)
        _close_all([rt for rt in gone if rt not in runtimes.values()])

    def replace(self, runtimes: Mapping[RuntimeKey, TenantRuntime]) -> None:
        with self._write:
            gone = [rt for rt in self._map.values() if rt not in runtimes.values()]
            self._publish(dict(runtimes))
        _close_all(gone)


def _debug(value: str | None) -> str:
    """Rust's ``{:?}`` rendering of ``Option<String>``, kept for message parity."""
    return "None" if value is None else f'Some("{value}")'


def _close_all(runtimes: Sequence[TenantRuntime]) -> None:
    for runtime in runtimes:
        runtime.close()
