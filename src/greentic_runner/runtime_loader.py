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
from .packs.pins import check_pin
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
        invoker: ComponentInvoker | None,
        rollout: RolloutIds,
    ) -> TenantRuntime: ...


def default_invoker(config: HostConfig) -> ComponentInvoker:
    """Mocks from the bindings first, then the pack's WebAssembly components."""
    from .components.mocks import MockInvoker
    from .components.wasm import WasmInvoker

    return MockInvoker(config.mocks, fallback=WasmInvoker())


async def load_packs(tenant: str, refs: Sequence[PackRef], revision: bool) -> list[PackRuntime]:
    from .packs.loader import load_pack

    if not refs:
        what = "revision runtime" if revision else "runtime"
        raise PackError(f"{what} for tenant {tenant} requires at least one pack")
    packs: list[PackRuntime] = []
    for ref in refs:
        try:
            if ref.digest is not None:
                await asyncio.to_thread(check_pin, ref.path, ref.digest)
            pack = await asyncio.to_thread(load_pack, ref.path)
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


async def build_tenant_runtime(
    config: HostConfig,
    packs: Sequence[PackRef],
    *,
    session_store: SessionStore,
    state_store: StateStore,
    secrets: SecretsManager,
    invoker: ComponentInvoker | None,
    rollout: RolloutIds,
) -> TenantRuntime:
    """The default RuntimeFactory: packs from disk, FlowEngine, mocks + WebAssembly."""
    from .flows.engine import FlowEngine

    loaded = await load_packs(config.tenant, packs, rollout.revision_id is not None)
    invoker = invoker or default_invoker(config)
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
