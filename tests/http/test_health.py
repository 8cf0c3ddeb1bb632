"""``/healthz`` (spec §9.1, exact JSON) and ``/readyz``."""

from __future__ import annotations

from tests.http.harness import build_app, client

from greentic_runner.config import HostConfig
from greentic_runner.host import HostBuilder, RunnerHost


async def test_healthz_is_ok_with_a_started_host_and_packs(host: RunnerHost) -> None:
    host.health.record_reload()
    async with client(build_app(host)) as http:
        response = await http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "telemetry_ready": True,
        "secrets_ready": True,
        "active_packs": 1,
        "last_reload": host.health.last_reload,
        "last_error": None,
    }


async def test_healthz_is_degraded_without_packs_or_before_start() -> None:
    host = HostBuilder().with_config(HostConfig(tenant="demo")).build()
    async with client(build_app(host)) as http:
        unstarted = (await http.get("/healthz")).json()
        await host.start()
        no_packs = (await http.get("/healthz")).json()
        ready = await http.get("/readyz")
    assert unstarted["status"] == "degraded"
    assert unstarted["telemetry_ready"] is False and unstarted["secrets_ready"] is False
    assert no_packs["status"] == "degraded" and no_packs["active_packs"] == 0
    assert ready.status_code == 503
    assert ready.json() == {"status": "not_ready", "reason": "no packs loaded"}


async def test_healthz_reports_the_last_reload_error(host: RunnerHost) -> None:
    host.health.record_reload()
    reloaded = host.health.last_reload
    host.health.record_error("failed to load tenant demo: broken")
    async with client(build_app(host)) as http:
        body = (await http.get("/healthz")).json()
    assert body["last_error"] == "failed to load tenant demo: broken"
    assert body["last_reload"] == reloaded


async def test_readyz_is_ready_until_draining(host: RunnerHost) -> None:
    app = build_app(host)
    async with client(app) as http:
        ready = await http.get("/readyz")
        app.ctx.draining = True
        draining = await http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "active_packs": 1}
    assert draining.status_code == 503
    assert draining.json() == {"status": "not_ready", "reason": "shutting down"}
