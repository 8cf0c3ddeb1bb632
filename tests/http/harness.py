"""Helpers for the HTTP tests: a host on the chatbot test pack, apps, clients, payloads."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette

from greentic_runner.activity import Activity
from greentic_runner.config import HostConfig
from greentic_runner.host import HostBuilder, RunnerHost
from greentic_runner.http import ChannelSecrets, HttpSettings, Limits, TenantRouting, create_app
from greentic_runner.http.metrics import Metrics
from greentic_runner.reload import PackSource
from greentic_runner.testing import FakeClock

FIXTURES = Path(__file__).parent / "fixtures"
CHATBOT = FIXTURES / "packs" / "chatbot"
PAYLOADS = FIXTURES / "payloads"
NOW = 1_764_160_100.0


def payload(name: str) -> Any:
    return json.loads((PAYLOADS / f"{name}.json").read_text())


async def chatbot_host(*configs: HostConfig) -> RunnerHost:
    """A started host (memory stores) with the chatbot pack loaded for each tenant."""
    builder = HostBuilder()
    for config in configs or (HostConfig(tenant="demo"),):
        builder.with_config(config)
    host = builder.build()
    await host.start()
    for tenant in host.configs:
        await host.load_pack(tenant, CHATBOT)
    return host


def build_app(
    host: RunnerHost,
    *,
    secrets: ChannelSecrets | None = None,
    admin_token: str | None = None,
    limits: Limits | None = None,
    routing: TenantRouting | None = None,
    clock: FakeClock | None = None,
    reload_source: PackSource | None = None,
    metrics: Metrics | None = None,
) -> Starlette:
    settings = HttpSettings(
        limits=limits or Limits(),
        routing=routing or TenantRouting(),
        admin_token=admin_token,
        secrets=secrets or ChannelSecrets(),
    )
    return create_app(
        host,
        settings,
        clock=clock or FakeClock(NOW),
        reload_source=reload_source,
        metrics=metrics,
    )


def client(
    app: Starlette, peer: tuple[str, int] | None = ("127.0.0.1", 50000)
) -> httpx.AsyncClient:
    """An in-process client; ``peer`` is the connecting address the app sees (None: none)."""
    transport = httpx.ASGITransport(app=app, client=peer)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


class TurnSpy:
    """Records every activity the host is asked to run (the HTTP layer's collaborator)."""

    def __init__(self, host: RunnerHost) -> None:
        self.calls: list[tuple[str, Activity]] = []
        original = host.handle_activity

        async def spy(tenant: str, activity: Activity) -> list[Activity]:
            self.calls.append((tenant, activity))
            return await original(tenant, activity)

        host.handle_activity = spy  # type: ignore[method-assign]


def slack_headers(body: bytes, secret: str, timestamp: int) -> dict[str, str]:
    base = b"v0:" + str(timestamp).encode() + b":" + body
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"x-slack-request-timestamp": str(timestamp), "x-slack-signature": signature}


def hex_hmac(secret: str, body: bytes, digest: Callable[..., Any] = hashlib.sha256) -> str:
    return hmac.new(secret.encode(), body, digest).hexdigest()


def texts(messages: list[dict[str, Any]], key: str = "text") -> list[str]:
    return [m[key] for m in messages if key in m]
