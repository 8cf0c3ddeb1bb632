from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest
from tests.pipeline import build_host, flow

from greentic_runner.activity import Activity, WelcomeFlowHint
from greentic_runner.components.invoker import ComponentCall, ExecCtx
from greentic_runner.config import Fast2FlowConfig, HostConfig
from greentic_runner.errors import ConfigError, RoutingError, TenantError
from greentic_runner.host import HostBuilder, RunnerHost, normalize_replies
from greentic_runner.packs.pack import PackRuntime
from greentic_runner.packs.providers import (
    NO_MATCH,
    UNSUPPORTED,
    IdentifyHint,
    IdentifyOutcome,
    ProviderBinding,
)
from greentic_runner.runtime_loader import PackRef
from greentic_runner.testing import make_pack


class Components:
    """The pack components, as the host sees them through the ComponentInvoker edge."""

    def __init__(self) -> None:
        self.identify: dict[tuple[str, str], IdentifyOutcome] = {}
        self.hints: dict[str, IdentifyHint | None] = {}
        self.payloads: list[tuple[str, bytes]] = []
        self.invocations: list[tuple[str, str, bytes, ExecCtx]] = []
        self.route_directive: Any = "Continue"

    async def invoke(self, pack: PackRuntime, call: ComponentCall) -> Any:
        return {"directive": self.route_directive}

    async def invoke_provider(
        self, pack: PackRuntime, binding: ProviderBinding, op: str, input: bytes, ctx: ExecCtx
    ) -> Any:
        self.invocations.append((pack.pack_id, op, input, ctx))
        return {"ok": True, "pack": pack.pack_id}

    async def identify_instance(
        self, pack: PackRuntime, binding: ProviderBinding, payload: bytes
    ) -> IdentifyOutcome:
        self.payloads.append((pack.pack_id, payload))
        return self.identify.get((pack.pack_id, binding.provider_type), NO_MATCH)

    async def describe_identify_instance(
        self, pack: PackRuntime, binding: ProviderBinding
    ) -> IdentifyHint | None:
        return self.hints.get(binding.component_ref)


def providers(*types: str, ops: tuple[str, ...] = ("ingest_http",)) -> dict[str, Any]:
    decls = [
        {
            "provider_type": t,
            "ops": list(ops),
            "runtime": {"component_ref": f"{t}-component", "export": "e", "world": "w"},
        }
        for t in types
    ]
    return {"greentic.provider-extension.v1": {"inline": {"providers": decls}}}


def fresh_packs() -> dict[str, PackRuntime]:
    """New pack objects per test: packs cache probe results for their lifetime."""
    return {
        "main": make_pack(
            "app", [flow("chat"), flow("hook", "webhook"), flow("welcome", "welcome")]
        ),
        "other": make_pack("extra", [flow("side", "events")]),
        "tg": make_pack("tg", [], extensions=providers("messaging.telegram.bot")),
        "tg2": make_pack("tg2", [], extensions=providers("messaging.telegram.bot")),
        "teams": make_pack("teamspack", [], extensions=providers("teams", ops=())),
    }


@pytest.fixture
def components() -> Components:
    return Components()


@pytest.fixture
async def host(components: Components) -> RunnerHost:
    host = build_host(fresh_packs(), components)
    await host.load_pack("demo", "main", overlays=["other"])
    return host


def test_build_requires_a_tenant() -> None:
    with pytest.raises(ConfigError, match="^at least one tenant configuration is required$"):
        HostBuilder().build()


def test_a_second_config_for_a_tenant_replaces_the_first() -> None:
    builder = (
        HostBuilder()
        .with_config(HostConfig("demo"))
        .with_config(HostConfig("demo", http_enabled=True))
    )
    assert builder.build().configs["demo"].http_enabled


async def test_unknown_and_unloaded_tenants(host: RunnerHost) -> None:
    with pytest.raises(TenantError, match="^tenant ghost not loaded$"):
        await host.handle_activity("ghost", Activity.text("hi"))
    with pytest.raises(
        TenantError, match="^failed to load tenant ghost: tenant ghost not registered$"
    ):
        await host.load_pack("ghost", "main")


