"""Example packs with real components: built from source like `make examples`, then run.

The echo-component example is built through tools/build_components.py (the code path of
`make examples`), run through the CLI (`run`, `chat`) and the host API, and its README's
console blocks are checked against what the commands really print.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.components.conftest import _builder

from greentic_runner.activity import Activity
from greentic_runner.config import HostConfig
from greentic_runner.host import HostBuilder
from greentic_runner.replies import reply_texts

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "echo-component"
CLI = [sys.executable, "-m", "greentic_runner.cli"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def builder() -> Any:
    return _builder()


@pytest.fixture(scope="module")
def echo_wasm(builder: Any) -> Path:
    """Build the example's component exactly as `make examples` does."""
    built = builder.build_examples(["echo-component"])
    assert list(built) == ["echo-component/echo"]
    path: Path = built["echo-component/echo"]
    return path


def cli(*args: str, cwd: Path, cache: Path, stdin: str | None = None) -> Any:
    env = {**os.environ, "GREENTIC_RUNNER_CACHE_DIR": str(cache)}
    return subprocess.run(
        [*CLI, *args], cwd=cwd, input=stdin, capture_output=True, text=True, timeout=120, env=env
    )


def readme_blocks(command: str) -> list[list[str]]:
    """The README console blocks that start with ``command``: the lines after it, each."""
    readme = (EXAMPLE / "README.md").read_text()
    blocks = [b.splitlines() for b in re.findall(r"```console\n(.*?)```", readme, re.DOTALL)]
    found = [lines[1:] for lines in blocks if lines[0] == command]
    assert found, f"README.md has no console block starting with {command!r}"
    return found


RUN = "$ greentic-runner run examples/echo-component --text hi --store memory"


# -- the build ----------------------------------------------------------------------------


def test_the_component_lands_in_the_packs_ignored_components_folder(echo_wasm: Path) -> None:
    assert echo_wasm == EXAMPLE / "components" / "echo.wasm"
    assert echo_wasm.read_bytes()[:8] == b"\0asm\x0d\x00\x01\x00"  # a component, not a module
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str(echo_wasm)], cwd=ROOT, check=False
    ).returncode
    assert ignored == 0, "examples/*/components/ must be git-ignored"


def test_a_second_build_reuses_the_cached_one(builder: Any, echo_wasm: Path) -> None:
    before = echo_wasm.stat().st_mtime_ns
    assert builder.build_examples(["echo-component"]) == {"echo-component/echo": echo_wasm}
    assert echo_wasm.stat().st_mtime_ns == before  # identical bytes are not rewritten


def test_a_source_change_rebuilds_and_replaces_the_component(
    builder: Any, echo_wasm: Path, tmp_path: Path
) -> None:
    examples = tmp_path / "examples"
    shutil.copytree(
        EXAMPLE, examples / "echo-component", ignore=shutil.ignore_patterns("components")
    )
    cache = tmp_path / "cache"
    first = builder.build_examples(root=examples, cache_dir=cache)["echo-component/echo"]
    assert first.read_bytes() == echo_wasm.read_bytes()
    wat = examples / "echo-component" / "src" / "echo" / "echo.wat"
    # A second exported memory-size helper changes the component's bytes.
    wat.write_text(
        wat.read_text().replace(
            '(memory (export "memory") 1)',
            '(memory (export "memory") 1)\n  (func (export "pages") (result i32) memory.size)',
        )
    )
    second = builder.build_examples(root=examples, cache_dir=cache)["echo-component/echo"]
    assert second == first
    assert second.read_bytes() != echo_wasm.read_bytes()
    assert len(list((cache / "echo-component" / "echo").glob("*.wasm"))) == 2


def test_a_world_file_must_name_one_world(builder: Any, tmp_path: Path) -> None:
    source = tmp_path / "examples" / "p" / "src" / "c"
    (source / "wit").mkdir(parents=True)
    (source / "wit" / "world.wit").write_text("package a:b;\nworld x {}\nworld y {}\n")
    (component,) = builder.example_components(tmp_path / "examples")
    assert (component.pack, component.id, component.kind) == ("p", "c", "wat")
    with pytest.raises(RuntimeError, match=r"must define one world, found \['x', 'y'\]"):
        builder.build_examples(root=tmp_path / "examples", cache_dir=tmp_path / "cache")


# -- running it ---------------------------------------------------------------------------


def test_run_prints_what_the_readme_shows(echo_wasm: Path, tmp_path: Path) -> None:
    result = cli(
        "run", "examples/echo-component", "--text", "hi", "--store", "memory",
        cwd=ROOT, cache=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == readme_blocks(RUN)[0]
    assert (tmp_path / "components").is_dir()  # the compiled artifact was cached there


def test_chat_holds_the_readme_conversation(echo_wasm: Path, tmp_path: Path) -> None:
    (transcript,) = readme_blocks("$ greentic-runner chat examples/echo-component --store memory")
    typed = [line.removeprefix("you> ") for line in transcript if line.startswith("you> ")]
    result = cli(
        "chat", "examples/echo-component", "--store", "memory",
        cwd=ROOT, cache=tmp_path, stdin="".join(f"{line}\n" for line in typed),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # A terminal echoes what the user types after each prompt; a pipe does not.
    prompts = result.stdout.split("you> ")
    terminal = prompts[0] + "".join(
        f"you> {line}\n{rest}" for line, rest in zip(typed, prompts[1:], strict=True)
    )
    assert terminal.splitlines() == transcript


def test_without_the_built_component_the_readme_error_appears(tmp_path: Path) -> None:
    unbuilt = tmp_path / "examples" / "echo-component"
    shutil.copytree(EXAMPLE, unbuilt, ignore=shutil.ignore_patterns("components"))
    result = cli(
        "run", "examples/echo-component", "--text", "hi", "--store", "memory",
        cwd=tmp_path, cache=tmp_path / "cache",
    )  # fmt: skip
    assert result.returncode == 1
    _, failure = readme_blocks(RUN)
    assert failure[0].startswith("error: ")
    assert result.stderr.splitlines() == failure


async def test_the_host_api_runs_the_real_component(
    echo_wasm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GREENTIC_RUNNER_CACHE_DIR", str(tmp_path))
    async with HostBuilder().with_config(HostConfig(tenant="demo")).build() as host:
        await host.load_pack("demo", EXAMPLE)
        replies = await host.handle_activity("demo", Activity.text("olá, ünïcode ✓"))
    assert reply_texts(replies) == ["The echo component returned: olá, ünïcode ✓"]


# -- compile progress ------------------------------------------------------------------------


def test_the_cli_shows_compile_progress_on_a_terminal(echo_wasm: Path, tmp_path: Path) -> None:
    """A cache miss on a terminal prints a spinner and a 'compiled component' line on stderr;
    piped runs stay quiet (the other tests above compare their stderr)."""
    import pty

    master, slave = pty.openpty()
    env = {**os.environ, "GREENTIC_RUNNER_CACHE_DIR": str(tmp_path / "cache")}
    with subprocess.Popen(
        [*CLI, "run", str(EXAMPLE), "--text", "hi", "--store", "memory"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=slave,
        env=env,
    ) as process:
        os.close(slave)
        stdout, _ = process.communicate(timeout=120)
        chunks = []
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        os.close(master)
    assert process.returncode == 0
    import json

    reply = json.loads(stdout.splitlines()[0])  # the reply still goes to stdout as JSON
    assert reply["kind"] == {"kind": "custom", "action": "response"}
    assert b"compiled component" in b"".join(chunks)
