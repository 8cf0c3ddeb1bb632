"""Generic webhook: flow checks, path policy, Idempotency-Key, response mapping."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.http.harness import TurnSpy, build_app, chatbot_host, client

from greentic_runner.activity import Activity
from greentic_runner.config import HostConfig, WebhookPolicy
from greentic_runner.host import RunnerHost
from greentic_runner.http.ingress.webhook import build_response


async def test_request_is_wrapped_and_the_flow_result_is_the_response(host: RunnerHost) -> None:
    spy = TurnSpy(host)
    async with client(build_app(host)) as http:
        response = await http.post(
            "/webhook/hook?x=1", json={"name": "Ada"}, headers={"x-test": "yes"}
        )
    assert response.status_code == 201
    assert response.headers["x-flow"] == "hook"
    assert response.text == "POST /webhook/hook name=Ada"
    [(_, activity)] = spy.calls
    assert activity.kind.action == "webhook"
    assert (activity.flow_id, activity.pack_id, activity.flow_type) == (
        "hook",
        "tests.http.chatbot",
        "webhook",
    )
    wrapped = activity.payload
    assert wrapped["method"] == "POST"
    assert wrapped["path"] == "/webhook/hook"
    assert wrapped["query"] == "x=1"
    assert wrapped["headers"]["x-test"] == "yes"
    assert wrapped["body"] == {"text": '{"name":"Ada"}', "json": {"name": "Ada"}}


async def test_binary_and_empty_bodies(host: RunnerHost) -> None:
    spy = TurnSpy(host)
    async with client(build_app(host)) as http:
        await http.put("/webhook/hook", content=b"\xff\x00")
        await http.get("/webhook/hook")
    assert spy.calls[0][1].payload["body"] == {"base16": "ff00"}
    assert spy.calls[1][1].payload["body"] is None
    assert spy.calls[1][1].payload["method"] == "GET"


async def test_unknown_flow_is_404_and_a_non_webhook_flow_is_409(host: RunnerHost) -> None:
    spy = TurnSpy(host)
    async with client(build_app(host)) as http:
        missing = await http.post("/webhook/nope")
        messaging = await http.post("/webhook/chat")
    assert missing.status_code == 404
    assert missing.json()["error"] == {
        "code": "flow_not_found",
        "message": "flow nope not found for tenant demo",
    }
    assert messaging.status_code == 409
    assert messaging.json()["error"]["message"] == "flow chat is not registered as a webhook"
    assert spy.calls == []


@pytest.mark.parametrize(
    ("policy", "allowed"),
    [
        (WebhookPolicy(), True),
        (WebhookPolicy(allow_paths=("/webhook/hook",)), True),
        (WebhookPolicy(allow_paths=("/webhook/other",)), False),
        (WebhookPolicy(deny_paths=("/webhook/ho",)), False),
        (WebhookPolicy(allow_paths=("/webhook",), deny_paths=("/webhook/hook",)), False),
    ],
    ids=["default", "allowed", "not-in-allow-list", "denied", "deny-wins"],
)
async def test_webhook_policy_gates_the_path(policy: WebhookPolicy, allowed: bool) -> None:
    host = await chatbot_host(HostConfig(tenant="demo", webhook_policy=policy))
    spy = TurnSpy(host)
    async with client(build_app(host)) as http:
        response = await http.post("/webhook/hook", json={})
    assert response.status_code == (201 if allowed else 403)
    if not allowed:
        assert response.json()["error"]["message"] == (
            "path /webhook/hook not permitted by webhook policy"
        )
    assert len(spy.calls) == (1 if allowed else 0)
    await host.stop()


async def test_idempotency_key_replays_the_first_response(host: RunnerHost) -> None:
    spy = TurnSpy(host)
    key = {"idempotency-key": "order-42"}
    async with client(build_app(host)) as http:
        first = await http.post("/webhook/hook", json={"name": "Ada"}, headers=key)
        replay = await http.post("/webhook/hook", json={"name": "Bob"}, headers=key)
        other = await http.post(
            "/webhook/hook", json={"name": "Bob"}, headers={"idempotency-key": "order-43"}
        )
    assert len(spy.calls) == 2
    assert (replay.status_code, replay.text, replay.headers["x-flow"]) == (
        201,
        first.text,
        "hook",
    )
    assert spy.calls[0][1].session_id == "order-42"
    assert other.text == "POST /webhook/hook name=Bob"


async def test_same_key_while_the_first_runs_is_409(host: RunnerHost) -> None:
    release = asyncio.Event()
    started = asyncio.Event()
    original = host.handle_activity

    async def slow(tenant: str, activity: Activity) -> list[Activity]:
        started.set()
        await release.wait()
        return await original(tenant, activity)

    host.handle_activity = slow  # type: ignore[method-assign]
    key = {"idempotency-key": "k1"}
    async with client(build_app(host)) as http:
        first = asyncio.create_task(http.post("/webhook/hook", json={}, headers=key))
        await started.wait()
        second = await http.post("/webhook/hook", json={}, headers=key)
        release.set()
        done = await first
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "idempotency_conflict"
    assert done.status_code == 201


async def test_failed_run_releases_the_key(host: RunnerHost) -> None:
    original = host.handle_activity
    calls: list[int] = []

    async def flaky(tenant: str, activity: Activity) -> list[Activity]:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("transient crash")
        return await original(tenant, activity)

    host.handle_activity = flaky  # type: ignore[method-assign]
    key = {"idempotency-key": "k2"}
    async with client(build_app(host)) as http:
        failed = await http.post("/webhook/hook", json={}, headers=key)
        retried = await http.post("/webhook/hook", json={}, headers=key)
    assert failed.status_code == 500
    assert retried.status_code == 201


@pytest.mark.parametrize(
    ("output", "status", "body", "content_type"),
    [
        ("plain", 200, b"plain", "text/plain; charset=utf-8"),
        ({"text": "hi"}, 200, b"hi", "text/plain; charset=utf-8"),
        ({"status": 202, "body": {"base16": "6869"}}, 202, b"hi", "application/octet-stream"),
        ({"status": 999, "body": {"a": 1}}, 200, b'{"a":1}', "application/json"),
        ({"ok": True}, 200, b'{"ok":true}', "application/json"),
        ([1, 2], 200, b"[1,2]", "application/json"),
        (None, 200, b"null", "application/json"),
    ],
    ids=["string", "text", "base16", "bad-status", "object", "list", "null"],
)
def test_build_response_mapping(output: Any, status: int, body: bytes, content_type: str) -> None:
    response = build_response(output)
    assert response.status_code == status
    assert bytes(response.body) == body
    assert response.headers["content-type"] == content_type
