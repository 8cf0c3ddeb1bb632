"""Every error is JSON ``{"error": {"code", "message"}}`` with a fitting status."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from httpx import Response
from tests.http.harness import build_app, client

from greentic_runner.activity import Activity
from greentic_runner.errors import (
    ActivityError,
    ComponentError,
    FlowError,
    PackError,
    RoutingError,
    RunnerError,
    SessionError,
    StoreError,
    TenantError,
)
from greentic_runner.host import RunnerHost
from greentic_runner.http import Limits
from greentic_runner.http.errors import status_for

HELLO = {"payload": {"text": "hi"}}


def fail_with(host: RunnerHost, exc: BaseException) -> None:
    async def failing(tenant: str, activity: Activity) -> list[Activity]:
        raise exc

    host.handle_activity = failing  # type: ignore[method-assign]


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (ActivityError("bad"), 422),
        (TenantError("tenant x not loaded"), 404),
        (RoutingError("flow x is ambiguous"), 404),
        (StoreError("redis unreachable"), 503),
        (SessionError("alignment"), 503),
        (FlowError("flow execution failed: node n"), 500),
        (ComponentError("component c failed"), 500),
        (PackError("pack p broken"), 500),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, RunnerError) else str(v),
)
async def test_runner_errors_map_to_statuses(
    host: RunnerHost, error: RunnerError, status: int
) -> None:
    assert status_for(error) == status
    fail_with(host, error)
    async with client(build_app(host)) as http:
        response = await http.post("/tenants/demo/activities", json=HELLO)
    assert response.status_code == status
    assert response.json() == {"error": {"code": error.code, "message": str(error)}}


async def test_unexpected_exception_is_500_without_traceback(host: RunnerHost) -> None:
    fail_with(host, RuntimeError("secret internals at 0xdeadbeef"))
    async with client(build_app(host)) as http:
        response = await http.post("/tenants/demo/activities", json=HELLO)
    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "internal_error", "message": "internal server error"}
    }
    assert "Traceback" not in response.text and "deadbeef" not in response.text


async def test_unknown_route_and_wrong_method_are_json(host: RunnerHost) -> None:
    async with client(build_app(host)) as http:
        missing = await http.get("/nope")
        wrong = await http.get("/tenants/demo/activities")
    assert missing.status_code == 404
    assert missing.json()["error"] == {"code": "not_found", "message": "no route for GET /nope"}
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "method_not_allowed"


async def test_malformed_json_is_400(host: RunnerHost) -> None:
    async with client(build_app(host)) as http:
        broken = await http.post("/tenants/demo/activities", content=b'{"payload": ')
        empty = await http.post("/tenants/demo/activities", content=b"")
    assert broken.status_code == 400
    assert broken.json()["error"]["code"] == "invalid_json"
    assert empty.status_code == 400
    assert empty.json()["error"]["code"] == "bad_request"


async def test_json_nested_deeper_than_the_cap_is_400(host: RunnerHost) -> None:
    app = build_app(host, limits=Limits(max_json_depth=5))
    ok = {"payload": {"a": {"b": {"c": {"text": "hi"}}}}}  # 5 nested objects: at the cap
    deep = {"payload": {"a": {"b": {"c": {"d": [1]}}}}}  # an array inside: 6 levels
    async with client(app) as http:
        accepted = await http.post("/tenants/demo/activities", json=ok)
        rejected = await http.post("/tenants/demo/activities", json=deep)
    assert accepted.status_code == 200, accepted.text
    assert rejected.status_code == 400
    assert rejected.json()["error"] == {
        "code": "json_too_deep",
        "message": "activity nests deeper than 5 levels",
    }


async def test_body_over_the_cap_is_413(host: RunnerHost) -> None:
    app = build_app(host, limits=Limits(max_body_bytes=64))
    big = {"payload": {"text": "x" * 100}}
    async with client(app) as http:
        declared = await http.post("/tenants/demo/activities", json=big)
        small = await http.post("/tenants/demo/activities", json={"payload": {"text": "hi"}})
    assert declared.status_code == 413
    assert declared.json()["error"] == {
        "code": "payload_too_large",
        "message": "request body exceeds 64 bytes",
    }
    assert small.status_code == 200


async def test_declared_length_over_the_cap_is_413_before_reading(host: RunnerHost) -> None:
    app = build_app(host, limits=Limits(max_body_bytes=64))
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/webchat/activities",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"65")],
        "client": ("127.0.0.1", 1),
    }
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        raise AssertionError("the body was read although its declared length is over the cap")

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    assert sent[0]["status"] == 413
    assert b"request body exceeds 64 bytes" in sent[1]["body"]  # type: ignore[operator]


async def test_streamed_body_without_length_is_cut_at_the_cap(host: RunnerHost) -> None:
    app = build_app(host, limits=Limits(max_body_bytes=64))
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            sent.append(1)
            yield b"x" * 16

    async with client(app) as http:
        response = await http.post("/tenants/demo/activities", content=chunks())
    assert response.status_code == 413
    assert len(sent) < 10  # the server stopped reading soon after the cap


async def test_a_body_in_several_chunks_is_read_whole(host: RunnerHost) -> None:
    body = b'{"payload": {"text": "hi"}, "user_id": "chunky"}'

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 7):
            yield body[start : start + 7]

    async with client(build_app(host)) as http:
        response = await http.post("/tenants/demo/activities", content=chunks())
    assert response.status_code == 200, response.text


async def test_turn_timeout_is_503_and_counted(host: RunnerHost) -> None:
    never = asyncio.Event()

    async def stuck(tenant: str, activity: Activity) -> list[Activity]:
        await never.wait()
        return []

    host.handle_activity = stuck  # type: ignore[method-assign]
    response, metrics = await turn_and_metrics(host, turn_timeout_secs=0.01)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "turn_timeout"
    assert "did not finish within 0.01s" in response.json()["error"]["message"]
    assert turns_counted("timeout") in metrics


async def test_a_timeout_inside_the_turn_is_not_the_turn_timeout(host: RunnerHost) -> None:
    """Only the turn deadline answers turn_timeout; a TimeoutError of the turn's own (a
    client library's, say) is an internal error, counted as one."""
    fail_with(host, TimeoutError("upstream call timed out"))
    response, metrics = await turn_and_metrics(host, turn_timeout_secs=5)
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "upstream call timed out" not in response.text
    assert turns_counted("error") in metrics


async def turn_and_metrics(host: RunnerHost, turn_timeout_secs: float) -> tuple[Response, str]:
    """One API turn under ``turn_timeout_secs``, then the /metrics text."""
    app = build_app(host, limits=Limits(turn_timeout_secs=turn_timeout_secs))
    async with client(app) as http:
        response = await http.post("/tenants/demo/activities", json=HELLO)
        return response, (await http.get("/metrics")).text


def turns_counted(outcome: str) -> str:
    labels = f'channel="api",flow="chat",outcome="{outcome}",tenant="demo"'
    return f"greentic_turns_total{{{labels}}} 1.0"
