"""Bounded CBOR decoding and the two encodings pack archives use.

Every CBOR document of an archive (``manifest.cbor``, ``sbom.cbor``, component manifests,
``pack.lock.cbor``) is untrusted input. :func:`decode` checks the raw structure before
``cbor2`` sees it — size, nesting depth, declared lengths against the bytes left, and no
semantic tags except the self-describe marker serde_cbor writes and bignums (tags such as
value sharing can build cyclic objects) — then normalises the result to plain JSON-like
Python values.

Encodings:

* :func:`encode_ordered` keeps dict insertion order, like ciborium serialising a Rust
  struct in field-declaration order (the manifest wire form);
* :func:`encode_canonical` sorts map keys the deterministic way (``sbom.cbor``, component
  manifests, ``pack.lock.cbor``).
"""

from __future__ import annotations

from typing import Any

import cbor2

from ..errors import PackError

MAX_DEPTH = 64
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
SELF_DESCRIBE_TAG = 55799
BIGNUM_TAGS = (2, 3)  # integers beyond 64 bits, as cbor2 writes them

_UINT_WIDTHS = {24: 1, 25: 2, 26: 4, 27: 8}


class _Malformed(Exception):
    """Internal: the raw scan found a structural problem (message says which)."""


def decode(data: bytes, what: str, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> Any:
    """Decode one CBOR document into dict/list/str/int/float/bool/None/bytes values.

    ``what`` names the document in errors (e.g. ``"manifest.cbor in demo.gtpack"``).
    Raises PackError for oversized, malformed, too deeply nested or tagged input, maps with
    non-text keys or duplicate keys, and trailing bytes.
    """
    if len(data) > max_bytes:
        raise PackError(f"{what} is too large ({len(data)} bytes; limit {max_bytes})")
    try:
        end = _scan(data, 0, 0)
        if end != len(data):
            raise _Malformed(f"{len(data) - end} trailing bytes after the document")
        value = cbor2.loads(
            data,
            max_depth=MAX_DEPTH + 2,
            allow_duplicate_keys=False,
            strict_hashable_types=True,
        )
        return _normalize(value)
    except _Malformed as exc:
        raise PackError(f"{what} is not valid CBOR: {exc}") from exc
    except (cbor2.CBORError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise PackError(f"{what} is not valid CBOR: {exc}") from exc


def encode_ordered(value: Any) -> bytes:
    """CBOR with maps in insertion order (the manifest wire form)."""
    return bytes(cbor2.dumps(value))


def encode_canonical(value: Any) -> bytes:
    """Deterministic CBOR: shortest forms, map keys sorted by their encoded bytes."""
    return bytes(cbor2.dumps(value, canonical=True))


def _scan(data: bytes, pos: int, depth: int) -> int:
    """Walk one data item starting at ``pos``; return the offset just past it."""
    if depth > MAX_DEPTH:
        raise _Malformed(f"nesting deeper than {MAX_DEPTH} levels")
    if pos >= len(data):
        raise _Malformed("unexpected end of data")
    initial = data[pos]
    major, info = initial >> 5, initial & 0x1F
    pos += 1
    if info == 31:
        return _scan_indefinite(data, pos, depth, major)
    argument, pos = _argument(data, pos, info)
    remaining = len(data) - pos
    if major in (0, 1):
        return pos
    if major in (2, 3):
        if argument > remaining:
            raise _Malformed(f"string of {argument} bytes exceeds the data left")
        return pos + argument
    if major in (4, 5):
        items = argument * (2 if major == 5 else 1)
        # every item takes at least one byte, so a larger count cannot be honest
        if items > remaining:
            raise _Malformed(f"container of {argument} entries exceeds the data left")
        for _ in range(items):
            pos = _scan(data, pos, depth + 1)
        return pos
    if major == 6:
        if argument in BIGNUM_TAGS:
            # the tagged item must be a byte string (the big-endian magnitude)
            if pos >= len(data) or data[pos] >> 5 != 2:
                raise _Malformed(f"bignum tag {argument} must wrap a byte string")
        elif argument != SELF_DESCRIBE_TAG:
            raise _Malformed(f"semantic tag {argument} is not allowed")
        return _scan(data, pos, depth + 1)
    # major 7: simple values and floats; only false/true/null/undefined and floats
    if info < 24 and info not in (20, 21, 22, 23):
        raise _Malformed(f"simple value {info} is not allowed")
    if info == 24:
        raise _Malformed(f"simple value {argument} is not allowed")
    return pos


def _argument(data: bytes, pos: int, info: int) -> tuple[int, int]:
    if info < 24:
        return info, pos
    width = _UINT_WIDTHS.get(info)
    if width is None:
        raise _Malformed(f"reserved additional information {info}")
    if pos + width > len(data):
        raise _Malformed("unexpected end of data")
    return int.from_bytes(data[pos : pos + width], "big"), pos + width


def _scan_indefinite(data: bytes, pos: int, depth: int, major: int) -> int:
    if major not in (2, 3, 4, 5):
        raise _Malformed(f"indefinite length is not allowed for major type {major}")
    count = 0
    while True:
        if pos >= len(data):
            raise _Malformed("unterminated indefinite-length item")
        if data[pos] == 0xFF:
            if major == 5 and count % 2:
                raise _Malformed("map with a key but no value")
            return pos + 1
        if major in (2, 3) and data[pos] >> 5 != major:
            raise _Malformed("indefinite string chunk of the wrong type")
        if major in (2, 3) and data[pos] & 0x1F == 31:
            raise _Malformed("nested indefinite string chunk")
        pos = _scan(data, pos, depth + 1)
        count += 1


def _normalize(value: Any) -> Any:
    """Plain, mutable JSON-like values; anything else is rejected."""
    if value is None or isinstance(value, bool | int | float | str | bytes):
        return value
    if isinstance(value, dict):  # cbor2.frozendict is a Mapping, handled below
        return {_key(k): _normalize(v) for k, v in value.items()}
    if isinstance(value, cbor2.frozendict):
        return {_key(k): _normalize(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normalize(item) for item in value]
    if value is cbor2.undefined:
        return None
    raise _Malformed(f"unsupported value of type {type(value).__name__}")


def _key(key: Any) -> str:
    if not isinstance(key, str):
        raise _Malformed(f"map key {key!r} is not a text string")
    return key