async def test_a_message_runs_the_unique_messaging_flow(host: RunnerHost) -> None:
    replies = await host.handle_activity("demo", Activity.text("hi"))
    assert [r.to_dict() for r in replies] == [
        {
            "kind": {"kind": "custom", "action": "response"},
            "tenant": "demo",
            "payload": {"flow": "chat", "pack": "app", "input": {"text": "hi"}},
        }
    ]


async def test_overlays_are_searched_for_flows(host: RunnerHost) -> None:
    replies = await host.handle_activity("demo", Activity.custom("go", {}).with_flow_type("events"))
    assert replies[0].payload["pack"] == "extra"


async def test_inbound_response_without_flow_short_circuits(host: RunnerHost) -> None:
    inbound = Activity.custom("response", {"messages": []})
    assert await host.handle_activity("demo", inbound) == [inbound]


async def test_respond_directive_short_circuits_before_any_flow(components: Components) -> None:
    config = HostConfig("demo", fast2flow=Fast2FlowConfig(enabled=True))
    host = build_host(fresh_packs(), components, config)
    await host.load_pack("demo", "main")
    components.route_directive = {"Deny": {"reason": "not here"}}
    replies = await host.handle_activity("demo", Activity.text("do it"))
    assert [r.payload for r in replies] == [{"messages": [{"text": "not here"}]}]
    runtime = host.active.load_pack("demo")
    assert runtime is not None and runtime.engine.calls == []  # type: ignore[attr-defined]
    components.route_directive = {"Dispatch": {"target": "app/hook"}}
    routed = await host.handle_activity("demo", Activity.text("do it"))
    assert routed[0].payload["flow"] == "hook"


async def test_waiting_turn_returns_one_pending_reply_then_resumes(host: RunnerHost) -> None:
    first = await host.handle_activity(
        "demo", Activity.custom("go", {"wait": "name"}).with_(flow_type="messaging", user_id="ada")
    )
    assert len(first) == 1
    pending = first[0].payload
    assert pending["status"] == "pending" and pending["reason"] == "name"
    assert pending["response"] == [{"text": "question?"}]
    assert pending["resume"]["next_node"] == "next"
    assert pending["reply_scope"]["conversation"] == "chat"
    assert len(pending["reply_scope"]["correlation"]) == 32
    second = await host.handle_activity("demo", Activity.text("Ada").with_(user_id="ada"))
    assert [r.payload for r in second] == [{"resumed_at": "next"}, {"answer": {"text": "Ada"}}]
    third = await host.handle_activity("demo", Activity.text("again").with_(user_id="ada"))
    assert third[0].payload["flow"] == "chat"


async def test_another_user_does_not_resume_someone_elses_flow(host: RunnerHost) -> None:
    await host.handle_activity("demo", Activity.text("x").with_(payload={"wait": "w"}, user_id="a"))
    replies = await host.handle_activity("demo", Activity.text("hi").with_(user_id="b"))
    assert replies[0].payload["flow"] == "chat"


async def test_welcome_hint_routes_first_contact_only(host: RunnerHost) -> None:
    activity = Activity.text("hi").with_(
        messaging_endpoint_id="teams-legal", welcome_flow_hint=WelcomeFlowHint("app", "welcome")
    )
    first = await host.handle_activity("demo", activity)
    second = await host.handle_activity("demo", activity)
    assert (first[0].payload["flow"], second[0].payload["flow"]) == ("welcome", "chat")


async def test_envelope_carries_flow_type_from_the_descriptor(host: RunnerHost) -> None:
    await host.handle_activity("demo", Activity.custom("go", {}).with_(flow_id="hook"))
    runtime = host.active.load_pack("demo")
    _, ctx, _ = runtime.engine.calls[-1]  # type: ignore[union-attr]
    assert (ctx.flow_type, ctx.action) == ("webhook", "go")


async def test_routing_errors_reach_the_caller(host: RunnerHost) -> None:
    with pytest.raises(RoutingError, match="^flow nope is ambiguous; pack_id is required$"):
        await host.handle_activity("demo", Activity.text("x").with_(flow_id="nope"))


def test_normalize_replies() -> None:
    assert [r.payload for r in normalize_replies([1, {"a": 2}], "t")] == [1, {"a": 2}]
    assert [r.payload for r in normalize_replies(None, "t")] == [None]
    assert [r.payload for r in normalize_replies({"x": 1}, "t")] == [{"x": 1}]
    assert all(r.tenant == "t" for r in normalize_replies([1, 2], "t"))


