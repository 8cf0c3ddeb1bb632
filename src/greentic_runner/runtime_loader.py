"""Building a TenantRuntime from pack paths: load, pin-check, wire engine and invoker."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .components.invoker import ComponentInvoker
from .config import HostConfig
from .errors import PackError, RunnerError, with_context
from .packs.pack import PackRuntime
from .packs.verify import verify_sha256_pin
from .runtime import RolloutIds, TenantRuntime
from .secrets import SecretsManager
from .storage.session import SessionStore
from .storage.state import StateStore


@dataclass(frozen=True, slots=True)
class PackRef:
    """A pack to load, optionally pinned to a whole-file ``sha256:<hex>`` digest."""

    path: Path
    digest: str | None = None


class RuntimeFactory(Protocol):
    async def __call__(
        self,
        config: HostConfig,
        packs: Sequence[PackRef],
        *,
        session_store: SessionStore,
        state_store: StateStore,
        secrets: SecretsManager,
        invoker: ComponentInvoker,
        rollout: RolloutIds,
    ) -> TenantRuntime: ...


async def load_packs(tenant: str, refs: Sequence[PackRef], revision: bool) -> list[PackRuntime]:
    from .packs.shared import SHARED_PACKS

    if not refs:
        what = "revision runtime" if revision else "runtime"
        raise PackError(f"{what} for tenant {tenant} requires at least one pack")
    packs: list[PackRuntime] = []
    for ref in refs:
        try:
            if ref.digest is not None:
                await asyncio.to_thread(verify_sha256_pin, ref.path, ref.digest)
            pack = await asyncio.to_thread(SHARED_PACKS.load, ref.path)
        except RunnerError as exc:
            raise with_context(f"failed to load pack {ref.path} for tenant {tenant}", exc) from exc
        if ref.digest is not None:
            pack.digest = ref.digest
        if any(p.pack_id == pack.pack_id for p in packs):
            owner = "revision" if revision else "tenant runtime"
            raise PackError(
                f"{owner} for tenant {tenant} contains duplicate pack_id `{pack.pack_id}` "
                f"(path `{ref.path}`)"
            )
        packs.append(pack)
    return packs


def used_components(pack: PackRuntime, config: HostConfig) -> list[str]:
    """Bundled components the pack's flows, providers or router may call.

    They are compiled at load time so a corrupt one fails the load; bundled components that
    nothing refers to (sample packs ship placeholders) are left alone until called.
    """
    mentioned: set[str] = set()
    operations: set[str] = set()
    for flow in pack.flows.values():
        for node in flow.nodes.values():
            mentioned.update(filter(None, (node.component, node.component_ref)))
            mentioned.update(_strings(node.mapping))
            if node.operation:
                operations.add(node.operation)
    for extension in pack.extensions.values():
        mentioned.update(_strings(extension))
    if config.fast2flow.enabled:
        mentioned.add(config.fast2flow.component_ref)
    return [
        ref
        for ref, spec in pack.components.items()
        if spec.wasm_path is not None
        and (ref in mentioned or operations.intersection(spec.operations))
    ]


def _strings(value: object) -> set[str]:
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set().union(*(_strings(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_strings(v) for v in value)) if value else set()
    return set()


async def build_tenant_runtime(
    config: HostConfig,
    packs: Sequence[PackRef],
    *,
    session_store: SessionStore,
    state_store: StateStore,
    secrets: SecretsManager,
    invoker: ComponentInvoker,
    rollout: RolloutIds,
) -> TenantRuntime:
    """The default RuntimeFactory: packs from disk and a FlowEngine over them."""
    from .flows.engine import FlowEngine

    loaded = await load_packs(config.tenant, packs, rollout.revision_id is not None)
    # -- operations hook (telemetry.py): a flow.execute span per node --
    from .telemetry import SpanObserver

    engine = FlowEngine(
        loaded,
        invoker=invoker,
        state_store=state_store,
        retry=config.retry,
        observer=SpanObserver(rollout),
    )
    runtime = TenantRuntime(
        tenant=config.tenant,
        config=config,
        packs=loaded,
        engine=engine,
        session_store=session_store,
        state_store=state_store,
        invoker=invoker,
        secrets=secrets,
        rollout=rollout,
    )
    # -- operations hook (timers.py): the runtime owns its timer tasks; an invalid cron
    # fails the load with "invalid cron expression for {schedule_id}" --
    from .timers import spawn_timers

    spawn_timers(runtime)
    return runtime
