"""Execution state and the persisted waiting snapshot (spec §5.3, §5.8).

The JSON shapes are persisted in stores and shared with other Greentic tools; field names
follow the reference exactly, and older snapshots (``{input, nodes, egress}``) still load.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import FlowError


@dataclass(slots=True)
class NodeOutput:
    ok: bool = True
    payload: Any = None
    meta: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "payload": self.payload, "meta": self.meta}


@dataclass(slots=True)
class ExecutionState:
    entry: Any = None
    input: Any = None
    nodes: dict[str, NodeOutput] = field(default_factory=dict)
    egress: list[Any] = field(default_factory=list)
    last_output: Any = None
    redirect_count: int = 0

    @classmethod
    def new(cls, input: Any) -> ExecutionState:
        return cls(input, input, {}, [], None, 0)

    def copy(self) -> ExecutionState:
        """A copy the engine can advance without touching this one (node outputs and
        payloads are shared: the engine replaces them, it never edits them in place)."""
        return ExecutionState(
            self.entry,
            self.input,
            dict(self.nodes),
            list(self.egress),
            self.last_output,
            self.redirect_count,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "entry": self.entry,
            "input": self.input,
            "nodes": {node: output.to_dict() for node, output in self.nodes.items()},
            "egress": list(self.egress),
            "redirect_count": self.redirect_count,
        }
        if self.last_output is not None:
            out["last_output"] = self.last_output
        return out

    @classmethod
    def from_dict(cls, doc: Any) -> ExecutionState:
        if not isinstance(doc, dict):
            raise FlowError("execution state must be a JSON object")
        nodes = {
            node: NodeOutput(bool(out.get("ok", True)), out.get("payload"), out.get("meta"))
            for node, out in (doc.get("nodes") or {}).items()
            if isinstance(out, dict)
        }
        return cls(
            entry=doc.get("entry"),
            input=doc.get("input"),
            nodes=nodes,
            egress=list(doc.get("egress") or []),
            last_output=doc.get("last_output"),
            redirect_count=int(doc.get("redirect_count") or 0),
        )


@dataclass(slots=True)
class FlowSnapshot:
    """Where a paused flow continues: pack, flow (``next_flow`` after a jump), node, state."""

    pack_id: str
    flow_id: str
    next_node: str
    state: ExecutionState
    next_flow: str | None = None
    awaiting_submit: bool = False

    @property
    def resume_flow(self) -> str:
        return self.next_flow or self.flow_id

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"pack_id": self.pack_id, "flow_id": self.flow_id}
        if self.next_flow is not None:
            out["next_flow"] = self.next_flow
        out["next_node"] = self.next_node
        out["awaiting_submit"] = self.awaiting_submit
        out["state"] = self.state.to_dict()
        return out

    @classmethod
    def from_dict(cls, doc: Any) -> FlowSnapshot:
        try:
            return cls(
                pack_id=str(doc["pack_id"]),
                flow_id=str(doc["flow_id"]),
                next_flow=doc.get("next_flow"),
                next_node=str(doc["next_node"]),
                awaiting_submit=bool(doc.get("awaiting_submit", False)),
                state=ExecutionState.from_dict(doc.get("state") or {}),
            )
        except (KeyError, TypeError) as exc:
            raise FlowError(f"invalid flow snapshot: missing {exc}") from exc


@dataclass(slots=True)
class FlowWait:
    reason: str | None
    snapshot: FlowSnapshot


@dataclass(slots=True)
class Completed:
    output: Any


@dataclass(slots=True)
class Waiting:
    output: Any
    wait: FlowWait


FlowExecution = Completed | Waiting
