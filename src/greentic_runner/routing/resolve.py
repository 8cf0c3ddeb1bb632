"""resolve_flow_id: which (pack, flow) an activity runs (spec §4.3, exact messages)."""

from __future__ import annotations

from ..activity import Activity
from ..errors import RoutingError
from ..flows.registry import FlowRegistry
from ..packs.pack import PackRuntime


def resolve_flow_id(
    registry: FlowRegistry, main_pack: PackRuntime, tenant: str, activity: Activity
) -> tuple[str, str]:
    """Return (pack_id, flow_id) or raise RoutingError with the reference's message."""
    flow_id, pack_id = activity.flow_id, activity.pack_id
    if flow_id is not None:
        if pack_id is not None:
            if registry.flow_by_key(pack_id, flow_id) is None:
                raise RoutingError(f"flow {flow_id} not registered for pack {pack_id}")
            return pack_id, flow_id
        found = registry.flow_by_id(flow_id)
        if found is None:
            raise RoutingError(f"flow {flow_id} is ambiguous; pack_id is required")
        return found.pack_id, found.id

    flow_type = activity.resolved_flow_type()
    if flow_type is not None:
        if pack_id is not None:
            in_pack = registry.first_in_pack_by_type(pack_id, flow_type)
            if in_pack is None:
                raise RoutingError(f"flow type {flow_type} not registered for pack {pack_id}")
            return pack_id, in_pack.id
        found = registry.flow_by_type(flow_type) or registry.entry_flow_by_type(flow_type)
        if found is None:
            raise RoutingError(f"flow type {flow_type} is ambiguous; pack_id is required")
        return found.pack_id, found.id

    entry_flows = main_pack.metadata.entry_flows
    if not entry_flows:
        raise RoutingError(f"no entry flows registered for tenant {tenant}")
    return main_pack.pack_id, entry_flows[0]
