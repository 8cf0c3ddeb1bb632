"""Generic webhook: ``ANY /webhook/{flow_id}`` runs a ``webhook`` flow with the whole request.

* The flow must exist (404) and have type ``webhook`` (409); the request path must pass the
  tenant's ``webhook_policy`` (403).
* ``Idempotency-Key``: a repeat of a finished request gets the remembered response without a
  run; a repeat while the first still runs gets 409. The key is also the session hint.
* Flow input: ``{method, path, query, headers, body}`` where ``body`` is ``null``,
  ``{"text": …}`` (UTF-8; plus ``"json"`` when it parses as JSON) or ``{"base16": …}``.
* Response, from the flow output (one reply's payload, or the list of them): a string is a
  text/plain body; an object with ``status``/``headers``/``body`` (or ``text``) sets those;
  anything else is returned as JSON.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from ...activity import Activity
from ...errors import TenantError
from ..errors import HttpError, JSONResponse
from ..limits import json_depth_exceeds
from .common import Inbound, inbound


def _body(inb: Inbound) -> Any:
    if not inb.body:
        return None
    try:
        text = inb.body.decode("utf-8")
    except UnicodeDecodeError:
        return {"base16": inb.body.hex()}
    body: dict[str, Any] = {"text": text}
    if "json" in inb.request.headers.get("content-type", ""):
        try:
            decoded = orjson.loads(inb.body)
        except orjson.JSONDecodeError:
            return body
        if not json_depth_exceeds(decoded, inb.ctx.settings.limits.max_json_depth):
            body["json"] = decoded
    return body


def normalize_request(inb: Inbound) -> dict[str, Any]:
    request = inb.request
    return {
        "method": request.method,
        "path": request.url.path,
        "query": request.url.query or None,
        "headers": {k.lower(): v for k, v in request.headers.items()},
        "body": _body(inb),
    }


def _body_bytes(value: Any) -> tuple[bytes, str]:
    if isinstance(value, str):
        return value.encode(), "text/plain; charset=utf-8"
    if isinstance(value, dict) and isinstance(value.get("text"), str):
        return value["text"].encode(), "text/plain; charset=utf-8"
    if isinstance(value, dict) and isinstance(value.get("base16"), str):
        try:
            return bytes.fromhex(value["base16"]), "application/octet-stream"
        except ValueError:
            pass
    return orjson.dumps(value), "application/json"


def build_response(value: Any) -> Response:
    """The reference's webhook response mapping of a flow output."""
    if isinstance(value, str):
        return PlainTextResponse(value)
    if not isinstance(value, dict):
        return JSONResponse(value)
    status = value.get("status")
    code = status if isinstance(status, int) and 100 <= status <= 599 else 200
    headers = (
        {str(k): v for k, v in (value.get("headers") or {}).items() if isinstance(v, str)}
        if isinstance(value.get("headers"), dict)
        else {}
    )
    if "body" in value:
        content, media = _body_bytes(value["body"])
    elif "text" in value:
        content, media = _body_bytes(value["text"])
    else:
        content, media = orjson.dumps(value), "application/json"
    headers.setdefault("content-type", media)
    response = Response(content, status_code=code)
    for name, header_value in headers.items():
        response.headers[name] = header_value
    return response


async def dispatch(request: Request) -> Response:
    inb = await inbound(request, "webhook")
    flow_id = request.path_params["flow_id"]
    runtime = inb.ctx.host.active.load_pack(inb.tenant)
    if runtime is None:
        raise TenantError(f"tenant {inb.tenant} not loaded")
    descriptor = runtime.registry.flow_by_id(flow_id)
    if descriptor is None:
        raise HttpError(404, "flow_not_found", f"flow {flow_id} not found for tenant {inb.tenant}")
    if descriptor.flow_type != "webhook":
        raise HttpError(409, "not_a_webhook", f"flow {flow_id} is not registered as a webhook")
    path = request.url.path
    if not runtime.config.webhook_policy.is_allowed(path):
        raise HttpError(403, "forbidden", f"path {path} not permitted by webhook policy")
    key = request.headers.get("idempotency-key") or None
    activity = Activity.custom("webhook", normalize_request(inb)).with_(
        tenant=inb.tenant,
        pack_id=descriptor.pack_id,
        flow_id=flow_id,
        flow_type="webhook",
        provider_id="webhook",
        channel_id=path,
        conversation_id=path,
        session_id=key,
    )

    async def run() -> Response:
        replies = await inb.ctx.turns.run(inb.tenant, activity, "webhook")
        payloads = [reply.payload for reply in replies]
        return build_response(payloads[0] if len(payloads) == 1 else payloads)

    def in_flight(_: object) -> Response:
        raise HttpError(
            409,
            "idempotency_conflict",
            f"a request with Idempotency-Key {key} is still being processed",
        )

    return await inb.once(f"{flow_id}:{key}" if key else None, run, in_flight)
