"""Slack Events API and interactivity: signing, url_verification, dedupe, block replies."""

from __future__ import annotations

import copy
import json
from typing import Any
from urllib.parse import urlencode

import pytest
from tests.http.harness import NOW, TurnSpy, build_app, client, payload, slack_headers

from greentic_runner.host import RunnerHost
from greentic_runner.http import ChannelSecrets

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
EVENTS, INTERACTIVE = "/slack/events", "/slack/interactive"


def event(event_id: str, text: str) -> dict[str, Any]:
    body = copy.deepcopy(payload("slack_event_message"))
    body["event_id"] = event_id
    body["event"]["text"] = text
    return body


def signed(body: bytes, timestamp: int = int(NOW)) -> dict[str, str]:
    return slack_headers(body, SECRET, timestamp)


def form(action_payload: dict[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(action_payload)}).encode()


FORM = {"content-type": "application/x-www-form-urlencoded"}


async def test_event_maps_to_the_canonical_payload(host: RunnerHost) -> None:
    spy = TurnSpy(host)
    raw = payload("slack_event_message")
    async with client(build_app(host)) as http:
        response = await http.post(EVENTS, json=raw)
    assert response.status_code == 200
    [(_, activity)] = spy.calls
    assert activity.session_id == "demo:slack:C024BE91L:U2147483697"
    canonical = activity.payload
    assert canonical["text"] == "hi there"  # the leading bot mention is removed…
    assert canonical["entities"]["mentions"] == ["U0LAN0Z89"]  # …and listed
    assert canonical["provider_ids"] == {
        "workspace_id": "T061EG9R6",
        "conversation_id": "C024BE91L",
        "channel_id": "C024BE91L",
        "user_id": "U2147483697",
        "message_id": "1764160000.000200",
        "event_id": "Ev0PV52K21",
    }
    assert canonical["timestamp"] == "2025-11-26T12:26:40+00:00"
    assert canonical["raw"] == raw


async def test_thread_ts_anchors_the_session(host: RunnerHost) -> None:
    spy = TurnSpy(host)
    body = event("Ev1", "hi")
    body["event"]["thread_ts"] = "1764150000.000100"
    async with client(build_app(host)) as http:
        response = await http.post(EVENTS, json=body)
    [(_, activity)] = spy.calls
    assert activity.session_id == "demo:slack:1764150000.000100:U2147483697"
    assert all(m["thread_ts"] == "1764150000.000100" for m in response.json()["messages"])


async def test_conversation_over_events_and_a_button_press(host: RunnerHost) -> None:
    async with client(build_app(host)) as http:
        first = (await http.post(EVENTS, json=event("Ev1", "hi"))).json()
        second = (await http.post(EVENTS, json=event("Ev2", "Ada"))).json()
        press = await http.post(
            INTERACTIVE, content=form(payload("slack_block_actions")), headers=FORM
        )
    assert [m["text"] for m in first["messages"]] == [
        "Hello! I am the test bot.",
        "What is your name?",
    ]
    [question] = second["messages"]
    assert question["channel"] == "C024BE91L"
    assert question["blocks"] == [
        {"type": "section", "text": {"type": "mrkdwn", "text": "Pick a color"}},
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "red"},
                    "value": "red",
                    "action_id": "greentic-button-0",
                },
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "blue"},
                    "value": "blue",
                    "action_id": "greentic-button-1",
                },
            ],
        },
    ]
    assert press.status_code == 200
    assert [m["text"] for m in press.json()["messages"]] == ["Thanks Ada, blue it is."]


async def test_url_verification_echoes_the_challenge(host: RunnerHost) -> None:
    spy = TurnSpy(host)
    body = json.dumps(payload("slack_url_verification")).encode()
    app = build_app(host, secrets=ChannelSecrets(slack_signing_secret=SECRET))
    async with client(app) as http:
        response = await http.post(EVENTS, content=body, headers=signed(body))
    assert response.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}
    assert spy.calls == []


async def test_bot_messages_are_acked_without_a_turn(host: RunnerHost) -> None:
    spy = TurnSpy(host)
    async with client(build_app(host)) as http:
        response = await http.post(EVENTS, json=payload("slack_event_bot_message"))
    assert response.status_code == 200 and response.json() == {"ok": True}
    assert spy.calls == []


async def test_slack_retry_of_a_handled_event_runs_nothing(host: RunnerHost) -> None:
    spy = TurnSpy(host)
    body = event("Ev9", "hi")
    async with client(build_app(host)) as http:
        first = await http.post(EVENTS, json=body)
        retry = await http.post(
            EVENTS,
            json=body,
            headers={"x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout"},
        )
    assert len(spy.calls) == 1
    assert retry.json() == first.json()


def _tampered(body: bytes) -> dict[str, str]:
    headers = signed(body)
    headers["x-slack-signature"] = "v0=" + "0" * 64
    return headers


@pytest.mark.parametrize(
    ("make_headers", "status", "reason"),
    [
        (lambda body: signed(body), 200, None),
        (_tampered, 401, "signature mismatch"),
        (lambda body: signed(body, int(NOW) - 301), 401, "stale timestamp"),
        (lambda body: signed(body, int(NOW) + 301), 401, "stale timestamp"),
        (lambda body: {}, 401, "missing X-Slack-Signature"),
        (lambda body: {**signed(body), "x-slack-request-timestamp": "soon"}, 401, "not a number"),
    ],
    ids=["valid", "invalid", "stale", "future", "missing", "garbled-timestamp"],
)
@pytest.mark.parametrize("route", ["events", "interactive"])
async def test_signatures_are_checked_before_any_turn(
    host: RunnerHost, make_headers: Any, status: int, reason: str | None, route: str
) -> None:
    spy = TurnSpy(host)
    if route == "events":
        url, body, extra = (
            EVENTS,
            json.dumps(event("Ev5", "hi")).encode(),
            {"content-type": "application/json"},
        )
    else:
        url, body, extra = INTERACTIVE, form(payload("slack_block_actions")), FORM
    app = build_app(host, secrets=ChannelSecrets(slack_signing_secret=SECRET))
    async with client(app) as http:
        response = await http.post(url, content=body, headers={**extra, **make_headers(body)})
        metrics = (await http.get("/metrics")).text
    assert response.status_code == status
    if reason is None:
        assert len(spy.calls) == 1
    else:
        assert response.json()["error"]["code"] == "invalid_signature"
        assert reason in response.json()["error"]["message"]
        assert spy.calls == []
        assert 'greentic_signature_failures_total{channel="slack"} 1.0' in metrics


async def test_interactive_without_payload_is_400(host: RunnerHost) -> None:
    async with client(build_app(host)) as http:
        response = await http.post(INTERACTIVE, content=b"nothing=here", headers=FORM)
    assert response.status_code == 400
