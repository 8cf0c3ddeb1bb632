"""Node adapters: the ABIs a flow node's component may speak (wit-contracts.md §2, §3).

* :class:`Node06` — ``greentic:component/node@0.6.0`` ``invoke(op, envelope)``, CBOR payloads.
* :class:`LegacyNode` — ``invoke(ctx, op, input)`` of ``node@0.5.0``/``@0.4.0`` (JSON text, any
  of the L8/L9/L19 context shapes) and the early ``node@0.6.0`` shape A (CBOR bytes).
* :class:`Runtime06` — ``component-runtime@0.6.0`` ``run(input, state)`` (CBOR, state ignored).

Each adapter is built from the component's reflected export types; building fails with
ShapeError when the types are not the ones the adapter speaks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wasmtime import Store
from wasmtime import component as cm

from .exportcall import ExportCall
from .invoker import ComponentCall, ExecCtx
from .payloads import (
    PayloadError,
    cbor_to_json,
    envelope_payload,
    json_text,
    json_to_cbor,
    output_from_cbor,
    output_from_json_text,
)
from .wit_values import Filler, ShapeError, export_func, field, filler, is_bytes, type_name

DEFAULT_STEP_ID = "component.exec"
INVOCATION_FAILED = "COMPONENT_INVOCATION_FAILED"


def tenant_fields(ctx: ExecCtx) -> dict[str, Any]:
    """Every tenant-ctx field name any shape uses, filled as the reference runner fills them."""
    return {
        "env": ctx.env,
        "env-id": ctx.env,
        "tenant": ctx.tenant,
        "tenant-id": ctx.tenant,
        "team": ctx.team,
        "team-id": ctx.team,
        "user": ctx.user,
        "user-id": ctx.user,
        "trace-id": ctx.trace_id,
        "i18n-id": ctx.i18n_id,
        "correlation-id": ctx.correlation_id,
        "attributes": [],
        "session-id": ctx.session_id or ctx.correlation_id,
        "flow-id": ctx.flow_id,
        "node-id": ctx.node_id,
        "provider-id": None,
        "deadline-ms": ctx.deadline_unix_ms,
        "deadline-unix-ms": ctx.deadline_unix_ms,
        "attempt": ctx.attempt,
        "idempotency-key": ctx.idempotency_key,
        "impersonation": None,
    }


def exec_fields(ctx: ExecCtx) -> dict[str, Any]:
    """An ``exec-ctx``: {tenant: tenant-ctx, i18n-id?, flow-id, node-id?}."""
    return {
        "tenant": tenant_fields(ctx),
        "i18n-id": ctx.i18n_id,
        "flow-id": ctx.flow_id or "",
        "node-id": ctx.node_id,
    }


def node_error(
    code: Any, message: Any, retryable: Any, backoff_ms: Any = None, details: Any = None
) -> dict[str, Any]:
    """The invoker's JSON for a component-reported error (spec §2.3)."""
    error: dict[str, Any] = {
        "code": str(code),
        "message": str(message),
        "retryable": bool(retryable),
    }
    if backoff_ms is not None:
        error["backoff_ms"] = int(backoff_ms)
    if details is not None:
        error["details"] = details
    return {"ok": False, "error": error}


def _details_from_cbor(data: bytes | None) -> Any:
    if data is None:
        return None
    try:
        return cbor_to_json(data)
    except PayloadError:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return list(data)


def _probe_ctx() -> ExecCtx:
    return ExecCtx(tenant="probe", flow_id="probe", node_id="probe")


@dataclass(frozen=True, slots=True)
class Node06:
    """``invoke(op, envelope: invocation-envelope) -> result<invocation-result, node-error>``."""

    world: str
    envelope_ty: cm.RecordType
    call: ExportCall
    fill_envelope: Filler

    @classmethod
    def build(cls, world: str, funcs: dict[str, Any], index: cm.ExportIndex) -> Node06:
        fty = export_func(funcs, "invoke", world)
        params = fty.params
        if (
            len(params) != 2
            or not isinstance(params[0][1], cm.String)
            or not isinstance(params[1][1], cm.RecordType)
            or not isinstance(fty.result, cm.ResultType)
        ):
            raise ShapeError(f"{world} invoke is not invoke(op, envelope) -> result")
        envelope_ty = params[1][1]
        names = {name for name, _ in envelope_ty.fields}
        if not {"ctx", "payload-cbor"} <= names:
            raise ShapeError(f"{world} envelope is {type_name(envelope_ty)}")
        fill = filler(envelope_ty, f"{world} invocation-envelope")
        adapter = cls(world, envelope_ty, ExportCall.build(fty, index, f"{world}#invoke"), fill)
        adapter.envelope(_probe_ctx(), "probe", b"")  # raises ShapeError on unknown fields
        return adapter

    def envelope(self, ctx: ExecCtx, component_ref: str, payload: bytes) -> cm.Record:
        envelope: cm.Record = self.fill_envelope(
            {
                "ctx": tenant_fields(ctx),
                "flow-id": ctx.flow_id or "",
                "step-id": ctx.node_id or DEFAULT_STEP_ID,
                "component-id": component_ref,
                "attempt": ctx.attempt,
                "payload-cbor": payload,
                "metadata-cbor": None,
            }
        )
        return envelope

    def invoke(self, store: Store, instance: cm.Instance, call: ComponentCall) -> Any:
        payload = json_to_cbor(envelope_payload(call.input))
        envelope = self.envelope(call.ctx, call.component_ref, payload)
        result = self.call(store, instance, call.operation, envelope)
        tag = result.tag if isinstance(result, cm.Variant) else "ok"
        body = result.payload if isinstance(result, cm.Variant) else result
        if tag == "err":
            return node_error(
                field(body, "code"),
                field(body, "message"),
                field(body, "retryable"),
                field(body, "backoff-ms"),
                _details_from_cbor(field(body, "details")),
            )
        output = output_from_cbor(field(body, "output-cbor") or b"")
        if not field(body, "ok"):
            return node_error(INVOCATION_FAILED, json_text(output), False)
        return output


