"""Every example, built into a signed .gtpack, verifies strictly and answers like its directory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parents[1]
EXAMPLES = ["hello", "onboarding", "mocked-component"]
CLI = [sys.executable, "-m", "greentic_runner.cli"]
TURNS = {
    "hello": ["hi"],
    "onboarding": ["hi", "Ada", "free", "2"],
    "mocked-component": ["hi", "Paris"],
}

pytestmark = pytest.mark.slow


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def signing_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    keys = tmp_path_factory.mktemp("keys")
    result = cli("pack", "keygen", "-o", str(keys), "--cn", "examples-ci", cwd=keys)
    assert result.returncode == 0, result.stderr
    return next(keys.glob("*key*.pem"))


def conversation(pack: Path, name: str, cwd: Path) -> list[list[dict[str, Any]]]:
    store = f"sqlite:{cwd / (pack.name + '.db')}"
    bindings = ROOT / "examples" / name / "bindings.yaml"
    extra = ["--bindings", str(bindings)] if bindings.exists() else []
    turns = []
    for text in TURNS[name]:
        result = cli("run", str(pack), "--store", store, *extra, "--text", text, cwd=cwd)
        assert result.returncode == 0, result.stderr
        turns.append([json.loads(line) for line in result.stdout.splitlines()])
    return turns


def messages(turns: list[list[dict[str, Any]]]) -> list[list[Any]]:
    """What the user sees per turn: a pending reply's messages, else the payload."""
    return [[r["payload"].get("response", r["payload"]) for r in turn] for turn in turns]


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_builds_signs_verifies_and_runs_the_same(
    name: str, signing_key: Path, tmp_path: Path
) -> None:
    archive = tmp_path / f"{name}.gtpack"
    built = cli(
        "pack",
        "build",
        str(ROOT / "examples" / name),
        "-o",
        str(archive),
        "--sign",
        str(signing_key),
        cwd=tmp_path,
    )
    assert built.returncode == 0, built.stderr
    verified = cli("pack", "verify", str(archive), "--strict", cwd=tmp_path)
    assert verified.returncode == 0, verified.stderr
    assert len(verified.stdout.strip().splitlines()) == 1
    from_dir = conversation(ROOT / "examples" / name, name, tmp_path)
    from_archive = conversation(archive, name, tmp_path)

    assert messages(from_archive) == messages(from_dir)
    assert len(from_dir) == len(TURNS[name])


def test_tampered_archive_fails_strict_verification(signing_key: Path, tmp_path: Path) -> None:
    archive = tmp_path / "hello.gtpack"
    assert (
        cli(
            "pack",
            "build",
            str(ROOT / "examples" / "hello"),
            "-o",
            str(archive),
            "--sign",
            str(signing_key),
            cwd=tmp_path,
        ).returncode
        == 0
    )
    data = bytearray(archive.read_bytes())
    index = data.find(b"Hello from greentic-runner")
    assert index > 0
    data[index] = ord("J")
    archive.write_bytes(bytes(data))
    result = cli("pack", "verify", str(archive), "--strict", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("error: ")
    refused = cli("run", str(archive), "--store", "memory", "--text", "hi", cwd=tmp_path)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
