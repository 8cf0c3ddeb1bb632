"""Redis plumbing shared by the Redis stores, and the Redis StateStore.

:func:`redis_call` is the one place where ``redis.RedisError`` becomes a
:class:`~greentic_runner.errors.StoreError` (or a :class:`SessionError` for a contract
violation reported by a Lua script). State values live at the reference key
``greentic:state:<env>:<tenant>[:<team>][:<user>]:<prefix>:<key>`` as JSON strings.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError, WatchError

from ..errors import SessionError, StoreError
from ..tenancy import TenantCtx
from .redis_scripts import SESSION_ERROR, STORE_ERROR
from .state import encode, read_path, state_key, state_prefix, write_path

T = TypeVar("T")

Client = aioredis.Redis
"""The client type the Redis stores share (``redis.asyncio.Redis``, bytes responses)."""

_GLOB_SPECIALS = "\\*?[]"


def connect(url: str, *, timeout: float = 5.0) -> Client:
    """A client for ``url`` (``redis://``, ``rediss://`` or ``unix://``); connects lazily.

    Raises :class:`StoreError` for a malformed URL; the message never repeats the URL.
    """
    try:
        return aioredis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    except (ValueError, RedisError) as exc:
        raise StoreError(f"invalid Redis URL: {type(exc).__name__}") from exc


async def redis_call(op: str, fn: Callable[[], Awaitable[T]]) -> T:
    """Await ``fn()``, translating Redis failures; ``op`` names the work and its key."""
    try:
        return await fn()
    except ResponseError as exc:
        text = str(exc)
        if text.startswith(SESSION_ERROR):
            raise SessionError(text.removeprefix(SESSION_ERROR)) from exc
        if text.startswith(STORE_ERROR):
            raise StoreError(text.removeprefix(STORE_ERROR)) from exc
        raise StoreError(f"redis {op} failed: {exc}") from exc
    except RedisError as exc:
        raise StoreError(f"redis {op} failed: {exc}") from exc


def ttl_ms(ttl: float | None) -> int | None:
    """Seconds to Redis milliseconds, at least 1 (a zero TTL means "expire at once")."""
    return None if ttl is None else max(1, math.ceil(ttl * 1000))


def _glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in _GLOB_SPECIALS else ch for ch in text)


class RedisStateStore:
    """:class:`~greentic_runner.storage.state.StateStore` on Redis.

    Whole-value writes are one ``SET``; path writes are an optimistic ``WATCH``/``MULTI``
    read-modify-write retried on conflict (JSON is edited in Python, not in Lua, so numbers
    and empty containers keep their exact JSON form). TTLs are server-side ``PX`` expiries.
    """

    def __init__(self, client: Client, *, owns_client: bool = False) -> None:
        self.client = client
        self._owns_client = owns_client

    @classmethod
    def from_url(cls, url: str) -> RedisStateStore:
        """A store with its own client (closed by :meth:`close`)."""
        return cls(connect(url), owns_client=True)

    async def get_json(
        self, ctx: TenantCtx, prefix: str, key: str, path: str | None = None
    ) -> Any | None:
        full_key = state_key(ctx, prefix, key)
        raw = await redis_call(f"GET {full_key}", lambda: self.client.get(full_key))
        return None if raw is None else read_path(orjson.loads(raw), path)

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
        px = ttl_ms(ttl_secs)
        if not path:
            raw = encode(value)
            await redis_call(f"SET {full_key}", lambda: self.client.set(full_key, raw, px=px))
            return

        async def edit() -> None:
            async with self.client.pipeline(transaction=True) as pipe:
                while True:
                    try:
                        await pipe.watch(full_key)
                        current = await pipe.get(full_key)
                        doc = None if current is None else orjson.loads(current)
                        raw = encode(write_path(doc, path, value))
                        pipe.multi()  # type: ignore[no-untyped-call]
                        pipe.set(full_key, raw, px=px)
                        await pipe.execute()
                        return
                    except WatchError:
                        continue  # someone wrote the key between our read and write: redo

        await redis_call(f"SET {full_key} at {path}", edit)

    async def delete(self, ctx: TenantCtx, prefix: str, key: str) -> bool:
        full_key = state_key(ctx, prefix, key)
        removed = await redis_call(f"DEL {full_key}", lambda: self.client.delete(full_key))
        return bool(removed)

    async def del_prefix(self, ctx: TenantCtx, prefix: str) -> int:
        """SCAN + UNLINK in batches: not atomic; keys written meanwhile may survive."""
        start = state_prefix(ctx, prefix)

        async def sweep() -> int:
            removed, batch = 0, []
            async for key in self.client.scan_iter(match=_glob_escape(start) + "*", count=500):
                batch.append(key)
                if len(batch) >= 500:
                    removed += await self.client.unlink(*batch)
                    batch = []
            if batch:
                removed += await self.client.unlink(*batch)
            return removed

        return await redis_call(f"delete prefix {start}", sweep)

    async def ping(self) -> None:
        """Round-trip to the server; raises :class:`StoreError` when unreachable."""
        await redis_call("PING", lambda: self.client.ping())

    async def close(self) -> None:
        if self._owns_client:
            await self.client.aclose()
