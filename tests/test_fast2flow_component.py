"""fast2flow end to end: the host routes each message through a real WebAssembly router.

The main pack bundles ``fast2flow-routing``, built from tests/components/wasm_src/router06 (a
node@0.6.0 component in Python, see its docstring for the keywords). Every directive goes through
``RunnerHost.handle_activity`` with fast2flow enabled; nothing in the host is mocked.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.components.conftest import ARTIFACTS, _builder

from greentic_runner.activity import Activity
from greentic_runner.components.sandbox import ComponentCallError
from greentic_runner.config import Fast2FlowConfig, HostConfig
from greentic_runner.errors import RoutingError, RunnerError
from greentic_runner.host import HostBuilder, RunnerHost
from greentic_runner.replies import reply_texts
from greentic_runner.runtime_loader import PackRef

ROUTER = "fast2flow-routing"


@pytest.fixture(scope="module")
def router_wasm() -> Path:
    """The router component, built from source (cached in .build/components/)."""
    path: Path = _builder().build("router06")
    return path


@pytest.fixture(autouse=True)
def shared_artifacts(monkeypatch: pytest.MonkeyPatch) -> None:
    # The host's runtime uses the default cache dir: point it at the test components'
    # compiled artifacts so the 18 MB Python router compiles once, not once per test.
    monkeypatch.setenv("GREENTIC_RUNNER_CACHE_DIR", str(ARTIFACTS))


def _flow(flow_id: str, text: str) -> str:
    return yaml.safe_dump(
        {
            "id": flow_id,
            "type": "messaging",
            "nodes": {"answer": {"templating.handlebars": {"text": text}, "routing": "out"}},
        }
    )


def _write_pack(
    root: Path,
    pack_id: str,
    flows: dict[str, str],
    entry: tuple[str, ...],
    components: dict[str, Path] | None = None,
) -> Path:
    """A pack directory; ``components`` maps a component id to the .wasm to bundle."""
    (root / "flows").mkdir(parents=True)
    for flow_id, text in flows.items():
        (root / "flows" / f"{flow_id}.ygtc").write_text(_flow(flow_id, text))
    declared = []
    for component_id, wasm in (components or {}).items():
        (root / "components").mkdir(exist_ok=True)
        shutil.copy(wasm, root / "components" / f"{component_id}.wasm")
        declared.append({"id": component_id, "wasm": f"components/{component_id}.wasm"})
    manifest: dict[str, Any] = {
        "pack_id": pack_id,
        "version": "0.1.0",
        "flows": [
            {"id": flow_id, "file": f"flows/{flow_id}.ygtc"}
            | ({"entrypoints": ["default"]} if flow_id in entry else {"tags": ["internal"]})
            for flow_id in flows
        ],
    }
    if declared:
        manifest["components"] = declared
    (root / "pack.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return root


@pytest.fixture
def packs(tmp_path: Path, router_wasm: Path) -> tuple[Path, Path]:
    """Main pack ``desk`` (entry flow ``main``, flow ``billing``, the router) + overlay ``extras``."""
    main = _write_pack(
        tmp_path / "desk",
        "desk",
        {
            "main": "main flow: {{in.text}}",
            "billing": "billing flow: {{in.text}} "
            "[{{#each in.fast2flow.entities}}{{name}}={{value}};{{/each}}]",
        },
        entry=("main",),
        components={ROUTER: router_wasm},
    )
    # The overlay's flow is internal: the tenant has one entry flow, reached by Continue.
    overlay = _write_pack(tmp_path / "extras", "extras", {"faq": "faq flow: {{in.text}}"}, ())
    return main, overlay


@pytest.fixture
async def host(packs: tuple[Path, Path]) -> AsyncIterator[RunnerHost]:
    config = HostConfig(tenant="demo", fast2flow=Fast2FlowConfig(enabled=True))
    async with HostBuilder().with_config(config).build() as running:
        await running.load_pack("demo", packs[0], overlays=[packs[1]])
        yield running


def message(text: str, **fields: Any) -> Activity:
    defaults: dict[str, Any] = {"user_id": "u1", "conversation_id": "c1", "channel_id": "web"}
    return Activity.text(text).with_(**(defaults | fields))


def response(text: str) -> Activity:
    """The short-circuit reply of Respond and Deny (spec §4.2)."""
    return Activity.custom("response", {"messages": [{"text": text}]}).ensure_tenant("demo")


# -- directives ---------------------------------------------------------------------------


async def test_continue_keeps_the_default_flow(host: RunnerHost) -> None:
    replies = await host.handle_activity("demo", message("hello there"))
    assert reply_texts(replies) == ["main flow: hello there"]


async def test_dispatch_to_a_flow_of_the_main_pack_with_entities(host: RunnerHost) -> None:
    replies = await host.handle_activity("demo", message("billing invoice=42 month=may"))
    assert reply_texts(replies) == [
        "billing flow: billing invoice=42 month=may [invoice=42;month=may;]"
    ]


async def test_dispatch_in_the_type_tagged_form_reaches_an_overlay_flow(host: RunnerHost) -> None:
    replies = await host.handle_activity("demo", message("faq please"))
    assert reply_texts(replies) == ["faq flow: faq please"]


async def test_respond_short_circuits_with_the_routers_message(host: RunnerHost) -> None:
    replies = await host.handle_activity("demo", message("hours today?"))
    assert replies == [response("We are open 9:00-17:00.")]


async def test_deny_short_circuits_with_the_reason(host: RunnerHost) -> None:
    replies = await host.handle_activity("demo", message("spam spam spam"))
    assert replies == [response("messages like this are blocked")]


async def test_short_circuits_start_no_session(host: RunnerHost) -> None:
    # A Respond runs no flow, so nothing waits for this user afterwards: the next message
    # goes through the router again and reaches the default flow.
    await host.handle_activity("demo", message("hours"))
    replies = await host.handle_activity("demo", message("thanks"))
    assert reply_texts(replies) == ["main flow: thanks"]


# -- what the router sees -----------------------------------------------------------------


async def test_the_router_receives_the_spec_request_and_context(packs: tuple[Path, Path]) -> None:
    fast2flow = Fast2FlowConfig(
        enabled=True,
        scope="support-desk",
        time_budget_ms=75,
        registry_path="registry.json",
        indexes_path="indexes/",
    )
    async with HostBuilder().with_config(HostConfig("demo", fast2flow=fast2flow)).build() as host:
        await host.load_pack("demo", packs[0])
        activity = message("  request routing  ", provider_id="webchat", session_id="s-1")
        (reply,) = await host.handle_activity("demo", activity)
    seen = json.loads(reply.payload["messages"][0]["text"])
    request, ctx = seen["request"], seen["ctx"]
    now = request.pop("now_unix_ms")
    assert isinstance(now, int) and now > 1_600_000_000_000
    assert request == {
        "scope": "support-desk",
        "envelope": {"text": "request routing", "channel": "web", "provider": "webchat"},
        "session_active": True,
        "input_locale": "en",
        "time_budget_ms": 75,
        "registry_path": "registry.json",
        "indexes_path": "indexes/",
        "metadata": {},
    }
    assert ctx == {
        "tenant_id": "demo",
        "i18n_id": "en",
        "idempotency_key": f"fast2flow:support-desk:web:{now}",
        "correlation_id": f"fast2flow:support-desk:web:{now}",
        "flow_id": "greentic-x.fast2flow-routing",
        "step_id": ROUTER,
        "component_id": ROUTER,
    }


async def test_scope_defaults_to_the_tenant_and_session_to_inactive(host: RunnerHost) -> None:
    (reply,) = await host.handle_activity("demo", message("request"))
    request = json.loads(reply.payload["messages"][0]["text"])["request"]
    assert request["scope"] == "demo"
    assert request["session_active"] is False


async def test_an_activity_with_a_flow_id_is_not_routed(host: RunnerHost) -> None:
    replies = await host.handle_activity("demo", message("hours", flow_id="main"))
    assert reply_texts(replies) == ["main flow: hours"]


async def test_disabled_fast2flow_never_calls_the_router(packs: tuple[Path, Path]) -> None:
    async with HostBuilder().with_config(HostConfig(tenant="demo")).build() as host:
        await host.load_pack("demo", packs[0])
        replies = await host.handle_activity("demo", message("hours"))
    assert reply_texts(replies) == ["main flow: hours"]


async def test_a_renamed_router_component_is_used(tmp_path: Path, router_wasm: Path) -> None:
    pack = _write_pack(
        tmp_path / "p",
        "p",
        {"main": "main flow: {{in.text}}"},
        ("main",),
        components={"intent-router": router_wasm},
    )
    fast2flow = Fast2FlowConfig(enabled=True, component_ref="intent-router")
    async with HostBuilder().with_config(HostConfig("demo", fast2flow=fast2flow)).build() as host:
        await host.load_pack("demo", pack)
        assert await host.handle_activity("demo", message("hours")) == [
            response("We are open 9:00-17:00.")
        ]


async def test_mocks_for_other_components_leave_the_router_real(packs: tuple[Path, Path]) -> None:
    config = HostConfig(
        "demo",
        fast2flow=Fast2FlowConfig(enabled=True),
        mocks={"components": {"weather_api": {"forecast": {"output": {"temp_c": 11}}}}},
    )
    async with HostBuilder().with_config(config).build() as host:
        await host.load_pack("demo", packs[0])
        assert await host.handle_activity("demo", message("spam")) == [
            response("messages like this are blocked")
        ]


async def test_a_mocked_router_answers_instead_of_the_component(packs: tuple[Path, Path]) -> None:
    mocks = {"components": {ROUTER: {"route": {"output": {"directive": "Continue"}}}}}
    config = HostConfig("demo", fast2flow=Fast2FlowConfig(enabled=True), mocks=mocks)
    async with HostBuilder().with_config(config).build() as host:
        await host.load_pack("demo", packs[0])
        replies = await host.handle_activity("demo", message("hours"))
    assert reply_texts(replies) == ["main flow: hours"]


async def test_the_revision_entry_point_routes_too(
    host: RunnerHost, packs: tuple[Path, Path]
) -> None:
    await host.load_revision("demo", "d1", "b1", "r1", [PackRef(packs[0]), PackRef(packs[1])])
    replies = await host.handle_activity_for_revision(
        "demo", "d1", "b1", "r1", message("faq today")
    )
    assert reply_texts(replies) == ["faq flow: faq today"]


# -- failures abort the turn and leave the router usable ----------------------------------


@pytest.mark.parametrize(
    ("text", "error", "needles"),
    [
        ("teleport me", RoutingError, ["failed to decode Fast2Flow route result", "teleport"]),
        ("mute", RoutingError, ["failed to decode Fast2Flow route result", "directive"]),
        (
            "crash",
            ComponentCallError,
            [f"component {ROUTER} failed in operation route (tenant demo, pack desk)", "trap"],
        ),
        (
            "fail now",
            RoutingError,
            [
                f"fast2flow router component {ROUTER} failed: router_down:",
                "routing index unavailable",
            ],
        ),
    ],
    ids=["unknown-directive", "no-directive", "trap", "node-error"],
)
async def test_router_failures_abort_the_turn(
    host: RunnerHost, text: str, error: type[RunnerError], needles: list[str]
) -> None:
    with pytest.raises(error) as caught:
        await host.handle_activity("demo", message(text))
    for needle in needles:
        assert needle in str(caught.value)
    # The failed call poisons nothing: the same router answers the next message.
    assert await host.handle_activity("demo", message("hours")) == [
        response("We are open 9:00-17:00.")
    ]


async def test_a_trap_reports_kind_and_names(host: RunnerHost) -> None:
    with pytest.raises(ComponentCallError) as caught:
        await host.handle_activity("demo", message("crash"))
    assert (caught.value.kind, caught.value.component, caught.value.operation) == (
        "trap",
        ROUTER,
        "route",
    )


async def test_an_unknown_operation_fails_the_turn(packs: tuple[Path, Path]) -> None:
    fast2flow = Fast2FlowConfig(enabled=True, operation="classify")
    async with HostBuilder().with_config(HostConfig("demo", fast2flow=fast2flow)).build() as host:
        await host.load_pack("demo", packs[0])
        with pytest.raises(RunnerError, match="unknown operation classify"):
            await host.handle_activity("demo", message("hours"))


async def test_a_main_pack_without_the_router_fails_the_turn(tmp_path: Path) -> None:
    pack = _write_pack(tmp_path / "bare", "bare", {"main": "main flow"}, ("main",))
    config = HostConfig("demo", fast2flow=Fast2FlowConfig(enabled=True))
    async with HostBuilder().with_config(config).build() as host:
        await host.load_pack("demo", pack)
        with pytest.raises(ComponentCallError) as caught:
            await host.handle_activity("demo", message("hours"))
    assert str(caught.value) == (
        f"component {ROUTER} of pack bare cannot be loaded: the pack declares no such component"
    )
