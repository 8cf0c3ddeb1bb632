"""Tenant resolution for channel routes: TENANT_RESOLVER env | header | host."""

from __future__ import annotations

import pytest
from tests.http.harness import TurnSpy, build_app, chatbot_host, client, payload

from greentic_runner.config import HostConfig
from greentic_runner.errors import ConfigError
from greentic_runner.http import TenantRouting

URL = "/messaging/telegram/webhook"


@pytest.mark.parametrize(
    ("routing", "headers", "tenant"),
    [
        (TenantRouting("env", "acme"), {"x-greentic-tenant": "demo"}, "acme"),
        (TenantRouting("header", "demo"), {"x-greentic-tenant": "acme"}, "acme"),
        (TenantRouting("header", "acme"), {}, "acme"),
        (TenantRouting("host", "demo"), {"host": "acme.bots.example.org"}, "acme"),
        (TenantRouting("host", "demo"), {"host": "acme:8080"}, "acme"),
    ],
    ids=["env-ignores-header", "header", "header-missing", "host", "host-with-port"],
)
async def test_channel_requests_go_to_the_resolved_tenant(
    routing: TenantRouting, headers: dict[str, str], tenant: str
) -> None:
    host = await chatbot_host(HostConfig(tenant="demo"), HostConfig(tenant="acme"))
    spy = TurnSpy(host)
    async with client(build_app(host, routing=routing)) as http:
        response = await http.post(URL, json=payload("telegram_message"), headers=headers)
    assert response.status_code == 200
    [(resolved, activity)] = spy.calls
    assert resolved == tenant
    assert activity.session_id is not None and activity.session_id.startswith(f"{tenant}:telegram:")
    await host.stop()


async def test_invalid_tenant_header_is_400_and_unloaded_tenant_404() -> None:
    host = await chatbot_host()
    app = build_app(host, routing=TenantRouting("header", "demo"))
    async with client(app) as http:
        bad = await http.post(
            URL, json=payload("telegram_message"), headers={"x-greentic-tenant": "a b"}
        )
        ghost = await http.post(
            URL, json=payload("telegram_message"), headers={"x-greentic-tenant": "ghost"}
        )
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_tenant"
    assert ghost.status_code == 404
    assert ghost.json()["error"]["message"] == "tenant ghost not loaded"
    await host.stop()


def test_from_env_overrides_the_fallback_and_validates() -> None:
    fallback = TenantRouting("header", "acme")
    assert TenantRouting.from_env({}, fallback) == fallback
    assert TenantRouting.from_env({"TENANT_RESOLVER": " HOST ", "DEFAULT_TENANT": "x"}) == (
        TenantRouting("host", "x")
    )
    assert TenantRouting.from_env({}) == TenantRouting("env", "demo")
    with pytest.raises(ConfigError, match="unsupported TENANT_RESOLVER `jwt`"):
        TenantRouting.from_env({"TENANT_RESOLVER": "jwt"})
    with pytest.raises(ConfigError, match="DEFAULT_TENANT `a:b` is not a valid tenant id"):
        TenantRouting.from_env({"DEFAULT_TENANT": "a:b"})
