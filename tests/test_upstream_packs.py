"""Every upstream pack directory and flow runs, with mocks where it calls a component.

Flows that need something this build cannot provide are listed with the reason; the
negative fixtures are covered by tests/flows/test_ygtc.py and tests/packs/test_source.py.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from greentic_runner.activity import Activity
from greentic_runner.config import HostConfig
from greentic_runner.flows.ygtc import load_ygtc
from greentic_runner.host import HostBuilder, RunnerHost
from greentic_runner.replies import is_waiting, reply_texts

UPSTREAM = Path(__file__).parent / "fixtures" / "upstream"
PACKC = UPSTREAM / "greentic-pack/crates/packc/tests/fixtures"
FLOWS = UPSTREAM / "greentic-flow"

FORECAST = {
    "location": {"name": "London", "country": "United Kingdom"},
    "current": {
        "condition": {"text": "Light rain"},
        "temp_c": 11,
        "wind_kph": 20,
        "humidity": 80,
    },
    "forecast": [
        {
            "date": "2025-01-01",
            "day": {"maxtemp_c": 12, "mintemp_c": 6, "condition": {"text": "Rain"}},
        },
    ],
}
MOCKS = {
    "components": {
        "weather_api": {
            "forecast_weather": [
                {"when": {"q": "London", "days": 3}, "output": FORECAST},
            ]
        },
        "ai.greentic.component-templates": {
            "handle_message": [{"when": {"text": "hi"}, "output": {"text": "templated hi"}}]
        },
        "dev.local.component": {"handle_message": {"output": {"text": "minimal says hi"}}},
        "ai.greentic.fixture": {"handle_message": {"output": {"text": "fixture says hi"}}},
        "messaging.telegram": {"sendMessage": {"output": {"ok": True}}},
        "email.google": {"send": {"output": {"text": "mail sent"}}},
        "ai.greentic": {"echo": {"output": {"echoed": "hello"}}},
    }
}


async def host_for(pack: Path) -> AsyncIterator[RunnerHost]:
    host = HostBuilder().with_config(HostConfig(tenant="demo", mocks=MOCKS)).build()
    await host.start()
    try:
        await host.load_pack("demo", pack)
        yield host
    finally:
        await host.stop()


async def say(host: RunnerHost, payload: Any, **route: str) -> tuple[list[str], bool]:
    """One message; ``route`` may name ``flow_type``, ``pack_id`` and ``flow_id``."""
    activity = Activity(
        flow_type=route.pop("flow_type", "messaging"),
        payload=payload,
        **route,
        user_id="u1",
        conversation_id="c1",
        channel_id="test",
        provider_id="test",
    )
    replies = await host.handle_activity("demo", activity)
    return reply_texts(replies), is_waiting(replies)


WEATHER_TEXT = (
    "Here's the forecast for London, United Kingdom:\n\n"
    "Now: Light rain, 11°C\nWind: 20 kph | Humidity: 80%\n\n"
    "Forecast (next 3 day(s)):\n- 2025-01-01: ↑ 12°C | ↓ 6°C — Rain\n"
)


@pytest.mark.parametrize(
    "pack",
    [
        UPSTREAM / "greentic-pack/examples/weather-demo",
        UPSTREAM / "greentic-runner/tests/fixtures/gen-bindings/weather-demo",
    ],
    ids=["greentic-pack", "gen-bindings"],
)
async def test_weather_demo_asks_then_forecasts(pack: Path) -> None:
    async for host in host_for(pack):
        assert await say(host, {"text": "hi"}) == (
            ["Hi there! Let's get your weather forecast.", "👉 Which city do you want to check?"],
            True,
        )
        texts, waiting = await say(host, {"text": "London"})
        assert not waiting
        assert [t.strip() for t in texts] == [WEATHER_TEXT.strip()]


@pytest.mark.parametrize(
    ("pack", "payload", "expected"),
    [
        (
            UPSTREAM / "greentic-pack/examples/billing-demo",
            {"customer_id": "c-42"},
            "Billing demo response for c-42",
        ),
        (PACKC / "packs/hello2-pack", {"text": "x"}, "templated hi"),
        (PACKC / "packs/valid-minimal", {"text": "x"}, "minimal says hi"),
        (PACKC / "component_exec_pack", {"text": "x"}, "fixture says hi"),
    ],
    ids=["billing-demo", "hello2-pack", "valid-minimal", "component_exec_pack"],
)
async def test_single_turn_packs(pack: Path, payload: Any, expected: str) -> None:
    async for host in host_for(pack):
        assert await say(host, payload) == ([expected], False)


# Standalone upstream flows, each run as the only flow of a temporary pack.
RUNNABLE_FLOWS = {
    "docs/examples/hello.ygtc": ({"text": "hi"}, ["Hello from greentic-flow!"], False),
    "examples/smoke.ygtc": ({"text": "hi"}, ["Hello from CI smoke test"], False),
    "fixtures/flow_ok.ygtc": ({"text": "hi"}, ["Hello from flow_ok"], False),
    "fixtures/weather_bot.ygtc": (
        {"text": "hi"},
        [
            "Hi there! Let's get your weather forecast.",
            "👉 What location would you like a forecast for?",
        ],
        True,
    ),
    "tests/data/flow_ok.ygtc": ({"text": "hi"}, ["mail sent"], False),
    "tests/data/config_flow.ygtc": ({}, ["Welcome message shown to users:"], True),
    "tests/golden/add_step/input.ygtc": ({"text": "hi"}, ["bye"], False),
    "tests/golden/add_step/expected.ygtc": ({"text": "hi"}, ["bye"], False),
}
NOT_RUNNABLE = {
    "docs/examples/hello_with_component.ygtc": "bare op without a sidecar or pack component",
    "tests/fixtures/flows/simple.ygtc": "bare op without a sidecar or pack component",
    "tests/data/mcp_node_ok.ygtc": "v2 `mcp` nodes need an MCP server runtime",
    "tests/data/flow_fail.ygtc": "negative for the adapter registry (see test_ygtc.py)",
}


def test_every_upstream_flow_is_either_run_or_excluded_with_a_reason() -> None:
    found = {
        str(p.relative_to(FLOWS))
        for p in FLOWS.rglob("*.ygtc")
        if p.name not in {"invalid_node_shape.ygtc", "flow_missing_type.ygtc"}
    }
    assert found == set(RUNNABLE_FLOWS) | set(NOT_RUNNABLE)


@pytest.mark.parametrize("name", sorted(RUNNABLE_FLOWS))
async def test_upstream_flow_runs(tmp_path: Path, name: str) -> None:
    payload, expected, waiting = RUNNABLE_FLOWS[name]
    source = FLOWS / name
    (tmp_path / "flows").mkdir()
    (tmp_path / "pack.yaml").write_text("pack_id: upstream.flow\nversion: 0.0.1\n")
    shutil.copy(source, tmp_path / "flows" / source.name)
    sidecar = source.with_name(source.name + ".resolve.json")
    if sidecar.exists():
        shutil.copy(sidecar, tmp_path / "flows" / sidecar.name)
    flow = load_ygtc(source)
    async for host in host_for(tmp_path):
        route = {"flow_type": flow.flow_type, "pack_id": "upstream.flow", "flow_id": flow.id}
        assert await say(host, payload, **route) == (expected, waiting)