# -- revisions ---------------------------------------------------------------------------


async def test_revision_runs_beside_the_legacy_runtime(host: RunnerHost) -> None:
    await host.load_revision("demo", "d1", "b1", "r1", [PackRef("main")])  # type: ignore[arg-type]
    replies = await host.handle_activity_for_revision("demo", "d1", "b1", "r1", Activity.text("x"))
    assert replies[0].payload["flow"] == "chat"
    with pytest.raises(
        TenantError,
        match=r"^revision runtime not loaded for tenant demo \(deployment d1, revision r2\)$",
    ):
        await host.handle_activity_for_revision("demo", "d1", "b1", "r2", Activity.text("x"))


async def test_stop_drops_every_runtime(host: RunnerHost) -> None:
    await host.load_revision("demo", "d1", "b1", "r1", [PackRef("main")])  # type: ignore[arg-type]
    await host.stop()
    assert len(host.active) == 0
    assert await host.tenant("demo") is None


async def test_tenant_handle_exposes_packs(host: RunnerHost) -> None:
    handle = await host.tenant("demo")
    assert handle is not None
    assert handle.pack.pack_id == "app"
    assert [p.pack_id for p in handle.overlays] == ["extra"]
    assert handle.overlay_digests == [None]


# -- providers (ports of identify_endpoints_tests) ------------------------------------------


async def test_empty_provider_types_return_empty_without_loading_a_revision(
    host: RunnerHost,
) -> None:
    assert (
        await host.identify_messaging_endpoints_for_revision("demo", "d", "b", "r", [], b"{}") == {}
    )
    assert (
        await host.identify_messaging_endpoints_for_revision_scoped(
            "demo", "d", "b", "r", [], [], None
        )
        == {}
    )
    assert await host.describe_identify_instances_for_revision("demo", "d", "b", "r", []) == {}


@pytest.mark.parametrize(
    "call",
    [
        lambda h: h.identify_messaging_endpoints_for_revision(
            "demo", "dep-9", "missing", "rev-9", ["teams"], b"{}"
        ),
        lambda h: h.identify_messaging_endpoints_for_revision_scoped(
            "demo", "dep-9", "missing", "rev-9", ["teams"], [], None
        ),
        lambda h: h.describe_identify_instances_for_revision(
            "demo", "dep-9", "missing", "rev-9", ["teams"]
        ),
        lambda h: h.invoke_provider_for_revision(
            "demo", "dep-9", "missing", "rev-9", "messaging.telegram.bot", "ingest_http", b"{}"
        ),
    ],
    ids=["identify", "identify-scoped", "describe", "invoke"],
)
async def test_missing_revision_names_deployment_and_revision(host: RunnerHost, call: Any) -> None:
    with pytest.raises(TenantError) as info:
        await call(host)
    message = str(info.value)
    assert "revision runtime not loaded" in message
    assert "dep-9" in message and "rev-9" in message


async def test_host_apis_are_coroutines_usable_from_gather(host: RunnerHost) -> None:
    calls = [
        host.identify_messaging_endpoints_for_revision("demo", "d", "b", "r", [], b"{}"),
        host.identify_messaging_endpoints_for_revision_scoped("demo", "d", "b", "r", [], [], None),
        host.describe_identify_instances_for_revision("demo", "d", "b", "r", []),
        host.handle_activity("demo", Activity.text("a")),
        host.handle_activity("demo", Activity.text("b")),
    ]
    assert all(inspect.iscoroutine(c) for c in calls)
    results = await asyncio.gather(*calls)
    assert results[:3] == [{}, {}, {}]
    assert [r[0].payload["input"]["text"] for r in results[3:]] == ["a", "b"]


async def revision(host: RunnerHost, *paths: str) -> None:
    await host.load_revision("demo", "d", "b", "r", [PackRef(p) for p in paths])  # type: ignore[arg-type]


