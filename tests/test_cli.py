"""The CLI as a user runs it: real processes, real stores, stdout/stderr and exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.storage.storage_helpers import RedisServer

ROOT = Path(__file__).parents[1]
ONBOARDING = str(ROOT / "examples" / "onboarding")
HELLO = str(ROOT / "examples" / "hello")
CLI = [sys.executable, "-m", "greentic_runner.cli"]

pytestmark = pytest.mark.slow


# Redis stores need a keyspace; the reference refuses to guess one (docs/storage.md).
ENV = {**os.environ, "GREENTIC_RUNNER_SESSION_NAMESPACE": "greentic:session:cli-tests"}


def cli(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], cwd=cwd, input=stdin, capture_output=True, text=True, timeout=120, env=ENV
    )


def replies(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def texts(result: subprocess.CompletedProcess[str]) -> list[str]:
    out: list[str] = []
    for reply in replies(result):
        payload = reply["payload"]
        items = payload["response"] if payload.get("status") == "pending" else [payload]
        out += [item["text"] for item in items if isinstance(item, dict) and "text" in item]
    return out


def test_run_hello_prints_the_greeting_as_a_json_line(tmp_path: Path) -> None:
    result = cli("run", HELLO, "--text", "hi", cwd=tmp_path)
    assert replies(result) == [
        {
            "kind": {"kind": "custom", "action": "response"},
            "tenant": "demo",
            "payload": {"text": "Hello from greentic-runner! You said: hi"},
        }
    ]
    assert (tmp_path / ".greentic" / "runner.db").is_file()  # durable by default


def _store_url(store: str, sqlite_path: Path, request: pytest.FixtureRequest) -> str:
    """A store URL for the parametrized backend (Redis: the session's private server)."""
    if store == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        return f"redis://127.0.0.1:{server.port}/0"
    return f"sqlite:{sqlite_path}"


@pytest.mark.parametrize("store", ["sqlite", "redis"])
def test_onboarding_converses_across_run_invocations(
    tmp_path: Path, store: str, request: pytest.FixtureRequest
) -> None:
    url = _store_url(store, tmp_path / "conv.db", request)
    conversation = f"cli-{store}"

    def say(text: str) -> list[str]:
        return texts(
            cli(
                "run",
                ONBOARDING,
                "--store",
                url,
                "--conversation",
                conversation,
                "--text",
                text,
                cwd=tmp_path,
            )
        )

    assert say("hi") == ["Welcome to Greentic! Let's set up your workspace.", "What is your name?"]
    assert say("Ada Lovelace King Of Math") == [
        "Please answer in at most 3 words.",
        "What is your name?",
    ]
    assert say("Ada")[0].startswith("Which plan would you like: free or pro?")
    assert say("pro") == ["How many seats do you need?"]
    assert say("3") == ["Preparing a pro workspace for Ada with 3 seats. Enjoy Greentic!"]


def test_memory_store_keeps_nothing_between_runs(tmp_path: Path) -> None:
    first = texts(cli("run", ONBOARDING, "--store", "memory", "--text", "hi", cwd=tmp_path))
    again = texts(cli("run", ONBOARDING, "--store", "memory", "--text", "Ada", cwd=tmp_path))
    assert first == again  # the second run starts over: the welcome again
    assert not (tmp_path / ".greentic").exists()


def test_activity_json_from_stdin(tmp_path: Path) -> None:
    activity = {"kind": {"kind": "message"}, "payload": {"text": "from stdin"}}
    result = cli(
        "run",
        HELLO,
        "--store",
        "memory",
        "--activity",
        "-",
        cwd=tmp_path,
        stdin=json.dumps(activity),
    )
    assert texts(result) == ["Hello from greentic-runner! You said: from stdin"]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["run", "does-not-exist", "--text", "x"], "pack path does-not-exist does not exist"),
        (["run", HELLO, "--store", "bogus://x", "--text", "x"], "bogus"),
        (["run", HELLO, "--store", "memory", "--activity", "-"], "activity is not valid JSON"),
        (
            ["run", HELLO, "--store", "memory", "--flow", "nope", "--text", "x"],
            "flow nope is ambiguous",
        ),
    ],
)
def test_errors_are_one_line_without_traceback(
    tmp_path: Path, args: list[str], fragment: str
) -> None:
    result = cli(*args, cwd=tmp_path, stdin="{not json")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    result = cli("run", HELLO, "--text", "a", "--activity", "-", cwd=tmp_path)
    assert result.returncode == 2
    assert "not allowed with argument" in result.stderr


def test_chat_through_a_pipe(tmp_path: Path) -> None:
    session = "hi\nAda\nfree\n2\n/reset\nhi\n/quit\n"
    result = cli("chat", ONBOARDING, "--store", "memory", cwd=tmp_path, stdin=session)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "bot> What is your name?" in lines[1] or "bot> What is your name?" in result.stdout
    assert "bot> Your free workspace is ready, Ada. Enjoy Greentic!" in result.stdout
    assert result.stdout.count("(waiting for your answer)") == 4
    assert "(done)" in result.stdout
    assert "(new conversation)" in result.stdout
    after_reset = result.stdout.split("(new conversation)")[1]
    assert "Welcome to Greentic!" in after_reset


@pytest.mark.parametrize("store", ["sqlite", "redis"])
def test_a_paused_conversation_survives_a_killed_process(
    tmp_path: Path, store: str, request: pytest.FixtureRequest
) -> None:
    url = _store_url(store, tmp_path / "kill.db", request)
    conversation = f"kill-{store}"
    with subprocess.Popen(
        [*CLI, "chat", ONBOARDING, "--store", url, "--conversation", conversation],
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**ENV, "PYTHONUNBUFFERED": "1"},
    ) as chat:
        assert chat.stdin is not None and chat.stdout is not None
        chat.stdin.write("hi\n")
        chat.stdin.flush()
        while "(waiting for your answer)" not in chat.stdout.readline():
            assert chat.poll() is None, "chat exited early"
        chat.send_signal(signal.SIGKILL)
        chat.wait(timeout=30)
    result = cli(
        "run",
        ONBOARDING,
        "--store",
        url,
        "--conversation",
        conversation,
        "--text",
        "Ada",
        cwd=tmp_path,
    )
    assert texts(result)[0].startswith("Which plan would you like")
