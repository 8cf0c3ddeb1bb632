"""node@0.6.0 test component in Python: payloads are CBOR; each op exercises one host import.

ops: echo, greet, ctx, fail (node-error), not-ok (ok=false), garbage (undecodable output),
secret, http, state, log, config, cancel, env, fs, stdout.
"""

import os
import sys

import mini_cbor
from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import node
from wit_world.imports import (
    control,
    core,
    http_client,
    logger_api,
    runtime_config,
    secrets_store,
    state_store,
    types,
)


def _ok(value):
    return node.InvocationResult(
        ok=True, output_cbor=mini_cbor.dumps(value), output_metadata_cbor=None
    )


def _host_error(err):
    value = err.value
    if isinstance(value, (secrets_store.SecretsError, runtime_config.ConfigError)):
        return {"error": value.name.lower().replace("_", "-")}
    return {"error": {"code": value.code, "message": value.message}}


def _span(envelope):
    return types.SpanContext(
        tenant=envelope.ctx.tenant_id,
        session_id=None,
        flow_id=envelope.flow_id,
        node_id=envelope.step_id,
        provider="caps06",
        start_ms=None,
        end_ms=None,
    )


class Node(exports.Node):
    def describe(self):
        raise NotImplementedError("describe is not used by these tests")

    def invoke(self, op, envelope):
        payload = mini_cbor.loads(envelope.payload_cbor)
        if op == "echo":
            return _ok(payload)
        if op == "greet":
            return _ok({"greeting": "hello " + str(payload.get("name", "?"))})
        if op == "ctx":
            ctx = envelope.ctx
            return _ok(
                {
                    "tenant_id": ctx.tenant_id,
                    "team_id": ctx.team_id,
                    "user_id": ctx.user_id,
                    "env_id": ctx.env_id,
                    "trace_id": ctx.trace_id,
                    "correlation_id": ctx.correlation_id,
                    "deadline_ms": ctx.deadline_ms,
                    "attempt": ctx.attempt,
                    "idempotency_key": ctx.idempotency_key,
                    "i18n_id": ctx.i18n_id,
                    "flow_id": envelope.flow_id,
                    "step_id": envelope.step_id,
                    "component_id": envelope.component_id,
                    "envelope_attempt": envelope.attempt,
                    "metadata": envelope.metadata_cbor,
                }
            )
        if op == "fail":
            raise Err(
                core.NodeError(
                    code="bad_input",
                    message="name is required",
                    retryable=True,
                    backoff_ms=250,
                    details=mini_cbor.dumps({"field": "name"}),
                )
            )
        if op == "not-ok":
            return node.InvocationResult(
                ok=False, output_cbor=mini_cbor.dumps({"reason": "nope"}), output_metadata_cbor=None
            )
        if op == "garbage":
            return node.InvocationResult(
                ok=True, output_cbor=b"\xff\xfe\x00", output_metadata_cbor=None
            )
        if op == "secret":
            try:
                value = secrets_store.get(payload["key"])
            except Err as err:
                return _ok(_host_error(err))
            return _ok({"value": None if value is None else value.decode()})
        if op == "http":
            request = http_client.Request(
                method="GET", url=payload["url"], headers=[("x-test", "caps06")], body=None
            )
            try:
                response = http_client.send(request, None, None)
            except Err as err:
                return _ok(_host_error(err))
            body = response.body.decode() if response.body is not None else None
            return _ok({"status": response.status, "body": body})
        if op == "state":
            try:
                if "value" in payload:
                    state_store.write(payload["key"], payload["value"].encode(), None)
                return _ok({"read": state_store.read(payload["key"], None).decode()})
            except Err as err:
                return _ok(_host_error(err))
        if op == "state-if-absent":
            try:
                created = state_store.write_if_absent(payload["key"], b"1", None)
            except Err as err:
                return _ok(_host_error(err))
            return _ok({"created": created})
        if op == "log":
            logger_api.log(
                _span(envelope), [("message", payload.get("message", "")), ("level", "info")], None
            )
            return _ok({"logged": True})
        if op == "config":
            try:
                value = runtime_config.get(payload["key"])
            except Err as err:
                return _ok(_host_error(err))
            return _ok({"value": None if value is None else value.decode()})
        if op == "cancel":
            return _ok({"cancel": control.should_cancel()})
        if op == "env":
            return _ok(dict(os.environ))
        if op == "fs":
            try:
                with open(payload.get("path", "/etc/hostname")) as handle:
                    return _ok({"read": handle.read()})
            except OSError as exc:
                return _ok({"error": type(exc).__name__})
        if op == "stdout":
            print(payload.get("text", ""))
            sys.stdout.flush()
            return _ok({"printed": True})
        return _ok({"ok": False, "error": "unknown op " + op})
