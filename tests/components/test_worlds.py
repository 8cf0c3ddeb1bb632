"""Each node world end to end through WasmInvoker, plus the load-time world checks."""

from __future__ import annotations

import pytest

from greentic_runner.components.invoker import ComponentCall, ExecCtx
from greentic_runner.components.sandbox import ComponentCallError
from greentic_runner.components.wasm import WasmInvoker
from greentic_runner.components.world_node import LegacyNode, Node06
from greentic_runner.errors import ComponentError

from .conftest import PackFactory

PAYLOAD = {"name": "Ada", "n": [1, 2.5, None, True], "nested": {"k": "v"}}


async def test_node06_echo_round_trips_json_through_cbor(
    invoker: WasmInvoker, make_pack: PackFactory, ctx: ExecCtx
) -> None:
    pack = make_pack("echo06")
    assert await invoker.invoke(pack, ComponentCall("echo06", "run", PAYLOAD, ctx)) == PAYLOAD
    loaded = await invoker.load(pack, "echo06")
    assert isinstance(loaded.plan.node, Node06)


async def test_node06_envelope_carries_ctx_flow_step_and_component(
    invoker: WasmInvoker, make_pack: PackFactory
) -> None:
    pack = make_pack("caps06")
    ctx = ExecCtx(
        tenant="acme",
        env="prod",
        team="ops",
        user="u1",
        trace_id="t-1",
        correlation_id="c-1",
        idempotency_key="i-1",
        deadline_unix_ms=None,
        attempt=2,
        i18n_id="en",
        flow_id="welcome",
        node_id="greet",
    )
    out = await invoker.invoke(pack, ComponentCall("caps06", "ctx", {}, ctx))
    assert out == {
        "tenant_id": "acme",
        "team_id": "ops",
        "user_id": "u1",
        "env_id": "prod",
        "trace_id": "t-1",
        "correlation_id": "c-1",
        "deadline_ms": 2**64 - 1,  # u64::MAX: no deadline
        "attempt": 2,
        "idempotency_key": "i-1",
        "i18n_id": "en",
        "flow_id": "welcome",
        "step_id": "greet",
        "component_id": "caps06",
        "envelope_attempt": 2,
        "metadata": None,
    }


async def test_node06_defaults_step_id_and_empty_strings(
    invoker: WasmInvoker, make_pack: PackFactory
) -> None:
    out = await invoker.invoke(
        make_pack("caps06"), ComponentCall("caps06", "ctx", {}, ExecCtx(tenant="acme"))
    )
    assert (out["step_id"], out["flow_id"], out["trace_id"], out["i18n_id"]) == (
        "component.exec",
        "",
        "",
        "",
    )


async def test_node06_greet_operation(
    invoker: WasmInvoker, make_pack: PackFactory, ctx: ExecCtx
) -> None:
    out = await invoker.invoke(make_pack("caps06"), ComponentCall("caps06", "greet", PAYLOAD, ctx))
    assert out == {"greeting": "hello Ada"}


async def test_node06_node_error_maps_to_ok_false(
    invoker: WasmInvoker, make_pack: PackFactory, ctx: ExecCtx
) -> None:
    out = await invoker.invoke(make_pack("caps06"), ComponentCall("caps06", "fail", {}, ctx))
    assert out == {
        "ok": False,
        "error": {
            "code": "bad_input",
            "message": "name is required",
            "retryable": True,
            "backoff_ms": 250,
            "details": {"field": "name"},
        },
    }


async def test_node06_ok_false_result_is_invocation_failed(
    invoker: WasmInvoker, make_pack: PackFactory, ctx: ExecCtx
) -> None:
    out = await invoker.invoke(make_pack("caps06"), ComponentCall("caps06", "not-ok", {}, ctx))
    assert out == {
        "ok": False,
        "error": {
            "code": "COMPONENT_INVOCATION_FAILED",
            "message": '{"reason":"nope"}',
            "retryable": False,
        },
    }


async def test_node06_undecodable_output_is_a_payload_error(
    invoker: WasmInvoker, make_pack: PackFactory, ctx: ExecCtx
) -> None:
    pack = make_pack("caps06")
    with pytest.raises(ComponentCallError) as caught:
        await invoker.invoke(pack, ComponentCall("caps06", "garbage", {}, ctx))
    assert caught.value.kind == "payload"
    message = str(caught.value)
    for part in ("caps06", "garbage", "tenant acme", "pack demo", "neither CBOR nor UTF-8"):
        assert part in message
    # the failed call leaves nothing behind
    assert await invoker.invoke(pack, ComponentCall("caps06", "echo", [1], ctx)) == [1]


