"""A pipeline harness: in-memory packs and a tiny stand-in engine.

Used only by tests about the host pipeline (routing, envelopes, resume bookkeeping), where
walking real nodes would be noise; engine behaviour is tested in tests/flows/.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from greentic_runner.components.invoker import ComponentInvoker
from greentic_runner.config import HostConfig
from greentic_runner.flows.context import FlowContext
from greentic_runner.flows.model import Flow, Node
from greentic_runner.flows.registry import FlowRegistry
from greentic_runner.flows.snapshot import (
    Completed,
    ExecutionState,
    FlowExecution,
    FlowSnapshot,
    FlowWait,
    Waiting,
)
from greentic_runner.host import HostBuilder, RunnerHost
from greentic_runner.packs.pack import PackRuntime
from greentic_runner.runtime import RolloutIds, TenantRuntime
from greentic_runner.runtime_loader import PackRef
from greentic_runner.secrets import SecretsManager
from greentic_runner.storage.session import SessionStore
from greentic_runner.storage.state import StateStore


def flow(flow_id: str, flow_type: str = "messaging", *tags: str) -> Flow:
    return Flow(id=flow_id, flow_type=flow_type, nodes={"n": Node("n", "emit.log")}, tags=tags)


class EchoEngine:
    """Completes with the input, or waits when the input asks to (``{"wait": reason}``)."""

    def __init__(self, packs: Sequence[PackRuntime]) -> None:
        self.registry = FlowRegistry(packs)
        self.calls: list[tuple[str, FlowContext, Any]] = []

    async def execute(self, ctx: FlowContext, input: Any) -> FlowExecution:
        self.calls.append(("execute", ctx, input))
        if isinstance(input, dict) and "wait" in input:
            snapshot = FlowSnapshot(ctx.pack_id, ctx.flow_id, "next", ExecutionState.new(input))
            return Waiting([{"text": "question?"}], FlowWait(input["wait"], snapshot))
        return Completed({"flow": ctx.flow_id, "pack": ctx.pack_id, "input": input})

    async def resume(self, ctx: FlowContext, snapshot: FlowSnapshot, input: Any) -> FlowExecution:
        self.calls.append(("resume", ctx, input))
        return Completed([{"resumed_at": snapshot.next_node}, {"answer": input}])


class InMemoryPacks:
    """A RuntimeFactory that maps pack paths to in-memory packs and uses EchoEngine."""

    def __init__(self, packs: dict[str, PackRuntime]) -> None:
        self.packs = packs

    async def __call__(
        self,
        config: HostConfig,
        refs: Sequence[PackRef],
        *,
        session_store: SessionStore,
        state_store: StateStore,
        secrets: SecretsManager,
        invoker: ComponentInvoker | None,
        rollout: RolloutIds,
    ) -> TenantRuntime:
        packs = [self.packs[str(ref.path)] for ref in refs]
        assert invoker is not None, "pipeline tests inject an invoker"
        return TenantRuntime(
            tenant=config.tenant,
            config=config,
            packs=packs,
            engine=EchoEngine(packs),
            session_store=session_store,
            state_store=state_store,
            invoker=invoker,
            secrets=secrets,
            rollout=rollout,
        )


def build_host(
    packs: dict[str, PackRuntime],
    invoker: ComponentInvoker,
    *configs: HostConfig,
) -> RunnerHost:
    builder = HostBuilder().with_component_invoker(invoker)
    for config in configs or (HostConfig(tenant="demo"),):
        builder.with_config(config)
    host = builder.build()
    host._runtime_factory = InMemoryPacks(packs)
    return host
