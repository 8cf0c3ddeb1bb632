"""What the scenarios need before anything is timed: built components, generated packs, a
private Redis server.

Components are built from the test sources by ``tools/build_components.py`` (cached under
``.build/``); the packs that hold them are copied from the templates in ``bench/packs/`` to
``.bench/packs/`` with the ``.wasm`` added, because built binaries are never committed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .common import ROOT

WORK = ROOT / ".bench"
TEMPLATES = ROOT / "bench" / "packs"


class PrepareError(RuntimeError):
    """A prerequisite is missing; the scenarios that need it are skipped with this reason."""


def build_component(name: str) -> Path:
    """Build (or reuse) the test component ``name``; its ``.wasm`` path."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "build_components.py"), name],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise PrepareError(f"building component {name} failed: {' / '.join(tail)}")
    for line in done.stdout.splitlines():
        built, _, path = line.partition("\t")
        if built == name:
            return Path(path)
    raise PrepareError(f"tools/build_components.py did not report component {name}")


def pack_with_component(template: str, component: str) -> Path:
    """``.bench/packs/<template>``: the template pack plus ``components/<component>.wasm``."""
    wasm = build_component(component)
    target = WORK / "packs" / template
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(TEMPLATES / template, target)
    (target / "components").mkdir(exist_ok=True)
    shutil.copyfile(wasm, target / "components" / f"{component}.wasm")
    return target


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def other_core(worker_core: int | None) -> set[int] | None:
    """The cores not used by the measured process (helpers such as Redis or wrk run there)."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    rest = set(os.sched_getaffinity(0)) - ({worker_core} if worker_core is not None else set())
    return rest or None


def pinned(cores: set[int] | None) -> Callable[[], None] | None:
    """A ``preexec_fn`` pinning the child to ``cores`` (or nothing when unsupported)."""
    if not cores or not hasattr(os, "sched_setaffinity"):
        return None

    def pin() -> None:
        os.sched_setaffinity(0, cores)

    return pin


@dataclass
class RedisServer:
    url: str
    process: subprocess.Popen[bytes]


@contextlib.contextmanager
def redis_server(cores: set[int] | None) -> Iterator[RedisServer]:
    """A private ``redis-server`` (no persistence) on a free loopback port."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise PrepareError("redis-server is not installed (make bench installs it)")
    port = free_port()
    workdir = WORK / "redis"
    workdir.mkdir(parents=True, exist_ok=True)
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    args += ["--appendonly", "no", "--dir", str(workdir)]
    process = subprocess.Popen(
        args,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=pinned(cores),
    )
    try:
        wait_for_port(port, process, "redis-server")
        yield RedisServer(f"redis://127.0.0.1:{port}/0", process)
    finally:
        stop(process)


def wait_for_port(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        if process.poll() is not None or time.monotonic() > deadline:
            raise PrepareError(f"{what} did not start listening on port {port}")
        time.sleep(0.05)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
