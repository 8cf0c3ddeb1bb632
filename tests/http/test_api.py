"""The activities API over the chatbot test pack (real loader, engine and memory stores)."""

from __future__ import annotations

from typing import Any

from tests.http.harness import build_app, client

from greentic_runner.host import RunnerHost


def message(text: str, **fields: Any) -> dict[str, Any]:
    return {
        "kind": {"kind": "message"},
        "flow_type": "messaging",
        "user_id": "u1",
        "conversation_id": "c1",
        "payload": {"text": text},
        **fields,
    }


def reply_payloads(body: dict[str, Any]) -> list[Any]:
    assert set(body) == {"activities"}
    for activity in body["activities"]:
        assert activity["kind"] == {"kind": "custom", "action": "response"}
        assert activity["tenant"] == "demo"
    return [a["payload"] for a in body["activities"]]


async def test_multi_turn_conversation_waits_then_completes(host: RunnerHost) -> None:
    async with client(build_app(host)) as http:
        first = await http.post("/tenants/demo/activities", json=message("hi"))
        assert first.status_code == 200
        [pending] = reply_payloads(first.json())
        assert pending["status"] == "pending"
        assert pending["response"] == [
            {"text": "Hello! I am the test bot."},
            {"text": "What is your name?"},
        ]
        second = await http.post("/tenants/demo/activities", json=message("Ada"))
        [pending] = reply_payloads(second.json())
        assert pending["response"] == [{"text": "Pick a color", "options": ["red", "blue"]}]
        third = await http.post("/tenants/demo/activities", json=message("blue"))
        assert reply_payloads(third.json()) == [{"text": "Thanks Ada, blue it is."}]


async def test_conversations_of_different_users_are_independent(host: RunnerHost) -> None:
    async with client(build_app(host)) as http:
        await http.post("/tenants/demo/activities", json=message("hi", user_id="a"))
        await http.post("/tenants/demo/activities", json=message("Ada", user_id="a"))
        other = await http.post("/tenants/demo/activities", json=message("hi", user_id="b"))
        [pending] = reply_payloads(other.json())
        assert pending["response"][-1] == {"text": "What is your name?"}


async def test_body_tenant_must_match_the_path(host: RunnerHost) -> None:
    async with client(build_app(host)) as http:
        response = await http.post("/tenants/demo/activities", json=message("hi", tenant="other"))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_activity"
    assert "does not match tenant `demo`" in response.json()["error"]["message"]


async def test_invalid_activity_is_422_naming_the_field(host: RunnerHost) -> None:
    async with client(build_app(host)) as http:
        bad_kind = await http.post("/tenants/demo/activities", json={"kind": {"kind": "poke"}})
        bad_field = await http.post("/tenants/demo/activities", json={"user_id": 7})
        not_object = await http.post("/tenants/demo/activities", json=[1, 2])
    assert bad_kind.status_code == 422
    assert "unknown activity kind 'poke'" in bad_kind.json()["error"]["message"]
    assert bad_field.status_code == 422
    assert "`user_id` must be a string" in bad_field.json()["error"]["message"]
    assert not_object.status_code == 422


async def test_unknown_tenant_and_flow_are_404(host: RunnerHost) -> None:
    async with client(build_app(host)) as http:
        tenant = await http.post("/tenants/nobody/activities", json=message("hi"))
        flow = await http.post("/tenants/demo/activities", json=message("hi", flow_id="nope"))
        bad_id = await http.post("/tenants/no%20pe/activities", json=message("hi"))
    assert tenant.status_code == 404
    assert tenant.json() == {
        "error": {"code": "unknown_tenant", "message": "tenant nobody not loaded"}
    }
    assert flow.status_code == 404
    assert flow.json()["error"] == {
        "code": "routing_error",
        "message": "flow nope is ambiguous; pack_id is required",
    }
    assert bad_id.status_code == 404


async def test_tenants_lists_packs_and_flows(host: RunnerHost) -> None:
    async with client(build_app(host)) as http:
        body = (await http.get("/tenants")).json()
    [tenant] = body["tenants"]
    assert tenant["tenant"] == "demo"
    [pack] = tenant["packs"]
    assert pack["pack_id"] == "tests.http.chatbot"
    assert pack["role"] == "main"
    assert {(f["id"], f["type"]) for f in pack["flows"]} == {
        ("chat", "messaging"),
        ("hook", "webhook"),
    }


async def test_openapi_names_exactly_the_served_routes(host: RunnerHost) -> None:
    app = build_app(host)
    async with client(app) as http:
        document = (await http.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.")
    served: dict[str, set[str]] = {}
    for route in app.routes:
        methods = getattr(route, "methods", None) or set()
        served.setdefault(route.path, set()).update(m.lower() for m in methods)
    documented = {path: set(ops) for path, ops in document["paths"].items()}
    assert set(documented) == set(served)
    for path, methods in served.items():
        assert methods <= documented[path] | {"head"}, path
