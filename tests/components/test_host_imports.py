"""Host imports seen from a real guest (caps06): policies, scoping and denials."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from greentic_runner.components.invoker import ComponentCall, ExecCtx
from greentic_runner.components.policy import ComponentPolicy, WasiPolicy
from greentic_runner.components.scope import HostServices
from greentic_runner.components.wasm import WasmInvoker
from greentic_runner.packs.pack import PackRuntime
from greentic_runner.storage.state import InMemoryStateStore
from greentic_runner.tenancy import TenantCtx

from .conftest import ARTIFACTS, TEST_LIMITS, PackFactory


@dataclass
class FakeSecrets:
    values: dict[str, str]
    asked: list[tuple[str, str, str]] = field(default_factory=list)

    async def get(self, ctx: TenantCtx, pack_id: str, key: str) -> str | None:
        self.asked.append((ctx.tenant, pack_id, key))
        return self.values.get(key)


class _Handler(BaseHTTPRequestHandler):
    seen: list[tuple[str, str | None]] = []  # noqa: RUF012

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("x-test")))
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "http://denied.invalid/elsewhere")
            self.end_headers()
            return
        body = b"hello from loopback"
        self.send_response(200 if self.path != "/missing" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def loopback() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Handler.seen = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _policy(**kwargs: Any) -> Any:
    return lambda ctx, pack: ComponentPolicy(**kwargs)


async def _call(
    services: HostServices, pack: PackRuntime, op: str, payload: Any, ctx: ExecCtx
) -> Any:
    async with WasmInvoker(services=services, limits=TEST_LIMITS, cache_dir=ARTIFACTS) as invoker:
        return await invoker.invoke(pack, ComponentCall("caps06", op, payload, ctx))


async def test_secret_inside_policy_is_read_for_the_calling_tenant_and_pack(
    make_pack: PackFactory, ctx: ExecCtx
) -> None:
    secrets = FakeSecrets({"API_TOKEN": "s3cret"})
    services = HostServices(
        secrets=secrets, policy_for=_policy(secrets_allowed={"API_TOKEN"}.__contains__)
    )
    out = await _call(services, make_pack("caps06"), "secret", {"key": "API_TOKEN"}, ctx)
    assert out == {"value": "s3cret"}
    assert secrets.asked == [("acme", "demo", "API_TOKEN")]


async def test_secret_outside_policy_is_denied_and_never_looked_up(
    make_pack: PackFactory, ctx: ExecCtx, caplog: pytest.LogCaptureFixture
) -> None:
    secrets = FakeSecrets({"DB_PASSWORD": "hunter2"})
    services = HostServices(
        secrets=secrets, policy_for=_policy(secrets_allowed={"API_TOKEN"}.__contains__)
    )
    with caplog.at_level(logging.WARNING):
        out = await _call(services, make_pack("caps06"), "secret", {"key": "DB_PASSWORD"}, ctx)
    assert out == {"error": "denied"}
    assert secrets.asked == []
    assert (
        "secret DB_PASSWORD denied by policy (tenant acme, pack demo, component caps06)"
        in caplog.text
    )


async def test_missing_secret_is_none(make_pack: PackFactory, ctx: ExecCtx) -> None:
    services = HostServices(
        secrets=FakeSecrets({}), policy_for=_policy(secrets_allowed=lambda k: True)
    )
    assert await _call(services, make_pack("caps06"), "secret", {"key": "NOPE"}, ctx) == {
        "value": None
    }


async def test_http_is_denied_by_default(
    make_pack: PackFactory, ctx: ExecCtx, loopback: str
) -> None:
    out = await _call(HostServices(), make_pack("caps06"), "http", {"url": f"{loopback}/x"}, ctx)
    assert out["error"]["code"] == "denied"
    assert "http request to 127.0.0.1 denied by policy" in out["error"]["message"]
    assert _Handler.seen == []


async def test_http_to_an_allowed_loopback_host(
    make_pack: PackFactory, ctx: ExecCtx, loopback: str
) -> None:
    services = HostServices(policy_for=_policy(network_allow=("127.0.0.1",)))
    pack = make_pack("caps06")
    out = await _call(services, pack, "http", {"url": f"{loopback}/hello"}, ctx)
    assert out == {"status": 200, "body": "hello from loopback"}
    assert _Handler.seen == [("/hello", "caps06")]
    missing = await _call(services, pack, "http", {"url": f"{loopback}/missing"}, ctx)
    assert missing["status"] == 404


async def test_http_allowlist_is_per_host(
    make_pack: PackFactory, ctx: ExecCtx, loopback: str
) -> None:
    services = HostServices(policy_for=_policy(network_allow=("api.example.com",)))
    out = await _call(services, make_pack("caps06"), "http", {"url": f"{loopback}/x"}, ctx)
    assert out["error"]["code"] == "denied"
    assert _Handler.seen == []


async def test_http_redirects_are_returned_not_followed(
    make_pack: PackFactory, ctx: ExecCtx, loopback: str
) -> None:
    services = HostServices(policy_for=_policy(network_allow=("127.0.0.1",)))
    out = await _call(services, make_pack("caps06"), "http", {"url": f"{loopback}/redirect"}, ctx)
    assert out["status"] == 302


async def test_state_is_scoped_per_tenant_and_pack(make_pack: PackFactory) -> None:
    store = InMemoryStateStore()
    services = HostServices(state=store)
    pack = make_pack("caps06")
    acme, other = ExecCtx(tenant="acme"), ExecCtx(tenant="globex")
    assert await _call(services, pack, "state", {"key": "k", "value": '{"n":1}'}, acme) == {
        "read": '{"n":1}'
    }
    assert await _call(services, pack, "state", {"key": "k", "value": "plain"}, other) == {
        "read": '"plain"'  # non-JSON bytes are stored as a JSON string
    }
    assert await store.get_json(TenantCtx("local", "acme"), "pack:demo", "k") == {"n": 1}
    assert await store.get_json(TenantCtx("local", "globex"), "pack:demo", "k") == "plain"
    other_pack = make_pack("caps06", pack_id="other")
    missing = await _call(services, other_pack, "state", {"key": "k"}, acme)
    assert missing == {"error": {"code": "not-found", "message": "state key `k` not found"}}


async def test_state_unavailable_without_store_and_write_if_absent_unsupported(
    make_pack: PackFactory, ctx: ExecCtx
) -> None:
    pack = make_pack("caps06")
    out = await _call(HostServices(), pack, "state", {"key": "k"}, ctx)
    assert out["error"]["code"] == "unavailable"
    services = HostServices(state=InMemoryStateStore())
    out = await _call(services, pack, "state-if-absent", {"key": "k"}, ctx)
    assert out["error"]["code"] == "unsupported"


async def test_telemetry_log_goes_to_logging_with_context(
    make_pack: PackFactory, ctx: ExecCtx, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="greentic_runner.components.guest"):
        out = await _call(HostServices(), make_pack("caps06"), "log", {"message": "hi there"}, ctx)
    assert out == {"logged": True}
    record = next(r for r in caplog.records if "hi there" in r.getMessage())
    assert (record.tenant, record.pack, record.component, record.flow, record.node) == (  # type: ignore[attr-defined]
        "acme",
        "demo",
        "caps06",
        "welcome",
        "greet",
    )


async def test_runtime_config_comes_from_the_pack_config(
    make_pack: PackFactory, ctx: ExecCtx
) -> None:
    pack = make_pack(
        "caps06", extensions={"greentic.pack-config.v1": {"non_secret": {"region": "eu-west"}}}
    )
    assert await _call(HostServices(), pack, "config", {"key": "region"}, ctx) == {
        "value": "eu-west"
    }
    assert await _call(HostServices(), pack, "config", {"key": "zone"}, ctx) == {"value": None}
    services = HostServices(policy_for=_policy(allow_runtime_config=False))
    assert await _call(services, pack, "config", {"key": "region"}, ctx) == {"error": "denied"}


async def test_environment_holds_only_passthrough_names(
    make_pack: PackFactory, ctx: ExecCtx, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GREENTIC_TEST_VISIBLE", "yes")
    monkeypatch.setenv("GREENTIC_TEST_HIDDEN", "no")
    pack = make_pack("caps06")
    assert await _call(HostServices(), pack, "env", {}, ctx) == {}
    services = HostServices(
        policy_for=_policy(wasi=WasiPolicy(env_passthrough=("GREENTIC_TEST_VISIBLE", "UNSET_X")))
    )
    assert await _call(services, pack, "env", {}, ctx) == {"GREENTIC_TEST_VISIBLE": "yes"}


async def test_no_filesystem_is_preopened(
    make_pack: PackFactory, ctx: ExecCtx, tmp_path: Path
) -> None:
    secret_file = tmp_path / "host.txt"
    secret_file.write_text("host data")
    out = await _call(HostServices(), make_pack("caps06"), "fs", {"path": str(secret_file)}, ctx)
    assert "error" in out and "read" not in out


async def test_stdout_is_dropped_unless_allowed(
    make_pack: PackFactory, ctx: ExecCtx, caplog: pytest.LogCaptureFixture
) -> None:
    pack = make_pack("caps06")
    with caplog.at_level(logging.INFO, logger="greentic_runner.components.guest"):
        await _call(HostServices(), pack, "stdout", {"text": "quiet please"}, ctx)
        assert "quiet please" not in caplog.text
        services = HostServices(policy_for=_policy(wasi=WasiPolicy(allow_stdout=True)))
        await _call(services, pack, "stdout", {"text": "loud and clear"}, ctx)
    assert "caps06 stdout: loud and clear" in caplog.text
