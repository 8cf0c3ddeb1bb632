"""FlowEngine: walks a flow node by node (spec §5.3–§5.8).

One call of :meth:`FlowEngine.execute` or :meth:`FlowEngine.resume` is one *turn*: the walk
runs until the flow ends (``Completed``) or pauses (``Waiting`` with a snapshot to resume
from). A turn is bounded by ``max_steps`` node visits, sub-flows included, so a flow that
loops without ever reaching an exit or a wait fails with a clear error instead of spinning.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, Protocol

from ..components.invoker import ComponentInvoker
from ..config import RetryConfig
from ..errors import FlowError, RunnerError, with_context
from ..packs.pack import PackRuntime
from ..storage.state import StateStore
from . import builtins, calls, qa
from .conditions import compile_condition
from .context import FlowContext
from .model import Custom, Flow, Node
from .nodes import Jump, NodeEnv, NodeKind, Outcome, Respond, Return, Wait, classify, done
from .registry import FlowRegistry
from .routes import decide
from .snapshot import (
    Completed,
    ExecutionState,
    FlowExecution,
    FlowSnapshot,
    FlowWait,
    Waiting,
)
from .templating import (
    Renderer,
    TemplateError,
    compile_template,
    resolve_bare_paths,
    template_context,
)

log = logging.getLogger(__name__)

TRANSIENT_MARKERS = ("transient", "unavailable", "internal")
DEFAULT_MAX_REDIRECTS = 3
MAX_CALL_DEPTH = 16
MAX_BACKOFF_MS = 30_000
_NODE_ID = re.compile(r"[^\s]{1,256}")
_PROVIDER_MAPS = ("in_map", "out_map", "err_map")


class FlowObserver(Protocol):
    """Hooks for telemetry and tracing; exceptions they raise are logged, never fatal.

    An observer may also define ``active() -> bool``: when it returns False at a node's
    start, none of that node's hooks are called (tracing that is off costs one check)."""

    def on_node_start(self, ctx: FlowContext, flow: Flow, node: Node, payload: Any) -> None: ...

    def on_node_end(self, ctx: FlowContext, flow: Flow, node: Node, output: Any) -> None: ...

    def on_node_error(
        self, ctx: FlowContext, flow: Flow, node: Node, error: BaseException
    ) -> None: ...


def finalize(state: ExecutionState, final: Any) -> Any:
    """The turn's output: the egress followed by ``final`` (null adds nothing, an array is
    flattened in, any other value is appended); just ``final`` when nothing was emitted."""
    if not state.egress:
        return final
    out = list(state.egress)
    if isinstance(final, list):
        out.extend(final)
    elif final is not None:
        out.append(final)
    return out


def is_transient(error: BaseException) -> bool:
    text = str(error).lower()
    return any(marker in text for marker in TRANSIENT_MARKERS)


def backoff_delay_ms(base_ms: int, retry_index: int) -> int:
    """``base · 2^n`` milliseconds, capped at 30 s; no jitter, so tests are deterministic."""
    return int(min(base_ms * (2**retry_index), MAX_BACKOFF_MS))


@dataclass(slots=True)
class _Turn:
    max_steps: int
    steps: int = 0
    depth: int = 0


