"""WhatsApp Cloud API: verify handshake, X-Hub-Signature-256, messages and replies."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from tests.http.harness import TurnSpy, build_app, client, hex_hmac, payload

from greentic_runner.host import RunnerHost
from greentic_runner.http import ChannelSecrets

URL = "/whatsapp/webhook"
SECRET = "app-secret-123"


def text_message(message_id: str, text: str) -> dict[str, Any]:
    body = copy.deepcopy(payload("whatsapp_text"))
    message = body["entry"][0]["changes"][0]["value"]["messages"][0]
    message["id"] = message_id
    message["text"]["body"] = text
    return body


async def test_verify_handshake(host: RunnerHost) -> None:
    app = build_app(host, secrets=ChannelSecrets(whatsapp_verify_token="vt"))
    params = {"hub.mode": "subscribe", "hub.verify_token": "vt", "hub.challenge": "1158201444"}
    async with client(app) as http:
        ok = await http.get(URL, params=params)
        wrong = await http.get(URL, params={**params, "hub.verify_token": "nope"})
    assert ok.status_code == 200 and ok.text == "1158201444"
    assert ok.headers["content-type"].startswith("text/plain")
    assert wrong.status_code == 403
    async with client(build_app(host)) as http:
        unconfigured = await http.get(URL, params=params)
    assert unconfigured.status_code == 403


async def test_text_message_canonical_payload_and_reply(host: RunnerHost) -> None:
    spy = TurnSpy(host)
    async with client(build_app(host)) as http:
        response = await http.post(URL, json=payload("whatsapp_text"))
    [(_, activity)] = spy.calls
    assert activity.session_id == "demo:whatsapp:16505551234:16505551234"
    canonical = activity.payload
    assert canonical["text"] == "hi"
    assert canonical["provider_ids"] == {
        "workspace_id": "106540352242922",
        "conversation_id": "16505551234",
        "user_id": "16505551234",
        "message_id": "wamid.HBgLMTY1MDUwNzY1MjAVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
    }
    assert canonical["channel_data"] == {"type": "text", "profile_name": "Ada Lovelace"}
    assert response.json()["messages"][-1] == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "16505551234",
        "type": "text",
        "text": {"preview_url": False, "body": "What is your name?"},
    }


async def test_choices_become_reply_buttons_and_a_press_answers(host: RunnerHost) -> None:
    async with client(build_app(host)) as http:
        await http.post(URL, json=text_message("wamid.1", "hi"))
        second = (await http.post(URL, json=text_message("wamid.2", "Ada"))).json()
        third = (await http.post(URL, json=payload("whatsapp_button_reply"))).json()
    [question] = second["messages"]
    assert question["type"] == "interactive"
    assert question["interactive"] == {
        "type": "button",
        "body": {"text": "Pick a color"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": "red", "title": "red"}},
                {"type": "reply", "reply": {"id": "blue", "title": "blue"}},
            ]
        },
    }
    assert third["messages"][0]["text"]["body"] == "Thanks Ada, blue it is."


async def test_status_callbacks_and_redeliveries_run_nothing(host: RunnerHost) -> None:
    spy = TurnSpy(host)
    async with client(build_app(host)) as http:
        status = await http.post(URL, json=payload("whatsapp_status"))
        await http.post(URL, json=text_message("wamid.9", "hi"))
        again = await http.post(URL, json=text_message("wamid.9", "hi"))
    assert status.json() == {"messages": []}
    assert len(spy.calls) == 1
    assert again.status_code == 200


@pytest.mark.parametrize(
    ("header", "status"),
    [
        (lambda body: "sha256=" + hex_hmac(SECRET, body), 200),
        (lambda body: "sha256=" + hex_hmac("other", body), 401),
        (lambda body: hex_hmac(SECRET, body), 401),
        (lambda body: None, 401),
    ],
    ids=["valid", "invalid", "no-prefix", "missing"],
)
async def test_signature_is_checked_before_any_turn(
    host: RunnerHost, header: Any, status: int
) -> None:
    spy = TurnSpy(host)
    body = json.dumps(text_message("wamid.5", "hi")).encode()
    value = header(body)
    headers = {"content-type": "application/json"}
    if value is not None:
        headers["x-hub-signature-256"] = value
    app = build_app(host, secrets=ChannelSecrets(whatsapp_app_secret=SECRET))
    async with client(app) as http:
        response = await http.post(URL, content=body, headers=headers)
    assert response.status_code == status
    assert len(spy.calls) == (1 if status == 200 else 0)
