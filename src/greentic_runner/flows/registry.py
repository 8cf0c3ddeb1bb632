"""FlowRegistry: every flow of a tenant's packs, keyed by (pack_id, flow_id) (spec §2.4)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..errors import FlowError
from ..packs.pack import FlowDescriptor, PackRuntime
from .model import Flow


class FlowRegistry:
    """Flows of the main pack and its overlays, in load order.

    A later pack declaring the same ``(pack_id, flow_id)`` replaces the earlier one (the
    reference leaves this open on the legacy path; revisions reject duplicate pack ids).
    """

    def __init__(self, packs: Sequence[PackRuntime]) -> None:
        self._packs: dict[str, PackRuntime] = {}
        self._flows: dict[tuple[str, str], tuple[FlowDescriptor, Flow]] = {}
        for pack in packs:
            self._packs[pack.pack_id] = pack
            for descriptor in pack.descriptors():
                key = (pack.pack_id, descriptor.id)
                self._flows[key] = (descriptor, pack.flows[descriptor.id])
        self._provider_packs = {p.pack_id for p in packs if p.declares_messaging_provider}

    def descriptors(self) -> list[FlowDescriptor]:
        return [descriptor for descriptor, _ in self._flows.values()]

    def pack(self, pack_id: str) -> PackRuntime | None:
        return self._packs.get(pack_id)

    def flow_by_key(self, pack_id: str, flow_id: str) -> FlowDescriptor | None:
        found = self._flows.get((pack_id, flow_id))
        return found[0] if found else None

    def flow(self, pack_id: str, flow_id: str) -> Flow:
        """The compiled flow; FlowError ``flow {pack}:{flow} not registered`` when absent."""
        found = self._flows.get((pack_id, flow_id))
        if found is None:
            raise FlowError(f"flow {pack_id}:{flow_id} not registered")
        return found[1]

    def flow_by_id(self, flow_id: str) -> FlowDescriptor | None:
        """The unique flow with this id across packs; None when zero or several."""
        return _unique(d for d in self.descriptors() if d.id == flow_id)

    def flow_by_type(self, flow_type: str) -> FlowDescriptor | None:
        return _unique(d for d in self.descriptors() if d.flow_type == flow_type)

    def entry_flow_by_type(self, flow_type: str) -> FlowDescriptor | None:
        """The unique entry flow of the type outside messaging-provider packs."""
        return _unique(
            d
            for d in self.descriptors()
            if d.flow_type == flow_type and d.entry and d.pack_id not in self._provider_packs
        )

    def first_in_pack_by_type(self, pack_id: str, flow_type: str) -> FlowDescriptor | None:
        return next(
            (d for d in self.descriptors() if d.pack_id == pack_id and d.flow_type == flow_type),
            None,
        )


def _unique(candidates: Iterable[FlowDescriptor]) -> FlowDescriptor | None:
    found = list(candidates)
    return found[0] if len(found) == 1 else None