class FlowEngine:
    """Runs the flows of a tenant's packs (main pack and overlays)."""

    # Slots: every turn reads its tenant's engine, and with many tenants that read is a
    # cache miss; one compact object is fewer misses than an object and its __dict__.
    __slots__ = (
        "_invoker",
        "_main",
        "_main_id",
        "_max_steps",
        "_observer",
        "_observer_active",
        "_packs",
        "_retry",
        "_sleep",
        "_state_store",
        "registry",
    )

    def __init__(
        self,
        packs: Sequence[PackRuntime],
        *,
        invoker: ComponentInvoker,
        state_store: StateStore | None = None,
        retry: RetryConfig = RetryConfig(),  # noqa: B008 - frozen value object
        observer: FlowObserver | None = None,
        max_steps: int = 256,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """Raises FlowError naming flow and node when a route condition does not parse."""
        if max_steps < 1:
            raise FlowError(f"max_steps must be at least 1, got {max_steps}")
        self.registry = FlowRegistry.shared(packs)
        self._packs = {pack.pack_id: pack for pack in packs}  # this tenant's own copies
        # Most turns run the main pack: its pack read from this object, not from the dict.
        self._main_id = packs[0].pack_id if packs else None
        self._main = self._packs.get(self._main_id) if self._main_id is not None else None
        self._invoker = invoker
        self._state_store = state_store
        self._retry = retry
        self._observer = observer
        self._observer_active: Callable[[], bool] = getattr(observer, "active", _always)
        self._max_steps = max_steps
        self._sleep = sleep
        for pack in packs:
            for flow in pack.flows.values():
                _check_conditions(pack.pack_id, flow)

    # -- entry points -------------------------------------------------------------------

    async def execute(self, ctx: FlowContext, input: Any) -> FlowExecution:
        """Run the flow from its start node; transient failures are retried from scratch."""
        flow = self.registry.flow(ctx.pack_id, ctx.flow_id)
        attempt = 0
        while True:
            attempt += 1
            attempt_ctx = ctx if ctx.attempt == attempt else replace(ctx, attempt=attempt)
            try:
                # Nodes never mutate their inputs, so the caller's payload is shared, not copied.
                state = ExecutionState.new(input)
                return await self._drive(_Turn(self._max_steps), attempt_ctx, flow, state, None)
            except RunnerError as exc:
                if attempt >= self._retry.max_attempts or not is_transient(exc):
                    raise
                delay = backoff_delay_ms(self._retry.base_delay_ms, attempt - 1)
                log.warning(
                    "transient failure in flow %s:%s (attempt %d of %d), retrying in %d ms: %s",
                    ctx.pack_id,
                    ctx.flow_id,
                    attempt,
                    self._retry.max_attempts,
                    delay,
                    exc,
                    extra={"tenant": ctx.tenant, "flow": ctx.flow_id},
                )
                await self._sleep(delay / 1000)

    async def resume(self, ctx: FlowContext, snapshot: FlowSnapshot, input: Any) -> FlowExecution:
        """Continue a paused flow at ``snapshot.next_node`` with a new input (no retries)."""
        if snapshot.pack_id != ctx.pack_id:
            raise FlowError(
                f"snapshot pack {snapshot.pack_id} does not match requested {ctx.pack_id}"
            )
        flow = self.registry.flow(ctx.pack_id, snapshot.resume_flow)
        if not isinstance(snapshot.next_node, str) or not _NODE_ID.fullmatch(snapshot.next_node):
            raise FlowError(f"invalid resume node id `{snapshot.next_node}`")
        state = snapshot.state.copy()
        state.input = input
        if state.entry is None:
            state.entry = input
        return await self._drive(_Turn(self._max_steps), ctx, flow, state, snapshot.next_node)

    # -- the walk -----------------------------------------------------------------------

    async def _drive(
        self,
        turn: _Turn,
        ctx: FlowContext,
        flow: Flow,
        state: ExecutionState,
        start: str | None,
    ) -> FlowExecution:
        pack = self._main if ctx.pack_id == self._main_id else self._packs.get(ctx.pack_id)
        if pack is None:  # the registry only knows flows of its packs
            raise FlowError(f"flow {ctx.pack_id}:{flow.id} not registered")
        current = start if start is not None else flow.start_node
        if current is None:
            raise FlowError(f"flow {flow.id} has no start node")
        while True:
            turn.steps += 1
            if turn.steps > turn.max_steps:
                raise FlowError(
                    f"flow {ctx.pack_id}:{flow.id} ran {turn.max_steps} steps in one turn "
                    f"without finishing or waiting (last node `{current}`); it looks like a "
                    "loop — give the loop an exit route or a session.wait"
                )
            node = flow.nodes.get(current)
            if node is None:
                raise FlowError(f"flow {ctx.pack_id}:{flow.id}: node {current} not found")
            step_ctx = ctx if flow.id == ctx.flow_id else replace(ctx, flow_id=flow.id)
            outcome = await self._step(turn, step_ctx, pack, flow, node, state)
            control, payload = outcome.control, outcome.output.payload
            try:
                if isinstance(control, Jump):
                    flow, current = self._apply_jump(ctx, state, control)
                    continue
            except RunnerError as exc:
                raise with_context(_label(ctx, flow, node), exc) from exc
            if isinstance(control, Respond):
                state.egress.append(
                    {
                        "text": control.text,
                        "card_cbor": control.card_cbor,
                        "needs_user": control.needs_user,
                    }
                )
                return Completed(finalize(state, None))
            if isinstance(control, Return):
                return Completed(finalize(state, payload))
            if isinstance(control, Wait) and control.at_self:
                return self._park(ctx, flow, state, node.id, control.reason, False, None)
            decision = decide(flow, node, payload, partial(template_context, state, flow))
            if isinstance(control, Wait):
                if decision.action != "next" or decision.node is None:
                    raise FlowError(
                        f"{_label(ctx, flow, node)}: session.wait node {node.id} "
                        "requires a non-empty route"
                    )
                return self._park(ctx, flow, state, decision.node, control.reason, False, None)
            if decision.action == "next":
                assert decision.node is not None
                current = decision.node
            elif decision.action == "end":
                return Completed(finalize(state, payload))
            else:
                reason = f"awaiting user submit at node `{node.id}`"
                return self._park(ctx, flow, state, node.id, reason, True, payload)

    async def _step(
        self,
        turn: _Turn,
        ctx: FlowContext,
        pack: PackRuntime,
        flow: Flow,
        node: Node,
        state: ExecutionState,
    ) -> Outcome:
        """Render, dispatch and record one node."""
        try:
            kind, render = _compiled(node)
            template_ctx = template_context(state, flow)
            payload = self._render(flow, kind, render, template_ctx)
        except TemplateError as exc:
            raise FlowError(
                f"{_label(ctx, flow, node)}: failed to render node input template: {exc}"
            ) from exc
        except RunnerError as exc:
            raise with_context(_label(ctx, flow, node), exc) from exc
        env = NodeEnv(ctx, pack, flow, node, state, template_ctx, self._invoker, self._state_store)
        observer = self._observer
        if observer is not None and not self._observer_active():
            observer = None
        if observer is not None:
            self._notify(observer, "on_node_start", ctx, flow, node, payload)
        try:
            outcome = await self._dispatch(turn, env, kind, payload)
        except BaseException as exc:
            if observer is not None:
                self._notify(observer, "on_node_error", ctx, flow, node, exc)
            if isinstance(exc, TemplateError):
                raise FlowError(
                    f"{_label(ctx, flow, node)}: failed to render mapping: {exc}"
                ) from exc
            if isinstance(exc, RunnerError):
                raise with_context(_label(ctx, flow, node), exc) from exc
            raise
        state.nodes[node.id] = outcome.output
        state.last_output = outcome.output.payload
        if observer is not None:
            self._notify(observer, "on_node_end", ctx, flow, node, outcome.output.payload)
        return outcome

    def _render(self, flow: Flow, kind: NodeKind, render: Renderer, context: dict[str, Any]) -> Any:
        payload = render(context)
        if kind.kind == "provider.invoke":
            return payload
        legacy = flow.schema_version < 2
        if kind.kind == "mcp.exec" and isinstance(payload, dict) and "args" in payload:
            # mcp.exec only exists in legacy flows, whose args are bare dotted paths.
            payload["args"] = resolve_bare_paths(payload["args"], context)
        elif legacy and kind.kind in ("state.get", "state.set") and isinstance(payload, dict):
            if "key" in payload:
                payload["key"] = resolve_bare_paths(payload["key"], context)
        elif legacy and kind.kind == "flow.call" and isinstance(payload, dict):
            for field in ("flow_id", "flow", "input"):
                if field in payload:
                    payload[field] = resolve_bare_paths(payload[field], context)
        return payload

    async def _dispatch(self, turn: _Turn, env: NodeEnv, kind: NodeKind, payload: Any) -> Outcome:
        name = kind.kind
        if name == "emit":
            assert kind.target is not None
            return builtins.emit(env, kind.target, payload)
        if name in ("templating.handlebars", "template"):
            return builtins.templating(env, payload)
        if name in ("qa.process", "questions"):
            return qa.run(env, payload)
        if name == "messaging.emit":
            return builtins.messaging_emit(env, payload)
        if name == "session.wait":
            return builtins.session_wait(payload)
        if name == "state.get":
            return await builtins.state_get(env, payload)
        if name == "state.set":
            return await builtins.state_set(env, payload)
        if name == "flow.call":
            return await self._flow_call(turn, env, payload)
        if name == "flow.return":
            return builtins.flow_return(payload)
        if name == "flow.goto":
            return builtins.flow_goto(env, payload)
        if name == "provider.invoke":
            return await calls.provider_invoke(env, payload)
        if name == "mcp.exec":
            return await calls.mcp_exec(env, payload)
        if name == "exec":
            return await calls.component_exec(env, kind, payload)
        return await calls.pack_component(env, kind, payload)

    # -- sub-flows, jumps, snapshots -------------------------------------------------------

    async def _flow_call(self, turn: _Turn, env: NodeEnv, payload: Any) -> Outcome:
        """Run a flow of the same pack to completion; its output is this node's output."""
        flow_id, sub_input = builtins.parse_flow_call(payload)
        if turn.depth >= MAX_CALL_DEPTH:
            raise FlowError(
                f"flow.call nesting deeper than {MAX_CALL_DEPTH} levels "
                f"(calling {flow_id}); does a flow call itself?"
            )
        sub_ctx = env.ctx.for_flow(flow_id, "flow.call")
        turn.depth += 1
        try:
            sub_flow = self.registry.flow(sub_ctx.pack_id, flow_id)
            state = ExecutionState.new(sub_input)
            result = await self._drive(turn, sub_ctx, sub_flow, state, None)
        except RunnerError as exc:
            raise with_context(f"flow.call failed for {flow_id}", exc) from exc
        finally:
            turn.depth -= 1
        if isinstance(result, Waiting):
            raise FlowError(
                f"flow.call cannot pause (flow {flow_id} waiting {result.wait.reason!r})"
            )
        return done(result.output)

    def _apply_jump(self, ctx: FlowContext, state: ExecutionState, jump: Jump) -> tuple[Flow, str]:
        if not jump.flow.strip():
            raise FlowError("missing_flow")
        try:
            target = self.registry.flow(ctx.pack_id, jump.flow)
        except FlowError as exc:
            raise with_context(f"unknown_flow:{jump.flow}", exc) from exc
        if jump.node is not None:
            if jump.node not in target.nodes:
                raise FlowError(f"unknown_node:{jump.node}")
            node = jump.node
        else:
            start = target.start_node
            if start is None:
                raise FlowError(f"jump_failed: flow {jump.flow} has no start node")
            node = start
        limit = DEFAULT_MAX_REDIRECTS if jump.max_redirects is None else jump.max_redirects
        if state.redirect_count >= limit:
            raise FlowError(
                f"redirect_limit: {state.redirect_count} jumps already taken "
                f"(max_redirects {limit}) when jumping to {jump.flow}"
            )
        state.redirect_count += 1
        state.input = jump.payload
        state.last_output = jump.payload
        return target, node

    def _park(
        self,
        ctx: FlowContext,
        flow: Flow,
        state: ExecutionState,
        next_node: str,
        reason: str | None,
        awaiting_submit: bool,
        final: Any,
    ) -> Waiting:
        parked = ExecutionState(
            entry=state.entry,
            input=state.input,
            nodes=dict(state.nodes),
            egress=[],  # what was emitted is returned now, never replayed on resume
            last_output=state.last_output,
            redirect_count=state.redirect_count,
        )
        snapshot = FlowSnapshot(
            pack_id=ctx.pack_id,
            flow_id=ctx.flow_id,
            next_node=next_node,
            state=parked,
            next_flow=flow.id if flow.id != ctx.flow_id else None,
            awaiting_submit=awaiting_submit,
        )
        return Waiting(finalize(state, final), FlowWait(reason, snapshot))

    def _notify(self, observer: FlowObserver, hook: str, *args: Any) -> None:
        try:
            getattr(observer, hook)(*args)
        except Exception:  # an observer must never change the outcome of a turn
            log.exception("flow observer %s failed", hook)


def _compiled(node: Node) -> tuple[NodeKind, Renderer]:
    """The node's kind and compiled input mapping, made on first use and kept on the node
    (derived from its fields alone; shared by every engine that runs the node)."""
    compiled: tuple[NodeKind, Renderer] | None = node.compiled
    if compiled is None:
        kind = classify(node)
        compiled = (kind, _node_renderer(node, kind))
        object.__setattr__(node, "compiled", compiled)  # a cache: Node stays a frozen value
    return compiled


def _node_renderer(node: Node, kind: NodeKind) -> Renderer:
    """The node's input mapping, compiled (see ``compile_template``)."""
    mapping = node.mapping
    if kind.kind == "provider.invoke" and isinstance(mapping, dict):
        # in_map/out_map render later against their own scopes (input/result).
        held = {key: mapping[key] for key in _PROVIDER_MAPS if key in mapping}
        render = compile_template({k: v for k, v in mapping.items() if k not in held})
        return lambda context: {**render(context), **held}
    return compile_template(mapping)


def _always() -> bool:
    return True


def _label(ctx: FlowContext, flow: Flow, node: Node) -> str:
    """How errors name the node (built only when one is raised)."""
    return f"flow {ctx.pack_id}:{flow.id}, node {node.id}"


def _check_conditions(pack_id: str, flow: Flow) -> None:
    for node in flow.nodes.values():
        if not isinstance(node.routing, Custom):
            continue
        for route in node.routing.routes:
            if route.condition is None:
                continue
            try:
                compile_condition(route.condition)
            except FlowError as exc:
                where = f" ({flow.source})" if flow.source else ""
                raise FlowError(f"flow {pack_id}:{flow.id}{where}, node {node.id}: {exc}") from exc
