"""Start ``greentic-runner serve`` as a real subprocess on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

EXAMPLES = Path(__file__).parents[2] / "examples"
BIN = Path(sys.executable).parent / "greentic-runner"
STARTUP_SECS = 60.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Served:
    process: subprocess.Popen[str]
    url: str

    def stop(self, timeout: float = 30.0) -> tuple[int, str]:
        """SIGTERM, wait; returns (exit code, stderr)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            _, err = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
        return self.process.returncode, err


def clean_env(**extra: str) -> dict[str, str]:
    drop = {"ADMIN_TOKEN", "TENANT_RESOLVER", "DEFAULT_TENANT", "PACK_INDEX_URL"}
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in drop and not k.startswith("GREENTIC_RUNNER_")
    }
    return {**env, **extra}


@contextmanager
def serve(args: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> Iterator[Served]:
    """Run ``greentic-runner serve ARGS --port <free>`` until /healthz answers."""
    port = free_port()
    process = subprocess.Popen(
        [str(BIN), "serve", *args, "--host", "127.0.0.1", "--port", str(port)],
        cwd=cwd,
        env=env or clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    served = Served(process, f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + STARTUP_SECS
        while True:
            if process.poll() is not None:
                raise AssertionError(f"serve exited early: {process.communicate()[1]}")
            try:
                if httpx.get(served.url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("serve did not answer /healthz in time")
            time.sleep(0.05)  # a real process: nothing to inject, so poll
        yield served
    finally:
        served.stop()