async def test_invocation_envelope_input_contributes_its_inner_payload(
    invoker: WasmInvoker, make_pack: PackFactory, ctx: ExecCtx
) -> None:
    envelope = {
        "ctx": {"tenant": "acme"},
        "flow_id": "f",
        "op": "run",
        "payload": list(b'{"inner":true}'),
    }
    out = await invoker.invoke(make_pack("echo06"), ComponentCall("echo06", "run", envelope, ctx))
    assert out == {"inner": True}


@pytest.mark.parametrize("ref", ["json04", "json05", "json05_l19"])
async def test_json_worlds_echo_and_map_results(
    invoker: WasmInvoker, make_pack: PackFactory, ctx: ExecCtx, ref: str
) -> None:
    pack = make_pack(ref)
    loaded = await invoker.load(pack, ref)
    assert isinstance(loaded.plan.node, LegacyNode)
    assert not loaded.plan.node.cbor
    assert await invoker.invoke(pack, ComponentCall(ref, "run", PAYLOAD, ctx)) == PAYLOAD
    # ok("") is null; a non-JSON body is kept as a JSON string (here: the raw tenant name)
    assert await invoker.invoke(pack, ComponentCall(ref, "empty", PAYLOAD, ctx)) is None
    assert await invoker.invoke(pack, ComponentCall(ref, "tenant", PAYLOAD, ctx)) == "acme"
    assert await invoker.invoke(pack, ComponentCall(ref, "fail", PAYLOAD, ctx)) == {
        "ok": False,
        "error": {
            "code": "E_FAIL",
            "message": "asked to fail",
            "retryable": True,
            "backoff_ms": 250,
            "details": {"why": "test"},
        },
    }


async def test_legacy_context_shapes_are_detected_by_reflection(
    invoker: WasmInvoker, make_pack: PackFactory
) -> None:
    pack = make_pack("json04", "json05", "json05_l19")
    shapes = {}
    for ref in ("json04", "json05", "json05_l19"):
        node = (await invoker.load(pack, ref)).plan.node
        assert isinstance(node, LegacyNode)
        tenant_ty = dict(node.ctx_ty.fields)["tenant"]
        shapes[ref] = (node.world, len(tenant_ty.fields), len(node.ctx_ty.fields))
    assert shapes == {
        "json04": ("greentic:component/node@0.4.0", 8, 3),
        "json05": ("greentic:component/node@0.5.0", 9, 4),
        "json05_l19": ("greentic:component/node@0.5.0", 19, 4),
    }


async def test_wrong_world_fails_to_load_listing_exports(
    invoker: WasmInvoker, make_pack: PackFactory, ctx: ExecCtx
) -> None:
    pack = make_pack("noworld")
    with pytest.raises(ComponentError) as caught:
        await invoker.invoke(pack, ComponentCall("noworld", "run", {}, ctx))
    message = str(caught.value)
    assert "component noworld of pack demo cannot be loaded" in message
    assert "exports none of the supported worlds" in message
    assert "greentic-test:noworld/thing" in message


async def test_preload_rejects_a_component_importing_what_the_host_lacks(
    invoker: WasmInvoker, make_pack: PackFactory
) -> None:
    pack = make_pack("echo06", "needs_import")
    with pytest.raises(ComponentCallError) as caught:
        await invoker.preload(pack)
    assert caught.value.kind == "load"
    assert "needs_import" in str(caught.value)
    assert "greentic-test:needs-import/missing-api" in str(caught.value)
    assert "does not provide" in str(caught.value)


async def test_corrupt_wasm_fails_to_load_with_the_file_and_reason(
    invoker: WasmInvoker, make_pack: PackFactory, ctx: ExecCtx
) -> None:
    pack = make_pack(extra={"broken": b"\x00asm\x0d\x00\x01\x00garbage"})
    with pytest.raises(ComponentCallError) as caught:
        await invoker.invoke(pack, ComponentCall("broken", "run", {}, ctx))
    assert caught.value.kind == "load"
    assert "components/broken.wasm is not a valid WebAssembly component" in str(caught.value)


async def test_missing_or_undeclared_component(
    invoker: WasmInvoker, make_pack: PackFactory, ctx: ExecCtx
) -> None:
    pack = make_pack("echo06")
    (pack.source / "components" / "echo06.wasm").unlink()
    with pytest.raises(ComponentCallError, match="components/echo06.wasm is missing"):
        await invoker.invoke(pack, ComponentCall("echo06", "run", {}, ctx))
    with pytest.raises(ComponentCallError, match="declares no such component"):
        await invoker.invoke(pack, ComponentCall("ghost", "run", {}, ctx))


async def test_provider_only_component_is_not_a_node(
    invoker: WasmInvoker, make_pack: PackFactory, ctx: ExecCtx
) -> None:
    with pytest.raises(ComponentCallError) as caught:
        await invoker.invoke(
            make_pack("identity_none"), ComponentCall("identity_none", "x", {}, ctx)
        )
    assert "does not export a node world" in str(caught.value)
    assert "instance-identity-api@0.1.0" in str(caught.value)
