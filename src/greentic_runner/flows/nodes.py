"""What a node is (kind classification, spec §5.2) and what running it yields (outcomes).

Classification looks only at the compiled node (component id, operation, the raw mapping's
``component``/``component_ref`` and the resolve-sidecar ``component_ref``), so it is stable
for the life of a flow.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import FlowError
from ..records import record
from .model import Node
from .snapshot import NodeOutput

if TYPE_CHECKING:
    from ..components.invoker import ComponentInvoker
    from ..packs.pack import PackRuntime
    from ..storage.state import StateStore
    from .context import FlowContext
    from .model import Flow
    from .snapshot import ExecutionState

log = logging.getLogger(__name__)

COMPONENT_EXEC = "component.exec"

# Node ids the engine runs itself. v1 flows use them as the component id; v2 flows compile
# them to ``component.exec`` with the id as the operation, which is classified the same way.
BUILTINS = frozenset(
    {
        "templating.handlebars",
        "template",
        "qa.process",
        "questions",
        "state.get",
        "state.set",
        "flow.call",
        "flow.return",
        "flow.goto",
        "session.wait",
        "provider.invoke",
        "mcp.exec",
        "messaging.emit",
    }
)
# Namespaces owned by the engine: an unknown id under them is a typo, not a component.
RESERVED_PREFIXES = ("flow.", "session.", "provider.", "state.")
UNSUPPORTED = frozenset({"mcp", "a2a", "dw.agent", "dw.agent_graph"})


@record
class NodeKind:
    """``kind`` is a builtin id, ``emit``, ``exec`` (component.exec) or ``component``."""

    kind: str
    target: str | None = None  # component ref (exec/component) or emit id
    operation: str | None = None


def _mapping_target(mapping: Any) -> str | None:
    if isinstance(mapping, dict):
        for key in ("component", "component_ref"):
            value = mapping.get(key)
            if isinstance(value, str) and value.strip() and "{{" not in value:
                return value
    return None


def classify(node: Node) -> NodeKind:
    """The node's kind; FlowError ``unsupported node component: x`` for engine namespaces."""
    component, operation = node.component, node.operation
    if COMPONENT_EXEC in (component, operation):
        target = _mapping_target(node.mapping) or node.component_ref
        op = operation if operation != COMPONENT_EXEC else None
        if target is not None and target.startswith("emit."):
            return NodeKind("emit", target)
        if op is not None and (target is None or target == op):
            # A v2 op key naming a builtin (``templating.handlebars:``), possibly mapped by
            # its resolve sidecar to a component of the same id: the engine runs it.
            builtin = _builtin(op)
            if builtin is not None:
                return builtin
        if target is None and op is not None and "." in op:
            ref, _, split_op = op.rpartition(".")
            return NodeKind("exec", ref, split_op)
        return NodeKind("exec", target, op)
    if node.component_ref is None or node.component_ref == component:
        builtin = _builtin(component)
        if builtin is not None:
            return builtin
        if operation is not None and operation.startswith("emit."):
            return NodeKind("emit", operation)
        if component in UNSUPPORTED:
            raise FlowError(f"unsupported node component: {component} (not available here)")
        if component.startswith(RESERVED_PREFIXES):
            raise FlowError(
                f"unsupported node component: {component} "
                f"(known: {', '.join(sorted(BUILTINS | {'emit.*', COMPONENT_EXEC}))})"
            )
    if node.component_ref is not None:
        return NodeKind("component", node.component_ref, operation)
    if operation is None and "." in component:
        ref, _, split_op = component.rpartition(".")
        return NodeKind("component", ref, split_op)
    return NodeKind("component", component, operation)


_BUILTIN_KINDS = {name: NodeKind(name) for name in BUILTINS}


def _builtin(name: str) -> NodeKind | None:
    kind = _BUILTIN_KINDS.get(name)
    if kind is not None:
        return kind
    if name.startswith("emit."):
        return NodeKind("emit", name)
    return None


# -- outcomes ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Continue:
    """Follow the node's routing."""


@dataclass(frozen=True, slots=True)
class Wait:
    """Pause the flow. ``at_self`` resumes at this node (qa) instead of its route target."""

    reason: str | None
    at_self: bool = False


@dataclass(frozen=True, slots=True)
class Jump:
    """Continue in another flow of the same pack (greentic_control jump, flow.goto)."""

    flow: str
    node: str | None = None
    payload: Any = None
    hints: Any = None
    max_redirects: int | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Respond:
    """Finish the turn with one reply (greentic_control respond)."""

    text: str | None = None
    card_cbor: Any = None
    needs_user: bool | None = None


@dataclass(frozen=True, slots=True)
class Return:
    """Finish the flow now with the node's output (flow.return)."""


Control = Continue | Wait | Jump | Respond | Return
CONTINUE = Continue()


@dataclass(slots=True)
class Outcome:
    output: NodeOutput
    control: Control = CONTINUE


def done(payload: Any, meta: Any = None) -> Outcome:
    return Outcome(NodeOutput(True, payload, meta))


@dataclass(slots=True)
class NodeEnv:
    """Everything a node implementation may use while it runs."""

    ctx: FlowContext  # flow_id is the flow the node belongs to (after jumps)
    pack: PackRuntime
    flow: Flow
    node: Node
    state: ExecutionState
    template_ctx: dict[str, Any]
    invoker: ComponentInvoker
    state_store: StateStore | None

    def emit(self, message: Any) -> None:
        """Queue a reply for this turn (the egress)."""
        self.state.egress.append(message)
