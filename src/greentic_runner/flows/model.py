"""The runtime flow model every pack format compiles into (spec §5.1, pack-formats §2).

YGTC files in pack directories, legacy ``flow.yaml`` files and the compiled flows inside
pack-v1 manifests all land here, so the engine knows only this shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Route:
    """One entry of a custom route list, evaluated in order by the engine."""

    to: str | None = None
    out: bool = False
    reply: bool = False
    status: str | None = None
    condition: str | None = None


@dataclass(frozen=True, slots=True)
class Next:
    node_id: str


@dataclass(frozen=True, slots=True)
class End:
    pass


@dataclass(frozen=True, slots=True)
class Reply:
    pass


@dataclass(frozen=True, slots=True)
class Branch:
    """Pick the next node by the output's ``status``; ``default`` when none matches."""

    on_status: dict[str, str]
    default: str | None = None


@dataclass(frozen=True, slots=True)
class Custom:
    """Ordered routes with conditions; the first whose condition holds wins."""

    routes: tuple[Route, ...]


Routing = Next | End | Reply | Branch | Custom

END = End()
REPLY = Reply()


@dataclass(frozen=True, slots=True)
class Node:
    """One step. ``component`` is the component id (``templating.handlebars``,
    ``component.exec``, ``state.get`` …); ``operation`` the operation when known;
    ``mapping`` the input mapping rendered with the template context before dispatch."""

    id: str
    component: str
    operation: str | None = None
    mapping: Any = None
    routing: Routing = END
    out_map: Any = None
    err_map: Any = None
    component_ref: str | None = None  # from resolve sidecars / summaries (component.exec)
    source_ref: str | None = None  # human-readable source, e.g. "oci://…", for errors
    # Reserved node keys the model does not interpret itself (telemetry, retry, timeout,
    # when, annotations, meta, conversational), kept verbatim for observers and tools.
    extra: dict[str, Any] = field(default_factory=dict)
    # The engine's compiled form of this node (kind and input renderer), derived from the
    # fields above on first use and kept with the node: every tenant that loads the same
    # pack content shares the node, so it is compiled once (flows/engine.py).
    compiled: Any = field(default=None, init=False, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Flow:
    id: str
    flow_type: str
    nodes: dict[str, Node]
    start: str | None = None
    schema_version: int = 2
    title: str | None = None
    description: str | None = None
    tags: tuple[str, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)
    source: str | None = None  # file the flow came from, for error messages
    # ``{name: node id | value}``; the compiler always records ``default`` = the start node.
    entrypoints: dict[str, Any] = field(default_factory=dict)
    # Flow-level extras: ``meta`` and ``greentic.slot_schema`` (the Fast2Flow slot list).
    metadata: dict[str, Any] = field(default_factory=dict)
    # The ``flow`` root of node templates ({**parameters, id, type}), built on first use and
    # shared like ``parameters`` (templates read the context; renders copy what they take).
    template_view: Any = field(default=None, init=False, repr=False, compare=False)

    @property
    def start_node(self) -> str | None:
        """``start`` when it names a node, else the first node (spec §5.1)."""
        if self.start is not None and self.start in self.nodes:
            return self.start
        return next(iter(self.nodes), None)

    @property
    def entry(self) -> bool:
        """A flow is an entry flow unless tagged ``internal``."""
        return "internal" not in self.tags