@dataclass(frozen=True, slots=True)
class LegacyNode:
    """``invoke(ctx, op, input) -> invoke-result``: JSON text (0.5/0.4) or CBOR bytes (0.6 A)."""

    world: str
    ctx_ty: cm.RecordType
    cbor: bool
    call: ExportCall
    fill_ctx: Filler
    nested: bool  # exec-ctx wraps a tenant-ctx record in `tenant`; shape A's invoke-ctx is flat

    @classmethod
    def build(cls, world: str, funcs: dict[str, Any], index: cm.ExportIndex) -> LegacyNode:
        fty = export_func(funcs, "invoke", world)
        params = fty.params
        if len(params) != 3 or not isinstance(params[0][1], cm.RecordType):
            raise ShapeError(f"{world} invoke is not invoke(ctx, op, input)")
        input_ty = params[2][1]
        if not (isinstance(input_ty, cm.String) or is_bytes(input_ty)):
            raise ShapeError(f"{world} invoke input is {type_name(input_ty)}")
        ctx_ty = params[0][1]
        nested = isinstance(dict(ctx_ty.fields).get("tenant"), cm.RecordType)
        fill = filler(ctx_ty, f"{world} ctx")
        export = ExportCall.build(fty, index, f"{world}#invoke")
        adapter = cls(world, ctx_ty, is_bytes(input_ty), export, fill, nested)
        adapter.context(_probe_ctx())
        return adapter

    def context(self, ctx: ExecCtx) -> cm.Record:
        value: cm.Record = self.fill_ctx(exec_fields(ctx) if self.nested else tenant_fields(ctx))
        return value

    def invoke(self, store: Store, instance: cm.Instance, call: ComponentCall) -> Any:
        data = envelope_payload(call.input)
        value: Any = json_to_cbor(data) if self.cbor else json_text(data)
        result = self.call(store, instance, self.context(call.ctx), call.operation, value)
        if isinstance(result, cm.Variant):
            tag, body = result.tag, result.payload
        else:
            tag, body = ("err", result) if isinstance(result, cm.Record) else ("ok", result)
        if tag == "err":
            raw_details = field(body, "details")
            details = (
                _details_from_cbor(raw_details)
                if isinstance(raw_details, bytes)
                else (None if raw_details is None else output_from_json_text(raw_details))
            )
            return node_error(
                field(body, "code"),
                field(body, "message"),
                field(body, "retryable"),
                field(body, "backoff-ms"),
                details,
            )
        if isinstance(body, bytes):
            return output_from_cbor(body)
        return output_from_json_text(body or "")


@dataclass(frozen=True, slots=True)
class Runtime06:
    """``component-runtime@0.6.0`` ``run(input: list<u8>, state: list<u8>) -> run-result``."""

    world: str
    call: ExportCall

    @classmethod
    def build(cls, world: str, funcs: dict[str, Any], index: cm.ExportIndex) -> Runtime06:
        fty = export_func(funcs, "run", world)
        params = fty.params
        if len(params) != 2 or not all(is_bytes(ty) for _, ty in params):
            raise ShapeError(f"{world} run is not run(input: list<u8>, state: list<u8>)")
        return cls(world, ExportCall.build(fty, index, f"{world}#run"))

    def invoke(self, store: Store, instance: cm.Instance, call: ComponentCall) -> Any:
        payload = json_to_cbor(envelope_payload(call.input))
        result = self.call(store, instance, payload, json_to_cbor({}))
        return output_from_cbor(field(result, "output") or b"")


NodeAdapter = Node06 | LegacyNode | Runtime06
