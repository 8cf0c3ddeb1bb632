"""Provider schema-core invoke and the identify probes against real components."""

from __future__ import annotations

import orjson
import pytest

from greentic_runner.components.invoker import ExecCtx
from greentic_runner.components.policy import ComponentPolicy
from greentic_runner.components.sandbox import ComponentCallError
from greentic_runner.components.scope import HostServices
from greentic_runner.components.wasm import WasmInvoker
from greentic_runner.packs.providers import NO_MATCH, UNSUPPORTED, IdentifyOutcome, ProviderBinding

from .conftest import ARTIFACTS, TEST_LIMITS, PackFactory


def _binding(ref: str) -> ProviderBinding:
    return ProviderBinding(
        provider_type="messaging.test",
        component_ref=ref,
        export="greentic:provider-schema-core/schema-core-api@1.0.0",
        world="greentic:provider-schema-core/schema-core@1.0.0",
        provider_id="messaging.test",
    )


def _payload(headers: dict[str, str] | None = None, body: object = None) -> bytes:
    wrapper = {
        "headers": [{"name": k, "value": v} for k, v in (headers or {}).items()],
        "body": body,
    }
    return orjson.dumps(wrapper)


async def test_invoke_provider_returns_the_json_output(
    invoker: WasmInvoker, make_pack: PackFactory, ctx: ExecCtx
) -> None:
    pack = make_pack("provider")
    out = await invoker.invoke_provider(pack, _binding("provider"), "send", b'{"to":"u1"}', ctx)
    assert out == {"ok": True, "message_id": "m-1", "to": "u1"}
    echo = await invoker.invoke_provider(pack, _binding("provider"), "echo", b"[1,2]", ctx)
    assert echo == {"op": "echo", "input": [1, 2]}


async def test_non_json_provider_output_is_a_clear_error(
    invoker: WasmInvoker, make_pack: PackFactory, ctx: ExecCtx
) -> None:
    pack = make_pack("provider")
    with pytest.raises(ComponentCallError) as caught:
        await invoker.invoke_provider(pack, _binding("provider"), "bad-json", b"{}", ctx)
    assert caught.value.kind == "payload"
    assert "provider output is not JSON" in str(caught.value)
    assert "'this is not json'" in str(caught.value)
    assert "component provider failed in operation bad-json (tenant acme, pack demo)" in str(
        caught.value
    )


async def test_provider_trap_fails_cleanly_and_next_call_works(
    invoker: WasmInvoker, make_pack: PackFactory, ctx: ExecCtx
) -> None:
    pack = make_pack("provider")
    with pytest.raises(ComponentCallError) as caught:
        await invoker.invoke_provider(pack, _binding("provider"), "crash", b"{}", ctx)
    assert caught.value.kind == "trap"
    out = await invoker.invoke_provider(pack, _binding("provider"), "send", b'{"to":"u2"}', ctx)
    assert out["to"] == "u2"


async def test_invoke_provider_on_a_node_component_names_what_it_exports(
    invoker: WasmInvoker, make_pack: PackFactory, ctx: ExecCtx
) -> None:
    with pytest.raises(ComponentCallError) as caught:
        await invoker.invoke_provider(make_pack("echo06"), _binding("echo06"), "send", b"{}", ctx)
    assert "does not export provider schema-core@1.0.0" in str(caught.value)
    assert "greentic:component/node@0.6.0" in str(caught.value)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (
            _payload({"X-Test-Secret-Token": "tok-a"}, {"text": "hi"}),
            IdentifyOutcome.identified("provider-a"),
        ),
        (_payload({}, {"recipient": {"id": "bot-b"}}), IdentifyOutcome.identified("provider-b")),
        (orjson.dumps({"recipient": {"id": "bot-b"}}), IdentifyOutcome.identified("provider-b")),
        (_payload({"x-test-secret-token": "wrong"}, {"recipient": {"id": "x"}}), NO_MATCH),
    ],
    ids=["header", "wrapped-body", "bare-body", "no-match"],
)
async def test_identify_instance_outcomes(
    invoker: WasmInvoker, make_pack: PackFactory, payload: bytes, expected: IdentifyOutcome
) -> None:
    outcome = await invoker.identify_instance(make_pack("provider"), _binding("provider"), payload)
    assert outcome == expected


async def test_identify_probe_runs_with_nothing_allowed(make_pack: PackFactory) -> None:
    # Even a tenant whose policy allows every secret gets nothing during a probe.
    services = HostServices(
        policy_for=lambda ctx, pack: ComponentPolicy(secrets_allowed=lambda k: True)
    )
    async with WasmInvoker(services=services, limits=TEST_LIMITS, cache_dir=ARTIFACTS) as invoker:
        outcome = await invoker.identify_instance(
            make_pack("provider"), _binding("provider"), _payload({}, {"probe": "secret"})
        )
    assert outcome == IdentifyOutcome.identified("secret-denied")


async def test_identify_without_the_export_is_unsupported(
    invoker: WasmInvoker, make_pack: PackFactory
) -> None:
    outcome = await invoker.identify_instance(make_pack("echo06"), _binding("echo06"), _payload())
    assert outcome == UNSUPPORTED


async def test_identify_returning_none_is_no_match(
    invoker: WasmInvoker, make_pack: PackFactory
) -> None:
    pack = make_pack("identity_none")
    assert await invoker.identify_instance(pack, _binding("identity_none"), _payload()) == NO_MATCH


async def test_describe_identify_instance_hint(
    invoker: WasmInvoker, make_pack: PackFactory
) -> None:
    hint = await invoker.describe_identify_instance(make_pack("provider"), _binding("provider"))
    assert hint is not None
    assert hint.version == 1
    assert hint.headers == ("x-test-secret-token",)
    assert hint.raw["sources"][1] == {"body_path": {"json_pointer": "/recipient/id"}}


@pytest.mark.parametrize("ref", ["identity_none", "echo06"], ids=["none", "no-export"])
async def test_describe_identify_instance_none_cases(
    invoker: WasmInvoker, make_pack: PackFactory, ref: str
) -> None:
    assert await invoker.describe_identify_instance(make_pack(ref), _binding(ref)) is None


async def test_describe_probe_failures_are_cached_as_none(
    invoker: WasmInvoker, make_pack: PackFactory
) -> None:
    pack = make_pack("echo06")
    (pack.source / "components" / "echo06.wasm").write_bytes(b"not wasm")
    assert await invoker.describe_identify_instance(pack, _binding("echo06")) is None
    assert await invoker.describe_identify_instance(pack, _binding("echo06")) is None
    assert invoker.cache.stats.compiles == 0
