"""fast2flow router test component: node@0.6.0 in Python, operation ``route``.

The request (CBOR) is the one of host-behaviour.md §4.2; the output is ``{"directive": ...}``.
The first word of ``envelope.text`` (lower-cased) chooses the answer, each in a different
accepted encoding:

  billing   {"Dispatch": {"target": "billing", "entities": [key=value words]}}
  faq       {"type": "dispatch", "target": "extras/faq", "entities": []}
  hours     {"Respond": {"message": "We are open 9:00-17:00."}}
  spam      {"Deny": {"reason": "messages like this are blocked"}}
  request   {"Respond": {"message": <JSON of the request and the invocation context>}}
  teleport  {"Teleport": {}}             (a directive the host does not know)
  mute      {"route": "billing"}         (no directive at all)
  fail      err(node-error)
  crash     an exception in the guest (a trap)
  other     "Continue"

mini_cbor.py is shared with caps06 (the build adds it to the Python path).
"""

import json

import mini_cbor
from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import node
from wit_world.imports import core


def _ok(value):
    return node.InvocationResult(
        ok=True, output_cbor=mini_cbor.dumps(value), output_metadata_cbor=None
    )


def _entities(words):
    found = []
    for word in words:
        if "=" in word:
            name, _, value = word.partition("=")
            found.append({"name": name, "value": value})
    return found


def _context(envelope):
    ctx = envelope.ctx
    return {
        "tenant_id": ctx.tenant_id,
        "i18n_id": ctx.i18n_id,
        "idempotency_key": ctx.idempotency_key,
        "correlation_id": ctx.correlation_id,
        "flow_id": envelope.flow_id,
        "step_id": envelope.step_id,
        "component_id": envelope.component_id,
    }


def route(request, envelope):
    text = request["envelope"]["text"]
    words = text.split()
    keyword = words[0].lower() if words else ""
    if keyword == "billing":
        return {"Dispatch": {"target": "billing", "entities": _entities(words[1:])}}
    if keyword == "faq":
        return {"type": "dispatch", "target": "extras/faq", "entities": []}
    if keyword == "hours":
        return {"Respond": {"message": "We are open 9:00-17:00."}}
    if keyword == "spam":
        return {"Deny": {"reason": "messages like this are blocked"}}
    if keyword == "request":
        seen = {"request": request, "ctx": _context(envelope)}
        return {"Respond": {"message": json.dumps(seen, sort_keys=True)}}
    if keyword == "teleport":
        return {"Teleport": {}}
    return "Continue"


class Node(exports.Node):
    def describe(self):
        return node.ComponentDescriptor(
            name="fast2flow-routing",
            version="0.1.0",
            summary="keyword router for the fast2flow tests",
            capabilities=[],
            ops=[],
            schemas=[],
            setup=None,
        )

    def invoke(self, op, envelope):
        if op != "route":
            raise Err(
                core.NodeError(
                    code="unknown_op",
                    message="unknown operation " + op,
                    retryable=False,
                    backoff_ms=None,
                    details=None,
                )
            )
        request = mini_cbor.loads(envelope.payload_cbor)
        first = (request["envelope"]["text"].split() or [""])[0].lower()
        if first == "crash":
            raise RuntimeError("router crashed on purpose")
        if first == "fail":
            raise Err(
                core.NodeError(
                    code="router_down",
                    message="routing index unavailable",
                    retryable=True,
                    backoff_ms=None,
                    details=None,
                )
            )
        if first == "mute":
            return _ok({"route": "billing"})
        return _ok({"directive": route(request, envelope)})
