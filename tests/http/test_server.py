"""open_server: the serve wiring (stores, metered host, packs, app) and /metrics."""

from __future__ import annotations

import re
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from tests.http.harness import CHATBOT, client

from greentic_runner.errors import ConfigError, PackError
from greentic_runner.http.server import open_server, tenant_configs
from greentic_runner.server_config import ServePlan, TenantPlan

EXAMPLES = Path(__file__).parents[2] / "examples"
WEATHER = EXAMPLES / "mocked-component"


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the Prometheus text ``text``."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {name}{labels}")


async def test_metrics_cover_turns_components_and_packs() -> None:
    plan = ServePlan(
        tenants=(
            TenantPlan("demo", (WEATHER,), WEATHER / "bindings.yaml"),
            TenantPlan("acme", (CHATBOT,)),
        ),
        store="memory",
    )
    async with AsyncExitStack() as stack:
        server = await open_server(plan, stack)
        async with client(server.app) as http:
            for text in ("hi", "London"):
                turn = await http.post(
                    "/tenants/demo/activities", json={"payload": {"text": text}, "user_id": "u"}
                )
                assert turn.status_code == 200
            assert turn.json()["activities"][-1]["payload"] == {
                "text": "London, GB: light rain, 11°C."
            }
            text = (await http.get("/metrics")).text
            health = (await http.get("/healthz")).json()
    assert health["status"] == "ok" and health["active_packs"] == 2
    assert health["last_reload"] is not None
    labels = {"tenant": "demo", "channel": "api", "flow": "weather"}
    assert metric(text, "greentic_turns_total", outcome="waiting", **labels) == 1
    assert metric(text, "greentic_turns_total", outcome="done", **labels) == 1
    assert metric(text, "greentic_turn_duration_seconds_count", tenant="demo", channel="api") == 2
    assert (
        metric(
            text,
            "greentic_component_call_duration_seconds_count",
            component="weather_api",
            operation="forecast",
            outcome="ok",
        )
        == 1
    )
    assert "greentic_store_operation_duration_seconds_count{" not in text  # memory: untimed
    assert metric(text, "greentic_loaded_packs", tenant="acme") == 1
    assert metric(text, "greentic_active_runtimes") == 2


async def test_durable_store_operations_are_timed(tmp_path: Path) -> None:
    plan = ServePlan(tenants=(TenantPlan("acme", (CHATBOT,)),), store=f"sqlite:{tmp_path / 's.db'}")
    async with AsyncExitStack() as stack:
        server = await open_server(plan, stack)
        async with client(server.app) as http:
            turn = await http.post(
                "/tenants/acme/activities", json={"payload": {"text": "hi"}, "user_id": "u"}
            )
            assert turn.status_code == 200
            text = (await http.get("/metrics")).text
    assert metric(text, "greentic_store_operation_duration_seconds_count", store="session") > 0


async def test_a_pack_that_fails_to_load_stops_startup(tmp_path: Path) -> None:
    plan = ServePlan(tenants=(TenantPlan("demo", (tmp_path / "nope",)),), store="memory")
    async with AsyncExitStack() as stack:
        with pytest.raises(PackError, match="failed to load tenant demo"):
            await open_server(plan, stack)


def test_bindings_must_declare_the_configured_tenant() -> None:
    plan = ServePlan(tenants=(TenantPlan("acme", (WEATHER,), WEATHER / "bindings.yaml"),))
    with pytest.raises(
        ConfigError, match="declares tenant demo, but it is configured for tenant acme"
    ):
        tenant_configs(plan)
