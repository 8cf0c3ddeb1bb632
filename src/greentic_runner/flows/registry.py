"""FlowRegistry: every flow of a tenant's packs, keyed by (pack_id, flow_id) (spec §2.4).

A registry never changes after construction, so tenants that load the same packs share one
(:meth:`FlowRegistry.shared`): with thousands of tenants, every turn then looks its flow up
in dictionaries other tenants' turns keep warm in the CPU caches, instead of in its own
tenant's cold copy (docs/performance.md, ``tenants-10k``).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable, Sequence

from ..errors import FlowError
from ..packs.pack import FlowDescriptor, PackRuntime
from .model import Flow

# What a registry is built from, per pack: the parse's own flows (by identity: a loaded
# pack's flows never change) and everything else of the pack a registry or routing reads.
_PackKey = tuple[str, str, int, bool, tuple[str, ...]]
Route = tuple[str, str]


def _pack_key(pack: PackRuntime) -> _PackKey:
    return (
        pack.pack_id,
        pack.version,
        id(pack.flows),
        pack.declares_messaging_provider,
        pack.metadata.entry_flows,
    )


class FlowRegistry:
    """Flows of the main pack and its overlays, in load order.

    A later pack declaring the same ``(pack_id, flow_id)`` replaces the earlier one (the
    reference leaves this open on the legacy path; revisions reject duplicate pack ids).
    """

    def __init__(self, packs: Sequence[PackRuntime]) -> None:
        self._flows: dict[tuple[str, str], tuple[FlowDescriptor, Flow]] = {}
        for pack in packs:
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
        # Keeps the flows dicts alive: their ids are part of the key this registry is
        # shared under, and must not be reused while it is.
        self._sources = tuple(pack.flows for pack in packs)
        self._main_routing = _pack_key(packs[0]) if packs else None
        self._routes: dict[tuple[str | None, ...], Route] = {}

    @classmethod
    def shared(cls, packs: Sequence[PackRuntime]) -> FlowRegistry:
        """The registry of ``packs``, the same object for every caller whose packs are the
        same parses (the same flows objects, ids, versions and entry flows, in the same
        order) for as long as one of them holds it."""
        key = tuple(_pack_key(pack) for pack in packs)
        with _SHARED_LOCK:
            found = _SHARED.get(key)
            if found is None:
                found = _SHARED[key] = cls(packs)
        return found

    def route_cache(self, main_pack: PackRuntime) -> dict[tuple[str | None, ...], Route]:
        """Where a runtime over this registry with ``main_pack`` may remember
        ``resolve_flow_id`` answers: they depend on the registry and the main pack only, so
        runtimes whose main pack is this registry's first one share a cache."""
        if _pack_key(main_pack) == self._main_routing:
            return self._routes
        return {}

    def descriptors(self) -> list[FlowDescriptor]:
        return [descriptor for descriptor, _ in self._flows.values()]

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


_SHARED: weakref.WeakValueDictionary[tuple[_PackKey, ...], FlowRegistry]
_SHARED = weakref.WeakValueDictionary()
_SHARED_LOCK = threading.Lock()


def _unique_index(
    descriptors: Iterable[FlowDescriptor], key: Callable[[FlowDescriptor], str]
) -> dict[str, FlowDescriptor | None]:
    """key → the one descriptor with that key, or None when several share it."""
    index: dict[str, FlowDescriptor | None] = {}
    for descriptor in descriptors:
        name = key(descriptor)
        index[name] = None if name in index else descriptor
    return index
