"""The StateStore contract (spec §6.4) and its in-memory implementation.

Values are JSON documents addressed by (env, tenant, team, user) from the context, a
prefix and a key. An optional *path* addresses inside the document: dot-separated object
keys (``profile.name``); numeric segments index arrays. Values are stored serialized, so a
caller can never mutate stored state by accident.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from ..clock import SYSTEM_CLOCK, Clock
from ..errors import StoreError
from ..tenancy import TenantCtx


class StateStore(Protocol):
    """Async JSON state store. Errors are :class:`~greentic_runner.errors.StoreError`s."""

    async def get_json(
        self, ctx: TenantCtx, prefix: str, key: str, path: str | None = None
    ) -> Any | None:
        """The value (or the value at ``path``), or ``None`` when absent or expired."""
        ...

    async def set_json(
        self,
        ctx: TenantCtx,
        prefix: str,
        key: str,
        value: Any,
        path: str | None = None,
        ttl_secs: float | None = None,
    ) -> None:
        """Store ``value`` (or put it at ``path`` inside the stored document, creating
        objects on the way). ``ttl_secs=None`` stores without expiry, dropping an old TTL."""
        ...

    async def delete(self, ctx: TenantCtx, prefix: str, key: str) -> bool:
        """Delete one value; True when a live value was deleted."""
        ...

    async def del_prefix(self, ctx: TenantCtx, prefix: str) -> int:
        """Delete every value under ``prefix`` for ``ctx``; the number of live values deleted.

        Matching is on the fully-qualified key text (the reference's semantics), so a context
        without team/user also matches keys whose team or user equals ``prefix``."""
        ...

    async def close(self) -> None: ...


def state_key(ctx: TenantCtx, prefix: str, key: str) -> str:
    """``greentic:state:<env>:<tenant>[:<team>][:<user>]:<prefix>:<key>`` (reference shape)."""
    parts = ["greentic:state", ctx.env, ctx.tenant]
    if ctx.team:
        parts.append(ctx.team)
    if ctx.user:
        parts.append(ctx.user)
    parts += [prefix, key]
    return ":".join(parts)


def state_prefix(ctx: TenantCtx, prefix: str) -> str:
    """The key text every value under ``prefix`` starts with (ends with ``:``)."""
    return state_key(ctx, prefix, "")


def split_path(path: str | None) -> list[str]:
    if path is None or path in ("", "."):
        return []
    segments = path.strip(".").split(".")
    if any(segment == "" for segment in segments):
        raise StoreError(f"invalid state path {path!r}: empty segment")
    return segments


def read_path(doc: Any, path: str | None) -> Any | None:
    for segment in split_path(path):
        if isinstance(doc, dict):
            doc = doc.get(segment)
        elif isinstance(doc, list) and segment.isdigit() and int(segment) < len(doc):
            doc = doc[int(segment)]
        else:
            return None
    return doc


def write_path(doc: Any, path: str | None, value: Any) -> Any:
    """Return ``doc`` with ``value`` set at ``path``; missing objects are created."""
    segments = split_path(path)
    if not segments:
        return value
    root = doc if isinstance(doc, dict | list) else {}
    node: Any = root
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if isinstance(node, list):
            if not segment.isdigit() or int(segment) >= len(node):
                raise StoreError(f"state path {path!r}: index {segment} out of range")
            slot = int(segment)
            if last:
                node[slot] = value
            else:
                if not isinstance(node[slot], dict | list):
                    node[slot] = {}
                node = node[slot]
        else:
            if last:
                node[segment] = value
            else:
                child = node.get(segment)
                if not isinstance(child, dict | list):
                    child = node[segment] = {}
                node = child
    return root


def encode(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError as exc:
        raise StoreError(f"state value is not JSON-serializable: {exc}") from exc


@dataclass(slots=True)
class _Value:
    raw: bytes
    deadline: float | None


class InMemoryStateStore:
    """Process-local state store with TTLs checked on read."""

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self._clock = clock
        self._values: dict[str, _Value] = {}

    def _live(self, full_key: str) -> _Value | None:
        item = self._values.get(full_key)
        if item is not None and item.deadline is not None and item.deadline <= self._clock.now():
            del self._values[full_key]
            return None
        return item

    async def get_json(
        self, ctx: TenantCtx, prefix: str, key: str, path: str | None = None
    ) -> Any | None:
        item = self._live(state_key(ctx, prefix, key))
        return None if item is None else read_path(orjson.loads(item.raw), path)

    async def set_json(
        self,
        ctx: TenantCtx,
        prefix: str,
        key: str,
        value: Any,
        path: str | None = None,
        ttl_secs: float | None = None,
    ) -> None:
        full_key = state_key(ctx, prefix, key)
        current = self._live(full_key)
        doc = orjson.loads(current.raw) if current is not None and path else None
        deadline = None if ttl_secs is None else self._clock.now() + ttl_secs
        self._values[full_key] = _Value(encode(write_path(doc, path, value)), deadline)

    async def delete(self, ctx: TenantCtx, prefix: str, key: str) -> bool:
        full_key = state_key(ctx, prefix, key)
        return self._live(full_key) is not None and self._values.pop(full_key, None) is not None

    async def del_prefix(self, ctx: TenantCtx, prefix: str) -> int:
        start = state_prefix(ctx, prefix)
        doomed = [key for key in self._values if key.startswith(start)]
        # Expired values are dropped too, but only live ones count as deleted.
        live = [key for key in doomed if self._live(key) is not None]
        for key in doomed:
            self._values.pop(key, None)
        return len(live)

    async def close(self) -> None:
        return None
