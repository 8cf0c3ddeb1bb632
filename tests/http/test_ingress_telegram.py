"""Telegram webhook: canonical payload, inline-keyboard replies, update_id dedupe, secret."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from tests.http.harness import TurnSpy, build_app, client, payload

from greentic_runner.host import RunnerHost
from greentic_runner.http import ChannelSecrets

URL = "/messaging/telegram/webhook"


def update(update_id: int, text: str) -> dict[str, Any]:
    body = copy.deepcopy(payload("telegram_message"))
    body["update_id"] = update_id
    body["message"]["text"] = text
    body["message"].pop("entities")
    return body


async def test_message_maps_to_the_canonical_payload(host: RunnerHost) -> None:
    spy = TurnSpy(host)
    raw = payload("telegram_message")
    async with client(build_app(host)) as http:
        response = await http.post(URL, json=raw)
    assert response.status_code == 200
    [(tenant, activity)] = spy.calls
    assert tenant == "demo"
    assert activity.session_id == "demo:telegram:5511223344:5511223344"
    assert activity.flow_type == "messaging"
    assert (activity.provider_id, activity.channel_id, activity.user_id) == (
        "telegram",
        "5511223344",
        "5511223344",
    )
    canonical = activity.payload
    assert canonical["tenant"] == "demo"
    assert canonical["provider"] == "telegram"
    assert canonical["provider_ids"] == {
        "conversation_id": "5511223344",
        "channel_id": "5511223344",
        "user_id": "5511223344",
        "message_id": "1365",
        "event_id": "727354001",
    }
    assert canonical["session"] == {
        "key": "demo:telegram:5511223344:5511223344",
        "scopes": ["chat"],
    }
    assert canonical["timestamp"] == "2025-11-26T12:26:40+00:00"
    assert canonical["locale"] == "en"
    assert canonical["text"] == raw["message"]["text"]
    assert canonical["entities"] == {
        "mentions": ["@greentic_bot"],
        "urls": ["https://example.org/docs"],
    }
    assert canonical["channel_data"] == {
        "chat_id": 5511223344,
        "chat_type": "private",
        "update_type": "message",
    }
    assert canonical["raw"] == raw
    assert canonical["metadata"]["ip"] == "127.0.0.1"


async def test_conversation_replies_with_send_message_and_keyboard(host: RunnerHost) -> None:
    async with client(build_app(host)) as http:
        first = (await http.post(URL, json=update(1, "hi"))).json()
        second = (await http.post(URL, json=update(2, "Ada"))).json()
        press = copy.deepcopy(payload("telegram_callback_query"))
        third = (await http.post(URL, json=press)).json()
    assert first == {
        "method": "sendMessage",
        "chat_id": 5511223344,
        "text": "Hello! I am the test bot.\n\nWhat is your name?",
    }
    assert second == {
        "method": "sendMessage",
        "chat_id": 5511223344,
        "text": "Pick a color",
        "reply_markup": {
            "inline_keyboard": [
                [{"text": "red", "callback_data": "red"}],
                [{"text": "blue", "callback_data": "blue"}],
            ]
        },
    }
    assert third["text"] == "Thanks Ada, blue it is."


async def test_redelivered_update_is_answered_from_memory(host: RunnerHost) -> None:
    spy = TurnSpy(host)
    async with client(build_app(host)) as http:
        first = await http.post(URL, json=update(7, "hi"))
        again = await http.post(URL, json=update(7, "hi"))
        metrics = (await http.get("/metrics")).text
    assert len(spy.calls) == 1
    assert again.status_code == 200 and again.json() == first.json()
    assert 'greentic_dedupe_hits_total{channel="telegram"} 1.0' in metrics


async def test_a_redelivery_while_the_first_still_runs_is_deferred_not_acknowledged(
    host: RunnerHost,
) -> None:
    """Acknowledging it would lose the update if the first delivery's process died."""
    app = build_app(host)
    claim = await app.ctx.dedupe.claim("demo:telegram:8")  # the first delivery, running
    assert claim.state == "new"
    spy = TurnSpy(host)
    async with client(app) as http:
        deferred = await http.post(URL, json=update(8, "hi"))
    assert deferred.status_code == 503
    assert deferred.headers["retry-after"] == "5"
    assert deferred.json()["error"]["code"] == "in_progress"
    assert spy.calls == []
    await app.ctx.dedupe.release("demo:telegram:8")  # the first delivery failed
    async with client(app) as http:
        retried = await http.post(URL, json=update(8, "hi"))
    assert retried.status_code == 200 and len(spy.calls) == 1


async def test_updates_without_text_run_nothing(host: RunnerHost) -> None:
    spy = TurnSpy(host)
    sticker_less = update(9, "hi")
    del sticker_less["message"]["text"]
    async with client(build_app(host)) as http:
        no_text = await http.post(URL, json=sticker_less)
        edited = await http.post(URL, json={"update_id": 10, "edited_message": {"chat": {"id": 1}}})
    assert no_text.json() == {} and edited.json() == {}
    assert spy.calls == []


@pytest.mark.parametrize(
    ("header", "status"),
    [("right-token", 200), ("wrong-token", 401), (None, 401)],
    ids=["valid", "invalid", "missing"],
)
async def test_secret_token_is_checked_before_any_turn(
    host: RunnerHost, header: str | None, status: int
) -> None:
    spy = TurnSpy(host)
    app = build_app(host, secrets=ChannelSecrets(telegram_secret_token="right-token"))
    headers = {"x-telegram-bot-api-secret-token": header} if header else {}
    async with client(app) as http:
        response = await http.post(URL, json=update(11, "hi"), headers=headers)
    assert response.status_code == status
    if status == 401:
        assert response.json()["error"]["code"] == "invalid_signature"
        assert spy.calls == []
    else:
        assert len(spy.calls) == 1


async def test_malformed_update_is_400(host: RunnerHost) -> None:
    async with client(build_app(host)) as http:
        response = await http.post(URL, json={"message": {}})
    assert response.status_code == 400
    assert "update_id" in response.json()["error"]["message"]
