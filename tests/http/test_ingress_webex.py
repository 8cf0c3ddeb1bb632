"""Webex webhook: optional X-Spark-Signature, bot-loop guard, card replies."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import pytest
from tests.http.harness import TurnSpy, build_app, client, hex_hmac, payload

from greentic_runner.host import RunnerHost
from greentic_runner.http import ChannelSecrets

URL = "/webex/webhook"
SECRET = "webex-secret"


def message(message_id: str, text: str) -> dict[str, Any]:
    body = copy.deepcopy(payload("webex_message_created"))
    body["data"]["id"] = message_id
    body["data"]["text"] = text
    return body


async def test_message_canonical_payload_and_card_reply(host: RunnerHost) -> None:
    spy = TurnSpy(host)
    async with client(build_app(host)) as http:
        first = (await http.post(URL, json=payload("webex_message_created"))).json()
        second = (await http.post(URL, json=message("m2", "Ada"))).json()
    raw = payload("webex_message_created")
    activity = spy.calls[0][1]
    room, person = raw["data"]["roomId"], raw["data"]["personId"]
    assert activity.session_id == f"demo:webex:{room}:{person}"
    assert activity.payload["text"] == "hi"
    assert activity.payload["channel_data"]["resource"] == "messages"
    assert first["messages"][-1] == {"roomId": room, "markdown": "What is your name?"}
    [question] = second["messages"]
    card = question["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["content"]["actions"] == [
        {"type": "Action.Submit", "title": "red", "data": {"value": "red"}},
        {"type": "Action.Submit", "title": "blue", "data": {"value": "blue"}},
    ]


async def test_thread_parent_anchors_and_is_echoed(host: RunnerHost) -> None:
    spy = TurnSpy(host)
    body = message("m3", "hi")
    body["data"]["parentId"] = "PARENT1"
    async with client(build_app(host)) as http:
        response = (await http.post(URL, json=body)).json()
    assert spy.calls[0][1].session_id.startswith("demo:webex:PARENT1:")
    assert all(m["parentId"] == "PARENT1" for m in response["messages"])


async def test_bot_authored_messages_and_redeliveries_run_nothing(host: RunnerHost) -> None:
    spy = TurnSpy(host)
    own = message("m4", "What is your name?")
    own["data"]["personEmail"] = "greentic@webex.bot"
    async with client(build_app(host)) as http:
        ignored = await http.post(URL, json=own)
        await http.post(URL, json=message("m5", "hi"))
        await http.post(URL, json=message("m5", "hi"))
    assert ignored.json() == {"messages": []}
    assert len(spy.calls) == 1


@pytest.mark.parametrize(
    ("header", "status"),
    [
        (lambda body: hex_hmac(SECRET, body, hashlib.sha1), 200),
        (lambda body: hex_hmac(SECRET, body, hashlib.sha1).upper(), 200),
        (lambda body: hex_hmac("nope", body, hashlib.sha1), 401),
        (lambda body: None, 401),
    ],
    ids=["valid", "valid-uppercase", "invalid", "missing"],
)
async def test_signature_when_configured(host: RunnerHost, header: Any, status: int) -> None:
    spy = TurnSpy(host)
    body = json.dumps(message("m6", "hi")).encode()
    value = header(body)
    headers = {"content-type": "application/json"}
    if value is not None:
        headers["x-spark-signature"] = value
    app = build_app(host, secrets=ChannelSecrets(webex_webhook_secret=SECRET))
    async with client(app) as http:
        response = await http.post(URL, content=body, headers=headers)
    assert response.status_code == status
    assert len(spy.calls) == (1 if status == 200 else 0)


async def test_unsigned_requests_pass_when_no_secret_is_set(host: RunnerHost) -> None:
    async with client(build_app(host)) as http:
        response = await http.post(URL, json=message("m7", "hi"))
    assert response.status_code == 200
