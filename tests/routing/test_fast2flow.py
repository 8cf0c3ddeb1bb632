from __future__ import annotations

from typing import Any

import pytest

from greentic_runner.activity import Activity
from greentic_runner.config import Fast2FlowConfig
from greentic_runner.errors import RoutingError
from greentic_runner.routing.fast2flow import apply_fast2flow, apply_target, build_request

ENABLED = Fast2FlowConfig(enabled=True)


class Router:
    """A routing component's answer, recorded: the edge the pack would provide."""

    def __init__(self, directive: Any) -> None:
        self.directive = directive
        self.requests: list[dict[str, Any]] = []

    async def route(self, request: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(request)
        return {"directive": self.directive}


async def test_disabled_or_explicit_flow_bypasses_routing() -> None:
    router = Router({"Dispatch": {"target": "x"}})
    activity = Activity.text("hi")
    assert await apply_fast2flow(activity, "demo", Fast2FlowConfig(), router) is activity
    explicit = activity.with_(flow_id="f")
    assert await apply_fast2flow(explicit, "demo", ENABLED, router) is explicit
    assert router.requests == []


@pytest.mark.parametrize("payload", [{"text": "   "}, {"other": 1}, "text", None])
async def test_blank_or_missing_text_continues_unchanged(payload: Any) -> None:
    router = Router("Continue")
    activity = Activity.custom("go", payload)
    assert await apply_fast2flow(activity, "demo", ENABLED, router) is activity
    assert router.requests == []


async def test_request_shape() -> None:
    activity = Activity.text("  hello ").with_(channel_id="c1", provider_id="teams", session_id="s")
    request = build_request(activity, "demo", Fast2FlowConfig(enabled=True, scope="sc"))
    assert request is not None
    assert request["scope"] == "sc"
    assert request["envelope"] == {"text": "hello", "channel": "c1", "provider": "teams"}
    assert request["session_active"] is True
    assert request["input_locale"] == "en"
    assert request["metadata"] == {}
    assert build_request(Activity.text("x"), "demo", ENABLED)["scope"] == "demo"  # type: ignore[index]


async def test_continue_keeps_the_activity() -> None:
    activity = Activity.text("hi")
    assert await apply_fast2flow(activity, "demo", ENABLED, Router("Continue")) == activity


@pytest.mark.parametrize(
    "directive",
    [
        {"Dispatch": {"target": "telco-x/prefix-traffic", "entities": [{"kind": "date"}]}},
        {"type": "dispatch", "target": " telco-x/prefix-traffic ", "entities": [{"kind": "date"}]},
    ],
)
async def test_dispatch_with_pack_and_entities(directive: Any) -> None:
    routed = await apply_fast2flow(
        Activity.text("show traffic"), "demo", ENABLED, Router(directive)
    )
    assert (routed.pack_id, routed.flow_id) == ("telco-x", "prefix-traffic")
    assert routed.payload == {"text": "show traffic", "fast2flow": {"entities": [{"kind": "date"}]}}


async def test_dispatch_flow_only_without_entities() -> None:
    routed = await apply_fast2flow(
        Activity.text("x"), "demo", ENABLED, Router({"Dispatch": {"target": "billing"}})
    )
    assert (routed.pack_id, routed.flow_id, routed.payload) == (None, "billing", {"text": "x"})


@pytest.mark.parametrize(
    ("directive", "text"),
    [({"Respond": {"message": "on it"}}, "on it"), ({"Deny": {"reason": "nope"}}, "nope")],
)
async def test_respond_and_deny_become_response_activities(directive: Any, text: str) -> None:
    routed = await apply_fast2flow(Activity.text("x"), "demo", ENABLED, Router(directive))
    assert routed.to_dict() == {
        "kind": {"kind": "custom", "action": "response"},
        "tenant": "demo",
        "payload": {"messages": [{"text": text}]},
    }


@pytest.mark.parametrize("target", ["", "   "])
def test_empty_target(target: str) -> None:
    with pytest.raises(RoutingError, match="^fast2flow dispatch target is empty$"):
        apply_target(Activity.text("x"), target, [])


@pytest.mark.parametrize("target", ["/flow", "pack/", " / "])
def test_malformed_pack_flow_target(target: str) -> None:
    with pytest.raises(RoutingError, match="must be `pack_id/flow_id` or `flow_id`"):
        apply_target(Activity.text("x"), target, [])


def test_entities_merge_into_a_non_object_payload_with_value_wrap() -> None:
    routed = apply_target(Activity.custom("go", "raw"), "f", [{"kind": "date"}])
    assert routed.payload == {"fast2flow": {"entities": [{"kind": "date"}]}, "value": "raw"}


async def test_unknown_directive_is_an_error() -> None:
    with pytest.raises(RoutingError, match="failed to decode Fast2Flow route result"):
        await apply_fast2flow(Activity.text("x"), "demo", ENABLED, Router({"Explode": {}}))
