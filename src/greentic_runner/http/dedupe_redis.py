"""A :class:`~greentic_runner.http.dedupe.DedupeStore` on Redis, shared by every replica.

With several server processes behind a load balancer, a channel's redelivery (or a client's
retried ``Idempotency-Key``) may land on a process that never saw the original, so the
in-memory dedupe cannot tell it is a repeat. :class:`RedisDedupe` keeps the claims where
every process sees them: ``<prefix>:<tenant>:<channel>:<event id>`` (the server uses the
session namespace, ``<ns>:dedupe:…``), one string per event:

* ``i:<token>`` — *in flight*: claimed by one request whose turn is running. The claim is a
  **lease** of ``lease_secs`` (30 s), renewed every third of that while the turn runs, so a
  process killed mid-turn frees the event after at most ``lease_secs`` and the channel's
  retry runs it then (instead of being acked as a duplicate for the whole TTL).
* ``d:<json>`` — *done*: the remembered response, kept ``ttl_secs`` (``dedupe.ttl_secs``).

``claim`` is one Lua script (``SET NX PX`` or ``GET``): exactly one of several racing
processes gets ``new``. ``release`` deletes only the caller's own in-flight claim
(compare-and-delete), so a claim that expired and was taken over is left alone.
Unlike :class:`~greentic_runner.http.dedupe.MemoryDedupe` there is no entry-count bound:
Redis expires every key by its TTL. Redis failures become
:class:`~greentic_runner.errors.StoreError` (HTTP 503) through ``storage.redis.redis_call``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import uuid
from typing import Any

import orjson

from ..errors import StoreError
from ..storage.config import Stores
from ..storage.redis import Client, redis_call
from ..storage.redis_session import RedisSessionStore
from .dedupe import DEFAULT_TTL_SECS, Claim

log = logging.getLogger(__name__)

DEFAULT_LEASE_SECS = 30.0
"""How long an in-flight claim outlives a process that died while running its turn."""

_IN_FLIGHT = b"i:"
_DONE = b"d:"

# KEYS[1] = event key; ARGV = in-flight value, lease ms. nil = claimed; else the current value.
_CLAIM = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return nil
end
return redis.call('GET', KEYS[1])
"""

# KEYS[1] = event key; ARGV = our in-flight value, lease ms. 1 when the claim is still ours.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

# KEYS[1] = event key; ARGV = our in-flight value. Deletes the claim only while it is ours.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisDedupe:
    """A :class:`~greentic_runner.http.dedupe.DedupeStore` on a Redis client it does not own.

    ``prefix`` namespaces the keys (e.g. ``greentic:session:prod:dedupe``); ``ttl_secs`` is how
    long a finished event's response is remembered; ``lease_secs`` bounds how long a claim
    survives the death of the process running it. :meth:`close` stops the lease renewals.
    """

    def __init__(
        self,
        client: Client,
        prefix: str,
        *,
        ttl_secs: float = DEFAULT_TTL_SECS,
        lease_secs: float = DEFAULT_LEASE_SECS,
    ) -> None:
        if ttl_secs <= 0 or lease_secs <= 0:
            raise ValueError("ttl_secs and lease_secs must be positive")
        self.client = client
        self.prefix = prefix
        self.ttl_secs = ttl_secs
        self.lease_secs = lease_secs
        self._lease_ms = _millis(lease_secs)
        self._ttl_ms = _millis(ttl_secs)
        self._claim = client.register_script(_CLAIM)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        # key -> (our in-flight value, its renewal task); only claims this process holds.
        self._held: dict[str, tuple[bytes, asyncio.Task[None]]] = {}

    def redis_key(self, key: str) -> str:
        """The Redis key holding ``key``'s claim."""
        return f"{self.prefix}:{key}"

    async def claim(self, key: str) -> Claim:
        """``new`` (this request runs the turn), ``in_flight`` or ``done`` with the response."""
        full = self.redis_key(key)
        mine = _IN_FLIGHT + uuid.uuid4().hex.encode()
        found = await redis_call(
            f"dedupe claim {full}", lambda: self._claim(keys=[full], args=[mine, self._lease_ms])
        )
        if found is None:
            self._hold(key, full, mine)
            return Claim("new")
        value = bytes(found)
        if value.startswith(_DONE):
            try:
                return Claim("done", orjson.loads(value[len(_DONE) :]))
            except orjson.JSONDecodeError as exc:
                raise StoreError(f"dedupe entry {full} is corrupt") from exc
        return Claim("in_flight")

    async def complete(self, key: str, value: Any) -> None:
        """Replace the claim with the response, remembered for ``ttl_secs``."""
        self._forget(key)
        full = self.redis_key(key)
        raw = _DONE + orjson.dumps(value)
        await redis_call(
            f"dedupe complete {full}", lambda: self.client.set(full, raw, px=self._ttl_ms)
        )

    async def release(self, key: str) -> None:
        """Drop this process's in-flight claim (the turn failed; a retry may run it)."""
        held = self._forget(key)
        if held is None:
            return
        full = self.redis_key(key)
        await redis_call(f"dedupe release {full}", lambda: self._release(keys=[full], args=[held]))

    async def close(self) -> None:
        """Stop renewing the claims still held (their leases then expire by themselves)."""
        tasks = [task for _, task in self._held.values()]
        self._held.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- leases ----------------------------------------------------------------------------

    def _hold(self, key: str, full: str, mine: bytes) -> None:
        task = asyncio.create_task(self._keep_renewed(full, mine), name=f"dedupe-lease:{full}")
        self._held[key] = (mine, task)

    def _forget(self, key: str) -> bytes | None:
        held = self._held.pop(key, None)
        if held is None:
            return None
        held[1].cancel()
        return held[0]

    async def _keep_renewed(self, full: str, mine: bytes) -> None:
        interval = self.lease_secs / 3
        while True:
            await asyncio.sleep(interval)
            try:
                still_ours = await redis_call(
                    f"dedupe renew {full}",
                    lambda: self._renew(keys=[full], args=[mine, self._lease_ms]),
                )
            except StoreError as exc:
                log.warning("renewing dedupe claim %s failed: %s", full, exc)
                continue
            if not still_ours:
                log.warning("dedupe claim %s expired while its turn ran", full)
                return


def _millis(secs: float) -> int:
    return max(1, math.ceil(secs * 1000))


def shared_dedupe(stores: Stores, *, ttl_secs: float = DEFAULT_TTL_SECS) -> RedisDedupe | None:
    """A :class:`RedisDedupe` on the session store's client when sessions live in Redis
    (keys ``<session namespace>:dedupe:…``), else ``None`` (the app keeps its memory dedupe)."""
    session = stores.session
    if not isinstance(session, RedisSessionStore):
        return None
    return RedisDedupe(session.client, f"{session.namespace}:dedupe", ttl_secs=ttl_secs)