async def test_identify_merges_with_the_lattice_and_stops_early(
    host: RunnerHost, components: Components
) -> None:
    await revision(host, "tg", "teams", "tg2")
    components.identify[("tg", "messaging.telegram.bot")] = IdentifyOutcome.identified("bot-a")
    components.identify[("tg2", "messaging.telegram.bot")] = IdentifyOutcome.identified("bot-b")
    result = await host.identify_messaging_endpoints_for_revision(
        "demo", "d", "b", "r", ["messaging.telegram.bot", "teams", "slack"], b"{}"
    )
    assert result == {
        "messaging.telegram.bot": IdentifyOutcome.identified("bot-a"),
        "teams": NO_MATCH,
        "slack": UNSUPPORTED,
    }
    probed = [pack for pack, _ in components.payloads]
    assert probed == ["tg", "teamspack"]  # tg2 never probed for the identified type


async def test_scoped_identify_sends_only_hinted_headers(
    host: RunnerHost, components: Components
) -> None:
    await revision(host, "tg", "teams")
    components.hints["messaging.telegram.bot-component"] = IdentifyHint(
        1, ("X-Telegram-Bot-Api-Secret-Token",)
    )
    headers = [("x-telegram-bot-api-secret-token", "tok"), ("authorization", "secret")]
    await host.identify_messaging_endpoints_for_revision_scoped(
        "demo", "d", "b", "r", ["messaging.telegram.bot", "teams"], headers, {"a": 1}
    )
    import json

    sent = {pack: json.loads(payload) for pack, payload in components.payloads}
    assert sent["tg"]["headers"] == [{"name": "x-telegram-bot-api-secret-token", "value": "tok"}]
    assert len(sent["teamspack"]["headers"]) == 2  # unhinted: everything
    assert sent["tg"]["body"] == {"a": 1}


async def test_describe_takes_the_first_hint_per_type(
    host: RunnerHost, components: Components
) -> None:
    await revision(host, "tg", "teams")
    hint = IdentifyHint(1, ("h",))
    components.hints["messaging.telegram.bot-component"] = hint
    result = await host.describe_identify_instances_for_revision(
        "demo", "d", "b", "r", ["messaging.telegram.bot", "teams", "none"]
    )
    assert result == {"messaging.telegram.bot": hint, "teams": None, "none": None}


async def test_invoke_provider_reaches_the_one_binding_pack(
    host: RunnerHost, components: Components
) -> None:
    await revision(host, "main", "tg")
    result = await host.invoke_provider_for_revision(
        "demo", "d", "b", "r", "messaging.telegram.bot", "ingest_http", b'{"x":1}', "corr", "trace"
    )
    assert result == {"ok": True, "pack": "tg"}
    pack, op, data, ctx = components.invocations[0]
    assert (pack, op, data) == ("tg", "ingest_http", b'{"x":1}')
    assert (ctx.correlation_id, ctx.idempotency_key, ctx.trace_id) == ("corr", "corr", "trace")
    assert (ctx.flow_id, ctx.node_id, ctx.attempt) == (
        "provider-webhook/messaging.telegram.bot",
        None,
        1,
    )


async def test_invoke_provider_failures(host: RunnerHost) -> None:
    from greentic_runner.errors import ProviderError

    await revision(host, "tg", "tg2", "teams")
    with pytest.raises(
        ProviderError,
        match=r"^ambiguous provider_type `messaging.telegram.bot` in revision \(deployment d, revision r\): multiple packs bind the same type",
    ):
        await host.invoke_provider_for_revision(
            "demo", "d", "b", "r", "messaging.telegram.bot", "ingest_http", b"{}"
        )
    with pytest.raises(
        ProviderError,
        match=r"^no pack in revision binds provider_type `slack` \(deployment d, revision r\)$",
    ):
        await host.invoke_provider_for_revision("demo", "d", "b", "r", "slack", "x", b"{}")
    with pytest.raises(ProviderError, match=r"declared ops: \[\]$"):
        await host.invoke_provider_for_revision("demo", "d", "b", "r", "teams", "send", b"{}")


async def test_undeclared_op_lists_the_declared_ones(host: RunnerHost) -> None:
    from greentic_runner.errors import ProviderError

    await revision(host, "tg")
    with pytest.raises(ProviderError) as info:
        await host.invoke_provider_for_revision(
            "demo", "d", "b", "r", "messaging.telegram.bot", "delete_all", b"{}"
        )
    assert str(info.value) == (
        "op `delete_all` is not declared for provider_type `messaging.telegram.bot` in revision "
        '(deployment d, revision r); declared ops: ["ingest_http"]'
    )
