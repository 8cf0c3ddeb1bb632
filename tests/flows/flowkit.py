"""Helpers for engine tests: flows built from model objects, a component at the edge."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from greentic_runner.components.invoker import ComponentCall, ExecCtx
from greentic_runner.errors import ComponentError
from greentic_runner.flows.context import FlowContext
from greentic_runner.flows.model import END, Flow, Next, Node, Routing
from greentic_runner.packs.pack import PackRuntime
from greentic_runner.packs.providers import IdentifyHint, IdentifyOutcome, ProviderBinding

PACK = "demo.pack"
TENANT = "acme"

Handler = Callable[[ComponentCall], Any]


def node(
    node_id: str,
    component: str,
    mapping: Any = None,
    to: str | Routing | None = None,
    **fields: Any,
) -> Node:
    """A node; ``to`` is a node id (Next) or a Routing value; default End."""
    routing: Routing = END if to is None else Next(to) if isinstance(to, str) else to
    return Node(id=node_id, component=component, mapping=mapping, routing=routing, **fields)


def flow(flow_id: str, *nodes: Node, **fields: Any) -> Flow:
    return Flow(id=flow_id, flow_type="messaging", nodes={n.id: n for n in nodes}, **fields)


def ctx(flow_id: str = "main", **fields: Any) -> FlowContext:
    base: dict[str, Any] = {"tenant": TENANT, "pack_id": PACK, "flow_id": flow_id}
    base.update(fields)
    return FlowContext(**base)


@dataclass
class ProviderCall:
    binding: ProviderBinding
    op: str
    input: bytes
    ctx: ExecCtx


@dataclass
class Components:
    """The edge of the engine: canned component behaviour keyed by (component, operation).

    A handler returns the component's JSON result or raises ComponentError; calls are
    recorded so tests can check what a component received.
    """

    handlers: dict[tuple[str, str], Handler] = field(default_factory=dict)
    providers: dict[tuple[str, str], Handler] = field(default_factory=dict)
    calls: list[ComponentCall] = field(default_factory=list)
    provider_calls: list[ProviderCall] = field(default_factory=list)

    def on(self, component: str, operation: str, handler: Handler | Any) -> None:
        self.handlers[(component, operation)] = (
            handler if callable(handler) else (lambda _call, value=handler: value)
        )

    async def invoke(self, pack: PackRuntime, call: ComponentCall) -> Any:
        self.calls.append(call)
        handler = self.handlers.get((call.component_ref, call.operation))
        if handler is None:
            raise ComponentError(
                f"component {call.component_ref} has no operation {call.operation}"
            )
        return handler(call)

    async def invoke_provider(
        self, pack: PackRuntime, binding: ProviderBinding, op: str, input: bytes, ctx: ExecCtx
    ) -> Any:
        self.provider_calls.append(ProviderCall(binding, op, input, ctx))
        handler = self.providers.get((binding.component_ref, op))
        if handler is None:
            raise ComponentError(f"provider {binding.component_ref} has no op {op}")
        return handler(ProviderCall(binding, op, input, ctx))  # type: ignore[arg-type]

    async def identify_instance(
        self, pack: PackRuntime, binding: ProviderBinding, payload: bytes
    ) -> IdentifyOutcome:
        raise NotImplementedError

    async def describe_identify_instance(
        self, pack: PackRuntime, binding: ProviderBinding
    ) -> IdentifyHint | None:
        raise NotImplementedError


class Sleeps:
    """An injected sleep that records the requested delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
