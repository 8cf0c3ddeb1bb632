from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from greentic_runner.activity import Activity, ActivityKind, WelcomeFlowHint
from greentic_runner.errors import ActivityError


def test_text_activity_has_the_reference_json_shape() -> None:
    encoded = json.loads(Activity.text("hi").to_json())
    assert encoded == {
        "kind": {"kind": "message"},
        "flow_type": "messaging",
        "payload": {"text": "hi"},
    }


def test_custom_kind_nests_action_and_optional_flow_type() -> None:
    plain = Activity.custom("response", {"a": 1}).to_dict()
    assert plain["kind"] == {"kind": "custom", "action": "response"}
    typed = Activity.custom("x", None).with_flow_type("y").to_dict()
    assert typed["kind"] == {"kind": "custom", "action": "x", "flow_type": "y"}
    assert typed["flow_type"] == "y"


def test_serialization_order_puts_kind_first_and_payload_last() -> None:
    activity = Activity.from_output({"x": 1}, "demo")
    assert list(activity.to_dict()) == ["kind", "tenant", "payload"]


def test_missing_kind_is_message_and_missing_payload_is_null() -> None:
    activity = Activity.from_json('{"tenant": "demo"}')
    assert activity.kind == ActivityKind()
    assert activity.payload is None
    assert activity.action() == "messaging"
    assert activity.resolved_flow_type() == "messaging"


def test_unknown_fields_are_ignored() -> None:
    activity = Activity.from_json('{"kind":{"kind":"message"},"future_field":42,"payload":1}')
    assert activity.payload == 1


def test_endpoint_id_is_omitted_when_unset_and_round_trips_when_set() -> None:
    assert "messaging_endpoint_id" not in Activity.text("hi").to_json()
    with_eid = Activity.text("hi").with_(messaging_endpoint_id="teams-legal")
    assert '"messaging_endpoint_id":"teams-legal"' in with_eid.to_json()
    assert Activity.from_json(with_eid.to_json()).messaging_endpoint_id == "teams-legal"


def test_flow_type_and_action_rules() -> None:
    custom = Activity.custom("approve", {})
    assert custom.resolved_flow_type() is None
    assert custom.action() == "approve"
    assert custom.with_flow_type("events").resolved_flow_type() == "events"
    assert Activity.text("x").with_(flow_type="webhook").resolved_flow_type() == "webhook"


def test_with_payload_field_sets_key_on_objects_and_wraps_other_payloads() -> None:
    on_object = Activity.text("show traffic").with_payload_field("fast2flow", {"entities": []})
    assert on_object.payload == {"text": "show traffic", "fast2flow": {"entities": []}}
    on_string = Activity.custom("x", "raw").with_payload_field("k", 1)
    assert on_string.payload == {"k": 1, "value": "raw"}
    on_null = Activity.custom("x", None).with_payload_field("k", 1)
    assert on_null.payload == {"k": 1, "value": None}


def test_ensure_tenant_only_fills_a_missing_tenant() -> None:
    assert Activity.text("x").ensure_tenant("a").tenant == "a"
    assert Activity.text("x").with_(tenant="b").ensure_tenant("a").tenant == "b"


def test_from_output_is_a_custom_response_for_the_tenant() -> None:
    reply = Activity.from_output({"text": "hello"}, "demo")
    assert reply.to_dict() == {
        "kind": {"kind": "custom", "action": "response"},
        "tenant": "demo",
        "payload": {"text": "hello"},
    }


def test_welcome_hint_round_trips() -> None:
    activity = Activity.text("hi").with_(welcome_flow_hint=WelcomeFlowHint("p", "f"))
    decoded = Activity.from_json(activity.to_json())
    assert decoded.welcome_flow_hint == WelcomeFlowHint("p", "f")


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("not json", "not valid JSON"),
        ("[]", "must be a JSON object"),
        ('{"kind": "message"}', "kind must be an object"),
        ('{"kind": {"kind": "other"}}', "unknown activity kind"),
        ('{"kind": {"kind": "custom"}}', "requires a string `action`"),
        ('{"tenant": 5}', "field `tenant` must be a string"),
        ('{"welcome_flow_hint": {"pack_id": "p"}}', "welcome_flow_hint"),
    ],
)
def test_malformed_activities_raise_activity_error(raw: str, fragment: str) -> None:
    with pytest.raises(ActivityError) as info:
        Activity.from_json(raw)
    assert fragment in str(info.value)


_ids = st.none() | st.text(max_size=12)
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
_kinds = st.just(ActivityKind()) | st.builds(
    ActivityKind, st.just("custom"), st.text(max_size=8), st.none() | st.text(max_size=8)
)


@given(
    kind=_kinds,
    tenant=_ids,
    flow_id=_ids,
    session_id=_ids,
    endpoint=_ids,
    user=_ids,
    payload=_json,
)
def test_activity_json_round_trips(
    kind: ActivityKind,
    tenant: str | None,
    flow_id: str | None,
    session_id: str | None,
    endpoint: str | None,
    user: str | None,
    payload: object,
) -> None:
    activity = Activity(
        kind=kind,
        tenant=tenant,
        flow_id=flow_id,
        session_id=session_id,
        messaging_endpoint_id=endpoint,
        user_id=user,
        payload=payload,
    )
    assert Activity.from_json(activity.to_json()) == activity


def test_from_output_equals_the_keyword_construction() -> None:
    """from_output builds its reply positionally (hot path); it must match the fields."""
    reply = Activity.from_output({"text": "hi"}, "acme")
    assert reply == Activity(kind=reply.kind, tenant="acme", payload={"text": "hi"})
    assert reply.action() == "response"


def test_message_is_the_keyword_construction_in_positional_form() -> None:
    built = Activity.message("t", "messaging", "s", "webchat", "u", "ch", "conv", {"text": "hi"})
    assert built == Activity(
        tenant="t",
        flow_type="messaging",
        session_id="s",
        provider_id="webchat",
        user_id="u",
        channel_id="ch",
        conversation_id="conv",
        payload={"text": "hi"},
    )
