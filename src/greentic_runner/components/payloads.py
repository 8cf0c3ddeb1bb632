"""Payload codecs at the component boundary: JSON values <-> CBOR bytes / JSON text.

Rules follow wit-contracts.md §2.3 and §3 (0.6 uses CBOR, 0.5/0.4 JSON strings, providers
JSON bytes). Decoding problems raise :class:`PayloadError`; the invoker turns it into a
ComponentError that names the component and operation.
"""

from __future__ import annotations

import io
import math
from typing import Any

import cbor2
import orjson


class PayloadError(ValueError):
    """A payload or output that cannot be encoded or decoded."""


def json_to_cbor(value: Any) -> bytes:
    """Canonical CBOR for a JSON value (deterministic map order, shortest floats)."""
    try:
        return bytes(cbor2.dumps(value, canonical=True))
    except (cbor2.CBOREncodeError, TypeError, ValueError) as exc:
        raise PayloadError(f"input cannot be encoded as CBOR: {exc}") from exc


def _jsonable(value: Any) -> Any:
    """CBOR-decoded data as JSON: bytes become arrays of numbers (as serde_json does)."""
    if isinstance(value, dict):
        return {k if isinstance(k, str) else _key(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, bytes | bytearray):
        return list(value)
    if isinstance(value, cbor2.CBORTag):
        return _jsonable(value.value)
    if isinstance(value, cbor2.CBORSimpleValue):
        return int(value.value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    # Decoders map some tags to rich types (datetime, Decimal, UUID...): keep their text.
    return str(value)


def _key(key: Any) -> str:
    if isinstance(key, bytes | bytearray):
        return bytes(key).hex()
    return str(key) if not isinstance(key, bool) else ("true" if key else "false")


def cbor_to_json(data: bytes) -> Any:
    """Decode exactly one CBOR item covering all of ``data`` into a JSON value."""
    stream = io.BytesIO(data)
    try:
        value = cbor2.CBORDecoder(stream).decode()
    except (cbor2.CBORDecodeError, EOFError, ValueError, TypeError) as exc:
        raise PayloadError(f"not valid CBOR: {exc}") from exc
    if stream.tell() != len(data):
        raise PayloadError(f"not valid CBOR: {len(data) - stream.tell()} trailing bytes")
    return _jsonable(value)


def output_from_cbor(data: bytes) -> Any:
    """0.6 ``output-cbor`` -> JSON: CBOR, else UTF-8 text (reference fallback), else an error."""
    if not data:
        return None
    try:
        return cbor_to_json(data)
    except PayloadError as cbor_error:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise PayloadError(f"output is neither CBOR nor UTF-8 text ({cbor_error})") from None


def output_from_json_text(text: str) -> Any:
    """0.5/0.4 ``ok(json)`` -> JSON: empty is null, else parsed, else kept as a JSON string."""
    if text == "":
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def json_from_bytes(data: bytes, what: str) -> Any:
    """Provider outputs must be JSON (``deserialize_json_bytes``)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        preview = data[:60].decode("utf-8", errors="replace")
        raise PayloadError(f"{what} is not JSON ({exc}); starts with {preview!r}") from exc


def json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


def envelope_payload(value: Any) -> Any:
    """The payload to send: an InvocationEnvelope-shaped input contributes its inner payload.

    greentic-types envelopes carry ``payload`` as bytes (a JSON array of numbers); bytes that
    hold JSON are decoded, other bytes are passed on as a CBOR byte string.
    """
    if not (
        isinstance(value, dict)
        and {"ctx", "flow_id", "op", "payload"} <= value.keys()
        and isinstance(value["ctx"], dict)
    ):
        return value
    inner = value["payload"]
    if isinstance(inner, list) and all(isinstance(b, int) and 0 <= b < 256 for b in inner):
        raw = bytes(inner)
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            return raw
    return inner
