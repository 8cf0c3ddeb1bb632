from __future__ import annotations

import pytest

from greentic_runner.activity import Activity
from greentic_runner.errors import RoutingError
from greentic_runner.flows.model import Flow, Node
from greentic_runner.flows.registry import FlowRegistry
from greentic_runner.packs.pack import PackRuntime
from greentic_runner.testing import make_pack

PROVIDER_EXT = {
    "greentic.provider-extension.v1": {
        "inline": {
            "providers": [
                {
                    "provider_type": "messaging.teams",
                    "ops": ["send"],
                    "runtime": {"component_ref": "teams", "export": "x", "world": "w"},
                }
            ]
        }
    }
}


def flow(flow_id: str, flow_type: str = "messaging", *tags: str) -> Flow:
    return Flow(id=flow_id, flow_type=flow_type, nodes={"n": Node("n", "emit.log")}, tags=tags)


def resolve(packs: list[PackRuntime], activity: Activity) -> tuple[str, str]:
    from greentic_runner.routing.resolve import resolve_flow_id

    return resolve_flow_id(FlowRegistry(packs), packs[0], "demo", activity)


def test_explicit_pack_and_flow_must_be_registered() -> None:
    packs = [make_pack("p", [flow("main")])]
    assert resolve(packs, Activity.text("x").with_(pack_id="p", flow_id="main")) == ("p", "main")
    with pytest.raises(RoutingError, match="^flow other not registered for pack p$"):
        resolve(packs, Activity.text("x").with_(pack_id="p", flow_id="other"))


def test_flow_id_alone_must_be_unique() -> None:
    packs = [make_pack("a", [flow("main")]), make_pack("b", [flow("main"), flow("solo")])]
    assert resolve(packs, Activity.text("x").with_(flow_id="solo")) == ("b", "solo")
    with pytest.raises(RoutingError, match="^flow main is ambiguous; pack_id is required$"):
        resolve(packs, Activity.text("x").with_(flow_id="main"))


def test_unknown_flow_id_uses_the_ambiguous_message() -> None:
    with pytest.raises(RoutingError, match="^flow nope is ambiguous; pack_id is required$"):
        resolve([make_pack("a", [flow("main")])], Activity.text("x").with_(flow_id="nope"))


def test_pack_id_with_only_a_type_picks_the_first_flow_of_that_type_in_the_pack() -> None:
    packs = [make_pack("a", [flow("one"), flow("two")]), make_pack("b", [flow("three")])]
    assert resolve(packs, Activity.text("x").with_(pack_id="a")) == ("a", "one")
    with pytest.raises(RoutingError, match="^flow type events not registered for pack a$"):
        resolve(packs, Activity.custom("go", {}).with_flow_type("events").with_(pack_id="a"))


def test_a_unique_type_resolves_without_pack() -> None:
    packs = [make_pack("a", [flow("chat"), flow("hook", "webhook")])]
    assert resolve(packs, Activity.text("x")) == ("a", "chat")


def test_one_entry_flow_plus_internal_flows_of_the_same_type() -> None:
    packs = [make_pack("a", [flow("helper", "messaging", "internal"), flow("main")])]
    assert resolve(packs, Activity.text("x")) == ("a", "main")


def test_messaging_provider_packs_never_supply_the_entry_flow() -> None:
    provider = make_pack("teams", [flow("ingress")], extensions=PROVIDER_EXT)
    app = make_pack("app", [flow("main")])
    assert resolve([app, provider], Activity.text("x")) == ("app", "main")


def test_several_entry_flows_of_a_type_are_ambiguous() -> None:
    packs = [make_pack("a", [flow("one"), flow("two")])]
    with pytest.raises(
        RoutingError, match="^flow type messaging is ambiguous; pack_id is required$"
    ):
        resolve(packs, Activity.text("x"))


def test_no_flow_of_the_type_is_reported_as_ambiguous() -> None:
    with pytest.raises(RoutingError, match="^flow type webhook is ambiguous"):
        resolve([make_pack("a", [flow("one")])], Activity.text("x").with_(flow_type="webhook"))


def test_custom_kind_without_type_uses_the_main_pack_entry_flow() -> None:
    packs = [make_pack("a", [flow("one"), flow("two")], entry_flows=("two",))]
    assert resolve(packs, Activity.custom("go", {})) == ("a", "two")
    assert resolve([make_pack("a", [flow("one")])], Activity.custom("go", {})) == ("a", "one")
    with pytest.raises(RoutingError, match="^no entry flows registered for tenant demo$"):
        resolve([make_pack("empty")], Activity.custom("go", {}))
