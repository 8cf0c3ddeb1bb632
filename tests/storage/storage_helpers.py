"""Helpers for the storage tests: a fake clock, a private redis-server, sample data."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from greentic_runner.storage.session import SessionCursor, SessionData
from greentic_runner.tenancy import ReplyScope, TenantCtx


@dataclass
class FakeClock:
    """A clock that only moves when told to."""

    current: float = 1_700_000_000.0

    def now(self) -> float:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += seconds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RedisServer:
    """A private ``redis-server`` on a free port in its own directory (never port 6379)."""

    workdir: Path
    port: int = field(default_factory=free_port)
    persistent: bool = False
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed; run `make unit` to install it")
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--dir", str(self.workdir), "--daemonize", "no"]
        args += ["--appendonly", "yes" if self.persistent else "no"]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    client.ping()
                    return
                except redis.ConnectionError as exc:
                    if self.process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(
                            f"redis-server on port {self.port} did not start"
                        ) from exc
                    time.sleep(0.02)
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


ENV = "dev"


def ctx(tenant: str = "acme", team: str | None = None, user: str | None = None) -> TenantCtx:
    return TenantCtx(env=ENV, tenant=tenant, team=team, user=user)


def data(
    tenant: str = "acme",
    team: str | None = None,
    user: str | None = "u1",
    node: str = "n1",
    context: str = "{}",
) -> SessionData:
    return SessionData(
        tenant_ctx=ctx(tenant, team, user),
        flow_id="flow",
        pack_id="pack",
        cursor=SessionCursor(node_pointer=node, wait_reason="waiting"),
        context_json=context,
    )


def scope(conversation: str = "c1", thread: str | None = None) -> ReplyScope:
    return ReplyScope(conversation=conversation, thread=thread)
