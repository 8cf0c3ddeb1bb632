"""Admin auth (spec §9.2) and endpoints (spec §9.3), with the reference's exact bodies."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.http.harness import CHATBOT, build_app, client

from greentic_runner.host import RunnerHost
from greentic_runner.packs.build import build_pack
from greentic_runner.reload import StaticPackSource
from greentic_runner.runtime_loader import PackRef

TOKEN_REQUIRED = {"error": "admin token required"}


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong", "bearer s3cret", "Bearers3cret", "Basic s3cret", "Bearer s3cret-x"],
    ids=["missing", "wrong", "lowercase-scheme", "no-space", "basic", "longer"],
)
async def test_token_set_rejects_missing_or_bad_bearer(
    host: RunnerHost, authorization: str | None
) -> None:
    headers = {"authorization": authorization} if authorization else {}
    async with client(build_app(host, admin_token="s3cret")) as http:
        response = await http.get("/admin/packs/status", headers=headers)
    assert response.status_code == 401
    assert response.json() == TOKEN_REQUIRED


async def test_token_set_accepts_the_trimmed_bearer_from_any_peer(host: RunnerHost) -> None:
    app = build_app(host, admin_token="s3cret")
    async with client(app, peer=("203.0.113.9", 4000)) as http:
        response = await http.get(
            "/admin/packs/status", headers={"authorization": "Bearer  s3cret  "}
        )
    assert response.status_code == 200


@pytest.mark.parametrize("peer", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
async def test_without_token_loopback_peers_pass(host: RunnerHost, peer: str) -> None:
    async with client(build_app(host), peer=(peer, 1234)) as http:
        response = await http.get("/admin/packs/status")
    assert response.status_code == 200


@pytest.mark.parametrize("peer", ["10.0.0.5", "192.168.1.2", "2001:db8::1", "testclient"])
async def test_without_token_other_peers_are_forbidden(host: RunnerHost, peer: str) -> None:
    async with client(build_app(host), peer=(peer, 1234)) as http:
        responses = [
            await http.get("/admin/packs/status"),
            await http.post("/admin/packs/reload"),
            await http.post("/admin/packs/load", json={}),
        ]
    for response in responses:
        assert response.status_code == 403
        assert response.json() == {"error": "admin access restricted"}


async def test_missing_peer_info_is_500(host: RunnerHost) -> None:
    async with client(build_app(host, admin_token="s3cret"), peer=None) as http:
        response = await http.get("/admin/packs/status", headers={"authorization": "Bearer s3cret"})
    assert response.status_code == 500
    assert response.json() == {"error": "connect info unavailable"}


async def test_status_lists_runtimes_and_reload_state(host: RunnerHost) -> None:
    async with client(build_app(host)) as http:
        body = (await http.get("/admin/packs/status")).json()
    assert body == {
        "tenants": [
            {
                "tenant": "demo",
                "pack_id": "tests.http.chatbot",
                "version": "0.1.0",
                "digest": None,
                "overlays": [],
            }
        ],
        "active": 1,
        "last_reload": None,
        "last_error": None,
    }


async def test_reload_without_a_source_is_501(host: RunnerHost) -> None:
    async with client(build_app(host)) as http:
        response = await http.post("/admin/packs/reload")
    assert response.status_code == 501
    assert response.json() == {"error": "reload handle unavailable"}


async def test_reload_swaps_runtimes_and_records_it(host: RunnerHost) -> None:
    before = host.active.load_pack("demo")
    source = StaticPackSource({"demo": [PackRef(CHATBOT)]})
    async with client(build_app(host, reload_source=source)) as http:
        response = await http.post("/admin/packs/reload")
        status = (await http.get("/admin/packs/status")).json()
    assert response.status_code == 202
    assert response.json() == {"status": "reload requested"}
    assert host.active.load_pack("demo") is not before
    assert status["last_reload"] is not None and status["last_error"] is None


async def test_failed_reload_keeps_running_packs(host: RunnerHost, tmp_path: Path) -> None:
    before = host.active.load_pack("demo")
    source = StaticPackSource({"demo": [PackRef(tmp_path / "missing")]})
    async with client(build_app(host, reload_source=source)) as http:
        response = await http.post("/admin/packs/reload")
        health = (await http.get("/healthz")).json()
        turn = await http.post("/tenants/demo/activities", json={"payload": {"text": "hi"}})
    assert response.status_code == 500
    message = response.json()["error"]
    assert message.startswith("failed to load tenant demo: ")
    assert str(tmp_path / "missing") in message
    assert host.active.load_pack("demo") is before
    assert health["last_error"] == message
    assert turn.status_code == 200


async def test_load_replaces_a_tenants_pack(host: RunnerHost) -> None:
    before = host.active.load_pack("demo")
    async with client(build_app(host)) as http:
        response = await http.post(
            "/admin/packs/load", json={"tenant": "demo", "path": str(CHATBOT)}
        )
    assert response.status_code == 200
    assert response.json()["status"] == "loaded"
    assert response.json()["pack_id"] == "tests.http.chatbot"
    assert host.active.load_pack("demo") is not before


async def test_load_pinned_revision(host: RunnerHost, tmp_path: Path) -> None:
    built = build_pack(CHATBOT, tmp_path / "chatbot.gtpack")
    body = {
        "tenant": "demo",
        "deployment_id": "d1",
        "bundle_id": "b1",
        "revision_id": "r1",
        "packs": [{"path": str(built.path), "digest": built.digest}],
    }
    async with client(build_app(host)) as http:
        response = await http.post("/admin/packs/load", json=body)
        status = (await http.get("/admin/packs/status")).json()
        wrong = await http.post(
            "/admin/packs/load",
            json={**body, "packs": [{"path": str(built.path), "digest": "sha256:" + "0" * 64}]},
        )
    assert response.status_code == 200, response.text
    assert response.json()["revision_id"] == "r1"
    assert response.json()["digest"] == built.digest
    assert host.active.load_revision("demo", "d1", "b1", "r1") is not None
    assert [t.get("revision_id") for t in status["tenants"]] == [None, "r1"]
    assert wrong.status_code == 422
    assert "does not match pinned digest" in wrong.json()["error"]


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ([], 400, "must be a JSON object"),
        ({"path": "x"}, 400, "field `tenant`"),
        ({"tenant": "demo"}, 400, "field `path`"),
        ({"tenant": "demo", "path": "x", "overlays": "y"}, 400, "`overlays`"),
        ({"tenant": "demo", "revision_id": "r"}, 400, "field `deployment_id`"),
        (
            {
                "tenant": "demo",
                "deployment_id": "d",
                "bundle_id": "b",
                "revision_id": "r",
                "packs": [{"path": "p"}],
            },
            400,
            "needs a `digest`",
        ),
        ({"tenant": "ghost", "path": "x"}, 404, "tenant ghost not registered"),
        ({"tenant": "demo", "path": "/nonexistent/pack"}, 422, "/nonexistent/pack"),
    ],
    ids=[
        "array",
        "no-tenant",
        "no-path",
        "bad-overlays",
        "partial-revision",
        "unpinned",
        "unknown-tenant",
        "missing-pack",
    ],
)
async def test_load_rejects_bad_requests(
    host: RunnerHost, body: object, status: int, fragment: str
) -> None:
    before = host.active.load_pack("demo")
    async with client(build_app(host)) as http:
        response = await http.post("/admin/packs/load", json=body)
    assert response.status_code == status
    assert fragment in response.json()["error"]
    assert host.active.load_pack("demo") is before
