"""Request limits: a body size cap and a JSON nesting cap, checked before any parsing work.

The body is read as a stream and abandoned as soon as it passes the cap, so a client cannot
make the server buffer more than ``max_body_bytes`` (a lying ``Content-Length`` included).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request

from .errors import HttpError

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_MAX_JSON_DEPTH = 64
DEFAULT_TURN_TIMEOUT_SECS = 30.0


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-request limits. ``turn_timeout_secs`` bounds one flow turn (0 disables it)."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_json_depth: int = DEFAULT_MAX_JSON_DEPTH
    turn_timeout_secs: float = DEFAULT_TURN_TIMEOUT_SECS

    def __post_init__(self) -> None:
        if self.max_body_bytes < 1:
            raise ValueError("max_body_bytes must be at least 1")
        if self.max_json_depth < 1:
            raise ValueError("max_json_depth must be at least 1")
        if self.turn_timeout_secs < 0:
            raise ValueError("turn_timeout_secs must not be negative")


def _too_large(limit: int) -> HttpError:
    return HttpError(413, "payload_too_large", f"request body exceeds {limit} bytes")


def _content_length(headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
    """The raw ``Content-Length`` value (a scan of the ASGI pairs: Starlette's ``Headers``
    would be built just for this)."""
    for name, value in headers:
        if len(name) == 14 and name.lower() == b"content-length":
            return value
    return None


async def read_body(request: Request, limits: Limits) -> bytes:
    """The whole body, or HttpError 413 once it passes the cap (400 on a broken upload).

    Reads the ASGI messages directly (not ``request.stream()``, an async generator that
    costs measurably per request), so it must be the request's only body reader."""
    declared = _content_length(request.scope["headers"])
    if declared is not None and declared.isdigit() and int(declared) > limits.max_body_bytes:
        raise _too_large(limits.max_body_bytes)
    message = await request.receive()
    if message["type"] == "http.request" and not message.get("more_body", False):
        body: bytes = message.get("body", b"")  # the whole body in one message: the usual case
        if len(body) > limits.max_body_bytes:
            raise _too_large(limits.max_body_bytes)
        return body
    chunks: list[bytes] = []
    size = 0
    while True:
        if message["type"] != "http.request":  # http.disconnect
            raise HttpError(400, "bad_request", "client disconnected before the body was read")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limits.max_body_bytes:
            raise _too_large(limits.max_body_bytes)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
        message = await request.receive()


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """True when arrays/objects nest deeper than ``limit`` (iterative: no recursion limit)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def parse_json(body: bytes, limits: Limits, what: str = "request body") -> Any:
    """Decode JSON; 400 for malformed JSON or nesting deeper than ``max_json_depth``."""
    if not body.strip():
        raise HttpError(400, "bad_request", f"{what} is empty; expected JSON")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise HttpError(400, "invalid_json", f"{what} is not valid JSON: {exc}") from exc
    # Depth can only exceed the limit when the body has more brackets than the limit:
    # counting them in C skips the walk for nearly every real request.
    brackets = body.count(b"{") + body.count(b"[")
    if brackets > limits.max_json_depth and json_depth_exceeds(value, limits.max_json_depth):
        raise HttpError(
            400, "json_too_deep", f"{what} nests deeper than {limits.max_json_depth} levels"
        )
    return value


async def read_json(request: Request, limits: Limits, what: str = "request body") -> Any:
    return parse_json(await read_body(request, limits), limits, what)
