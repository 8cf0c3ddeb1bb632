"""FlowRegistry: lookups, and one shared registry per set of parsed packs."""

from __future__ import annotations

import gc
import weakref
from dataclasses import replace

import pytest

from greentic_runner.errors import FlowError
from greentic_runner.flows.model import Flow, Node
from greentic_runner.flows.registry import FlowRegistry
from greentic_runner.packs.pack import PackRuntime
from greentic_runner.testing import make_pack


def flow(flow_id: str, flow_type: str = "messaging") -> Flow:
    return Flow(id=flow_id, flow_type=flow_type, nodes={"n": Node("n", "emit.log")})


def tenant_copy(pack: PackRuntime) -> PackRuntime:
    """What SharedPacks hands each tenant: its own PackRuntime over the same parse."""
    return replace(pack, identify_hints={})


def test_later_pack_replaces_a_flow_with_the_same_key() -> None:
    first = make_pack("p", [flow("main")])
    overlay = make_pack("p", [flow("main", "webhook")])
    registry = FlowRegistry([first, overlay])
    found = registry.flow_by_key("p", "main")
    assert found is not None and found.flow_type == "webhook"
    assert registry.flow("p", "main") is overlay.flows["main"]
    with pytest.raises(FlowError, match="^flow p:other not registered$"):
        registry.flow("p", "other")


def test_tenants_loading_the_same_parses_share_one_registry() -> None:
    main, overlay = make_pack("p", [flow("main")]), make_pack("o", [flow("extra")])
    mine = FlowRegistry.shared([tenant_copy(main), tenant_copy(overlay)])
    theirs = FlowRegistry.shared([tenant_copy(main), tenant_copy(overlay)])
    assert mine is theirs
    assert FlowRegistry.shared([tenant_copy(overlay), tenant_copy(main)]) is not mine  # order
    assert FlowRegistry.shared([tenant_copy(main)]) is not mine


def test_a_new_parse_of_the_same_pack_gets_its_own_registry() -> None:
    # A reloaded pack is parsed again: new flows objects, even when they look the same.
    before = FlowRegistry.shared([make_pack("p", [flow("main")])])
    after = FlowRegistry.shared([make_pack("p", [flow("main", "webhook")])])
    assert after is not before
    found = after.flow_by_key("p", "main")
    assert found is not None and found.flow_type == "webhook"


def test_a_pack_with_other_entry_flows_gets_its_own_registry() -> None:
    pack = make_pack("p", [flow("a"), flow("b")])
    declared = replace(pack, declared_entry_flows=("b",))
    assert FlowRegistry.shared([declared]) is not FlowRegistry.shared([tenant_copy(pack)])


def test_shared_registries_are_released_with_their_last_user() -> None:
    pack = make_pack("p", [flow("main")])
    gone = weakref.ref(FlowRegistry.shared([pack]))
    gc.collect()
    assert gone() is None
    assert FlowRegistry.shared([pack]) is not None


def test_route_cache_is_shared_by_runtimes_with_the_registrys_main_pack() -> None:
    main, overlay = make_pack("p", [flow("main")]), make_pack("o", [flow("extra")])
    registry = FlowRegistry.shared([main, overlay])
    cache = registry.route_cache(tenant_copy(main))
    assert registry.route_cache(tenant_copy(main)) is cache
    # Another main pack routes differently (its own entry flows): its own, empty cache.
    other = registry.route_cache(overlay)
    assert other is not cache and other == {}
