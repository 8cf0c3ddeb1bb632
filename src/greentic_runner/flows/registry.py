"""FlowRegistry: every flow of a tenant's packs, keyed by (pack_id, flow_id) (spec §2.4)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

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
        # The registry never changes after construction: answer lookups from indexes.
        descriptors = self.descriptors()
        self._by_id = _unique_index(descriptors, lambda d: d.id)
        self._by_type = _unique_index(descriptors, lambda d: d.flow_type)
        self._entry_by_type = _unique_index(
            [d for d in descriptors if d.entry and d.pack_id not in self._provider_packs],
            lambda d: d.flow_type,
        )

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
        return self._by_id.get(flow_id)

    def flow_by_type(self, flow_type: str) -> FlowDescriptor | None:
        return self._by_type.get(flow_type)

    def entry_flow_by_type(self, flow_type: str) -> FlowDescriptor | None:
        """The unique entry flow of the type outside messaging-provider packs."""
        return self._entry_by_type.get(flow_type)

    def first_in_pack_by_type(self, pack_id: str, flow_type: str) -> FlowDescriptor | None:
        return next(
            (d for d in self.descriptors() if d.pack_id == pack_id and d.flow_type == flow_type),
            None,
        )


def _unique_index(
    descriptors: Iterable[FlowDescriptor], key: Callable[[FlowDescriptor], str]
) -> dict[str, FlowDescriptor | None]:
    """key → the one descriptor with that key, or None when several share it."""
    index: dict[str, FlowDescriptor | None] = {}
    for descriptor in descriptors:
        name = key(descriptor)
        index[name] = None if name in index else descriptor
    return index
