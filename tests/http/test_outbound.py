"""Reading reply payloads as channel-neutral messages (outbound.py)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from greentic_runner.activity import Activity
from greentic_runner.http.outbound import Button, Card, OutMessage, outbound, payload_messages


def replies(*payloads: Any) -> list[Activity]:
    return [Activity.from_output(p, "demo") for p in payloads]


def pending(response: Any) -> dict[str, Any]:
    return {
        "status": "pending",
        "reason": "r",
        "resume": {},
        "reply_scope": {},
        "response": response,
    }


def test_texts_lists_and_nested_messages() -> None:
    out = outbound(replies("a", [{"text": "b"}, {"messages": ["c", {"text": "d"}]}], None))
    assert [m.text for m in out.messages] == ["a", "b", "c", "d"]
    assert out.waiting is False


def test_pending_turn_contributes_its_response_and_waits() -> None:
    out = outbound(replies(pending([{"text": "q?", "options": ["x", "y"]}])))
    assert out.waiting is True
    assert out.messages == [OutMessage("q?", (Button("x", "x"), Button("y", "y")))]


def test_immediate_repeats_fold() -> None:
    out = outbound(replies([{"text": "bye"}, {"text": "bye"}], {"text": "bye"}))
    assert [m.text for m in out.messages] == ["bye"]


def test_button_shapes() -> None:
    [message] = payload_messages(
        {
            "text": "pick",
            "buttons": [
                "plain",
                {"title": "T", "value": "v"},
                {"label": "L", "payload": "p"},
                {"text": "only-title"},
                {"id": "only-id"},
                {"nothing": 1},
            ],
        }
    )
    assert message.buttons == (
        Button("plain", "plain"),
        Button("T", "v"),
        Button("L", "p"),
        Button("only-title", "only-title"),
        Button("only-id", "only-id"),
    )


def test_simple_card_and_adaptive_card() -> None:
    [simple] = payload_messages(
        {
            "card": {
                "title": "Weather",
                "text": "Sunny",
                "image": "https://x/y.png",
                "buttons": ["ok"],
            }
        }
    )
    assert simple.card == Card("Weather", "Sunny", "https://x/y.png", (Button("ok", "ok"),))
    assert simple.all_buttons == (Button("ok", "ok"),)
    adaptive = {
        "type": "AdaptiveCard",
        "body": [
            {"type": "TextBlock", "text": "Title"},
            {"type": "Container", "items": [{"type": "TextBlock", "text": "Line"}]},
            {"type": "ColumnSet", "columns": [{"items": [{"type": "Image", "url": "u"}]}]},
        ],
        "actions": [
            {"type": "Action.Submit", "title": "Yes", "data": {"value": "y"}},
            {"type": "Action.Submit", "title": "No", "data": "n"},
            {"type": "Action.OpenUrl", "title": "Docs", "url": "https://x"},
        ],
    }
    [message] = payload_messages(adaptive)
    assert message.card == Card(
        "Title", "Line", "u", (Button("Yes", "y"), Button("No", "n")), adaptive
    )
    assert message.plain_text() == "Title\nLine"


def test_other_values_render_as_json() -> None:
    assert [m.text for m in payload_messages({"a": 1})] == ['{"a":1}']
    assert [m.text for m in payload_messages(3)] == ["3"]


KEYS = [
    "text",
    "messages",
    "buttons",
    "options",
    "card",
    "type",
    "status",
    "resume",
    "response",
    "actions",
    "body",
    "items",
    "columns",
    "data",
    "title",
    "value",
    "url",
    "image",
    "subtitle",
    "x",
]
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text()
    | st.sampled_from(["AdaptiveCard", "TextBlock", "Image", "Action.Submit", "pending"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(KEYS) | st.just("AdaptiveCard"),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@given(json_values)
def test_any_json_payload_reads_without_error(value: Any) -> None:
    out = outbound(replies(value))
    for message in out.messages:
        assert message.text is None or isinstance(message.text, str)
        assert all(
            isinstance(b.title, str) and isinstance(b.value, str) for b in message.all_buttons
        )
