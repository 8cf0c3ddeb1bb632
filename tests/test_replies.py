from __future__ import annotations

from greentic_runner.activity import Activity
from greentic_runner.replies import is_waiting, payload_texts, reply_texts


def replies(*payloads: object) -> list[Activity]:
    return [Activity.from_output(p, "demo") for p in payloads]


def test_texts_from_the_common_payload_shapes() -> None:
    assert list(payload_texts({"text": "hi"})) == ["hi"]
    assert list(payload_texts({"messages": [{"text": "a"}, {"type": "text", "text": "b"}]})) == [
        "a",
        "b",
    ]
    assert list(payload_texts("plain")) == ["plain"]
    assert list(payload_texts(None)) == []
    assert list(payload_texts({"k": 1})) == ['{"k":1}']
    assert list(payload_texts(3)) == ["3"]


def test_pending_payload_shows_its_response_messages() -> None:
    pending = {"status": "pending", "resume": {}, "response": [{"text": "Your name?"}]}
    assert reply_texts(replies(pending)) == ["Your name?"]
    assert is_waiting(replies(pending))
    assert not is_waiting(replies({"status": "pending"}))


def test_immediate_repeats_are_folded() -> None:
    assert reply_texts(replies({"text": "bye"}, {"text": "bye"}, {"text": "x"})) == ["bye", "x"]
