"""A provider test component in Python: schema-core invoke (JSON bytes) and the identify probes.

identify-instance accepts the host wrapper {"headers": [{"name", "value"}], "body": ...} and a
bare body. Header x-test-secret-token "tok-a" -> "provider-a"; body /recipient/id "bot-b" ->
"provider-b"; body {"probe": "secret"} reports whether the secrets import was usable.
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import secrets_store

MANIFEST = {
    "provider_type": "messaging.test",
    "capabilities": ["messaging"],
    "ops": ["send", "echo", "bad-json", "crash"],
}


class SchemaCoreApi(exports.SchemaCoreApi):
    def describe(self):
        return json.dumps(MANIFEST).encode()

    def validate_config(self, config_json):
        config = json.loads(config_json)
        return json.dumps({"valid": isinstance(config, dict)}).encode()

    def healthcheck(self):
        return json.dumps({"status": "ok"}).encode()

    def invoke(self, op, input_json):
        if op == "bad-json":
            return b"this is not json"
        if op == "crash":
            raise RuntimeError("provider crashed on purpose")
        payload = json.loads(input_json) if input_json else None
        if op == "send":
            return json.dumps({"ok": True, "message_id": "m-1", "to": payload.get("to")}).encode()
        return json.dumps({"op": op, "input": payload}).encode()


def _body_and_headers(raw):
    doc = json.loads(raw)
    if isinstance(doc, dict) and "headers" in doc and "body" in doc:
        headers = {h["name"].lower(): h["value"] for h in doc["headers"]}
        return doc["body"], headers
    return doc, {}


class InstanceIdentityApi(exports.InstanceIdentityApi):
    def identify_instance(self, input_json):
        body, headers = _body_and_headers(input_json)
        if isinstance(body, dict) and body.get("probe") == "secret":
            try:
                secrets_store.get("PROVIDER_TOKEN")
            except Err:
                return "secret-denied"
            return "secret-visible"
        if headers.get("x-test-secret-token") == "tok-a":
            return "provider-a"
        recipient = body.get("recipient") if isinstance(body, dict) else None
        if isinstance(recipient, dict) and recipient.get("id") == "bot-b":
            return "provider-b"
        return None


class InstanceIdentityDescribeApi(exports.InstanceIdentityDescribeApi):
    def describe_identify_instance(self):
        hint = {
            "version": 1,
            "sources": [
                {"header": {"name": "X-Test-Secret-Token"}},
                {"body_path": {"json_pointer": "/recipient/id"}},
            ],
        }
        return json.dumps(hint).encode()
