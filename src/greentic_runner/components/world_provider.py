"""Provider adapters: schema-core ``invoke`` and the instance-identity probes (§4.3, §4.4)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import orjson
from wasmtime import Store
from wasmtime import component as cm

from ..packs.providers import NO_MATCH, IdentifyHint, IdentifyOutcome
from .exportcall import ExportCall
from .payloads import json_from_bytes
from .wit_values import ShapeError, export_func, is_bytes

log = logging.getLogger(__name__)

HINT_VERSION = 1


@dataclass(frozen=True, slots=True)
class SchemaCore:
    """``invoke(op: string, input-json: list<u8>) -> list<u8>`` (JSON in, JSON out)."""

    world: str
    call: ExportCall

    @classmethod
    def build(cls, world: str, funcs: dict[str, Any], index: cm.ExportIndex) -> SchemaCore:
        fty = export_func(funcs, "invoke", world)
        params = fty.params
        if (
            len(params) != 2
            or not isinstance(params[0][1], cm.String)
            or not is_bytes(params[1][1])
            or not is_bytes(fty.result)
        ):
            raise ShapeError(f"{world} invoke is not invoke(op, list<u8>) -> list<u8>")
        return cls(world, ExportCall.build(fty, index, f"{world}#invoke"))

    def invoke(self, store: Store, instance: cm.Instance, op: str, data: bytes) -> Any:
        output = self.call(store, instance, op, data)
        return json_from_bytes(output, "provider output")


@dataclass(frozen=True, slots=True)
class Identify:
    """``identify-instance(input-json: list<u8>) -> option<string>``."""

    world: str
    call: ExportCall

    @classmethod
    def build(cls, world: str, funcs: dict[str, Any], index: cm.ExportIndex) -> Identify:
        fty = export_func(funcs, "identify-instance", world)
        if len(fty.params) != 1 or not is_bytes(fty.params[0][1]):
            raise ShapeError(f"{world} identify-instance does not take list<u8>")
        return cls(world, ExportCall.build(fty, index, f"{world}#identify-instance"))

    def identify(self, store: Store, instance: cm.Instance, payload: bytes) -> IdentifyOutcome:
        provider_id = self.call(store, instance, payload)
        if provider_id is None:
            return NO_MATCH
        return IdentifyOutcome.identified(str(provider_id))


@dataclass(frozen=True, slots=True)
class DescribeIdentify:
    """``describe-identify-instance() -> option<list<u8>>`` (a JSON hint)."""

    world: str
    call: ExportCall

    @classmethod
    def build(cls, world: str, funcs: dict[str, Any], index: cm.ExportIndex) -> DescribeIdentify:
        fty = export_func(funcs, "describe-identify-instance", world)
        if fty.params:
            raise ShapeError(f"{world} describe-identify-instance takes parameters")
        return cls(world, ExportCall.build(fty, index, f"{world}#describe-identify-instance"))

    def describe(self, store: Store, instance: cm.Instance, label: str) -> IdentifyHint | None:
        raw = self.call(store, instance)
        if raw is None:
            return None
        return parse_hint(bytes(raw), label)


def parse_hint(raw: bytes, label: str) -> IdentifyHint | None:
    """Validate an IdentifyInstanceHint; malformed or wrong-version hints are None (logged).

    Shape: ``{"version": 1, "sources": [{"header": {"name": ...}} | {"body_path":
    {"json_pointer": "/..."}}]}``; unknown fields or source kinds are rejected; header names
    are lower-cased.
    """
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        log.warning("identify hint of %s is not JSON: %s", label, exc)
        return None
    problem = _hint_problem(doc)
    if problem is not None:
        log.warning("identify hint of %s rejected: %s", label, problem)
        return None
    headers = tuple(
        source["header"]["name"].lower() for source in doc["sources"] if "header" in source
    )
    doc["sources"] = [
        {"header": {"name": s["header"]["name"].lower()}} if "header" in s else s
        for s in doc["sources"]
    ]
    return IdentifyHint(version=HINT_VERSION, headers=headers, raw=doc)


def _hint_problem(doc: Any) -> str | None:
    if not isinstance(doc, dict):
        return "not an object"
    if set(doc) - {"version", "sources"}:
        return f"unknown fields {sorted(set(doc) - {'version', 'sources'})}"
    if doc.get("version") != HINT_VERSION or isinstance(doc.get("version"), bool):
        return f"unsupported version {doc.get('version')!r}"
    sources = doc.get("sources", [])
    if not isinstance(sources, list):
        return "sources is not a list"
    for source in sources:
        if not isinstance(source, dict) or len(source) != 1:
            return f"invalid source {source!r}"
        ((kind, spec),) = source.items()
        if kind == "header":
            if not (isinstance(spec, dict) and set(spec) == {"name"} and _text(spec["name"])):
                return f"invalid header source {spec!r}"
        elif kind == "body_path":
            if not (
                isinstance(spec, dict)
                and set(spec) == {"json_pointer"}
                and isinstance(spec["json_pointer"], str)
                and spec["json_pointer"].startswith("/")
            ):
                return f"invalid body_path source {spec!r}"
        else:
            return f"unknown source kind {kind!r}"
    if "sources" not in doc:
        doc["sources"] = []
    return None


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())
