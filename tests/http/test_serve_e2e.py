"""End to end: ``greentic-runner serve`` in a subprocess, conversing over real HTTP."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from tests.http.harness import payload
from tests.http.serving import BIN, EXAMPLES, clean_env, serve

pytestmark = pytest.mark.slow

ONBOARDING = EXAMPLES / "onboarding"


def say(http: httpx.Client, text: str, user: str = "e2e") -> list[str]:
    response = http.post(
        "/tenants/demo/activities",
        json={"payload": {"text": text}, "user_id": user, "conversation_id": "c"},
    )
    assert response.status_code == 200, response.text
    messages = []
    for activity in response.json()["activities"]:
        body = activity["payload"]
        body = body.get("response", body) if isinstance(body, dict) else body
        for item in body if isinstance(body, list) else [body]:
            messages.append(item["text"])
    return messages


def test_serve_converses_over_http_and_stops_on_sigterm(tmp_path: Path) -> None:
    store = f"sqlite:{tmp_path / 'runner.db'}"
    with serve(["--pack", str(ONBOARDING), "--store", store], cwd=tmp_path) as served:
        with httpx.Client(base_url=served.url, timeout=30) as http:
            assert say(http, "hi") == [
                "Welcome to Greentic! Let's set up your workspace.",
                "What is your name?",
            ]
            assert say(http, "Ada") == ["Which plan would you like: free or pro?"]
            assert say(http, "pro") == ["How many seats do you need?"]
            assert say(http, "3") == [
                "Preparing a pro workspace for Ada with 3 seats. Enjoy Greentic!"
            ]
            telegram = http.post("/messaging/telegram/webhook", json=payload("telegram_message"))
            assert telegram.json()["method"] == "sendMessage"
            assert "What is your name?" in telegram.json()["text"]
            chat = http.get("/chat")
            assert chat.status_code == 200 and "greentic-runner chat" in chat.text
            tenants = http.get("/tenants").json()["tenants"]
            assert [t["tenant"] for t in tenants] == ["demo"]
            status = http.get("/admin/packs/status")  # loopback peer, no token: allowed
            assert status.json()["tenants"][0]["pack_id"] == "examples.onboarding"
            metrics = http.get("/metrics").text
            assert (
                'greentic_turns_total{channel="api",flow="onboarding",outcome="done",tenant="demo"} 1.0'
                in metrics
            )
        code, err = served.stop()
    assert code == 0, err
    assert f"serving demo on {served.url}" in err
    assert "Traceback" not in err


def test_paused_conversation_survives_a_restart_on_sqlite(tmp_path: Path) -> None:
    args = ["--pack", str(ONBOARDING), "--store", f"sqlite:{tmp_path / 'runner.db'}"]
    with serve(args, cwd=tmp_path) as served, httpx.Client(base_url=served.url, timeout=30) as http:
        say(http, "hi")
        assert say(http, "Ada") == ["Which plan would you like: free or pro?"]
    with serve(args, cwd=tmp_path) as served, httpx.Client(base_url=served.url, timeout=30) as http:
        assert say(http, "free") == ["How many seats do you need?"]


def test_admin_token_from_the_environment(tmp_path: Path) -> None:
    env = clean_env(ADMIN_TOKEN="  e2e-token ")
    args = ["--pack", str(ONBOARDING), "--store", "memory"]
    with (
        serve(args, cwd=tmp_path, env=env) as served,
        httpx.Client(base_url=served.url, timeout=30) as http,
    ):
        denied = http.post("/admin/packs/reload")
        reloaded = http.post("/admin/packs/reload", headers={"authorization": "Bearer e2e-token"})
    assert denied.status_code == 401 and denied.json() == {"error": "admin token required"}
    assert reloaded.status_code == 202 and reloaded.json() == {"status": "reload requested"}


def test_startup_errors_are_one_line_and_exit_1(tmp_path: Path) -> None:
    import subprocess

    missing = subprocess.run(
        [str(BIN), "serve", "--pack", str(tmp_path / "nope"), "--store", "memory"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    nothing = subprocess.run(
        [str(BIN), "serve"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: failed to load tenant demo"), missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    assert "Traceback" not in missing.stderr
    assert nothing.returncode == 1
    assert nothing.stderr.strip() == (
        "error: nothing to serve: pass --pack [TENANT=]PATH or a --config file with `tenants`"
    )


def test_two_workers_share_conversations_through_sqlite(tmp_path: Path) -> None:
    args = ["--pack", str(ONBOARDING), "--store", f"sqlite:{tmp_path / 'runner.db'}"]
    with (
        serve([*args, "--workers", "2"], cwd=tmp_path) as served,
        # a new connection per request, so the kernel spreads them over both workers
        httpx.Client(
            base_url=served.url, timeout=30, limits=httpx.Limits(max_keepalive_connections=0)
        ) as http,
    ):
        for user in ("w1", "w2", "w3"):
            say(http, "hi", user)
        for user in ("w1", "w2", "w3"):
            assert say(http, "Ada", user) == ["Which plan would you like: free or pro?"]
        code, err = served.stop()
    assert code == 0, err
