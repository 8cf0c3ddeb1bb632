"""SessionStore on Redis, with the reference's key shapes (spec §6.1).

Keys under ``<ns>`` (the session namespace):

* ``<ns>:session:<key>``: the entry, JSON (``SessionData.to_json``), ``PX`` = the wait TTL.
* ``<ns>:waits:user:<env>:<tenant>:<team|->:<user>``: SET of the user's wait keys.
* ``<ns>:waits:scope:<env>:<tenant>:<team|->:<user>:<scope_hash>``: the session key that
  waits in that reply scope, ``PX`` = the wait TTL (the reference's shape).
* ``<ns>:session-index:<key>``: SET of the index keys that point at an entry, so removing the
  entry removes its indices exactly (ours; the reference leaves them to lazy cleanup).
* ``<ns>:lock:<name>`` and ``<ns>:lock-fence``: turn leases and their token counter.

Every operation is one Lua script (:mod:`.redis_scripts`) or one command: atomic and one
round trip. A turn (:meth:`RedisSessionStore.begin_turn`) is two: taking the lock with reading
the parked wait, and the last write with releasing the lock. TTLs are enforced by the Redis
server clock, not by the injected clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from ..errors import SessionError
from ..tenancy import ReplyScope, TenantCtx
from . import redis_scripts as lua
from .locks import Lease, LeaseKeeper, LeasePolicy, LocalLocks, active_lease, leased_lock
from .redis import Client, connect, redis_call, ttl_ms
from .session import FoundWait, SessionData, check_alignment, check_create, new_session_key
from .turns import Turn, leased_turn

DEFAULT_NAMESPACE = "greentic:session"


class RedisSessionStore:
    """Shared :class:`~greentic_runner.storage.session.SessionStore` on one Redis node.

    ``turn_lock`` is a lease (``SET NX PX`` + compare-and-delete) renewed while held; see
    :mod:`.locks` and ``docs/storage.md`` for the guarantee. Also a
    :class:`~greentic_runner.storage.turns.TurnStore` and a ``WaitFetcher``.
    """

    def __init__(
        self,
        client: Client,
        namespace: str = DEFAULT_NAMESPACE,
        *,
        owns_client: bool = False,
        lease: LeasePolicy | None = None,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self._owns_client = owns_client
        self._policy = lease or LeasePolicy()
        self._locks = LocalLocks()
        self._leases = _RedisLeases(self)
        self._keeper = LeaseKeeper(self._leases, self._policy)
        self._scripts = {
            name: client.register_script(getattr(lua, name))
            for name in (
                *("CREATE", "UPDATE", "REMOVE", "REGISTER", "FIND", "CLEAR", "LIST", "FETCH"),
                *("TURN_BEGIN", "TURN_PARK", "TURN_CLEAR"),
            )
        }
        self._lock_scripts = {
            name: client.register_script(getattr(lua, name))
            for name in ("LOCK_ACQUIRE", "LOCK_RENEW", "LOCK_RELEASE")
        }

    @classmethod
    def from_url(
        cls, url: str, namespace: str = DEFAULT_NAMESPACE, *, lease: LeasePolicy | None = None
    ) -> RedisSessionStore:
        """A store with its own client (closed by :meth:`close`)."""
        return cls(connect(url), namespace, owns_client=True, lease=lease)

    # -- key shapes ------------------------------------------------------------------------

    def entry_key(self, key: str) -> str:
        return f"{self.namespace}:session:{key}"

    def user_waits_key(self, ctx: TenantCtx, user: str) -> str:
        return f"{self.namespace}:waits:user:{ctx.env}:{ctx.tenant}:{ctx.team or '-'}:{user}"

    def scope_key(self, ctx: TenantCtx, user: str, scope: ReplyScope) -> str:
        team = ctx.team or "-"
        return (
            f"{self.namespace}:waits:scope:{ctx.env}:{ctx.tenant}:{team}:{user}:"
            f"{scope.scope_hash()}"
        )

    def lock_key(self, name: str) -> str:
        return f"{self.namespace}:lock:{name}"

    @property
    def fence_counter_key(self) -> str:
        return f"{self.namespace}:lock-fence"

    @property
    def _prefixes(self) -> list[str]:
        ns = self.namespace
        return [f"{ns}:session:", f"{ns}:session-index:", f"{ns}:waits:user:"]

    def _fence(self) -> tuple[str, str]:
        lease = active_lease(self)
        if lease is None:
            return self.lock_key("-"), ""
        return self.lock_key(lease.name), lease.holder

    async def _run(self, script: str, op: str, keys: list[str], args: list[Any]) -> Any:
        return await redis_call(op, lambda: self._scripts[script](keys=keys, args=args))

    async def _write(self, script: str, op: str, keys: list[str], args: list[Any]) -> Any:
        lock_key, holder = self._fence()
        return await self._run(script, op, [lock_key, *keys], [holder, *args])

    # -- the contract ----------------------------------------------------------------------

    async def create_session(self, ctx: TenantCtx, data: SessionData) -> str:
        check_create(ctx, data)
        key = new_session_key()
        await self._write(
            "CREATE", f"create session {key}", [self.entry_key(key)], [data.to_json()]
        )
        return key

    async def get_session(self, key: str) -> SessionData | None:
        entry = self.entry_key(key)
        raw = await redis_call(f"GET {entry}", lambda: self.client.get(entry))
        return None if raw is None else SessionData.from_json(raw)

    async def update_session(self, key: str, data: SessionData) -> None:
        ctx = data.tenant_ctx
        await self._write(
            "UPDATE",
            f"update session {key}",
            [self.entry_key(key)],
            [key, data.to_json(), ctx.env, ctx.tenant, ctx.team or "", ctx.user or ""],
        )

    async def remove_session(self, key: str) -> None:
        await self._write(
            "REMOVE", f"remove session {key}", [self.entry_key(key)], [key, *self._prefixes]
        )

    async def register_wait(
        self,
        ctx: TenantCtx,
        user: str,
        scope: ReplyScope,
        key: str,
        data: SessionData,
        ttl: float | None = None,
    ) -> None:
        await self._register(ctx, user, scope, key, data, ttl, only_if_absent=False)

    async def register_wait_if_absent(
        self,
        ctx: TenantCtx,
        user: str,
        scope: ReplyScope,
        key: str,
        data: SessionData,
        ttl: float | None = None,
    ) -> bool:
        """Atomic on the server: the probe and the write are one Lua script."""
        return await self._register(ctx, user, scope, key, data, ttl, only_if_absent=True)

    async def _register(
        self,
        ctx: TenantCtx,
        user: str,
        scope: ReplyScope,
        key: str,
        data: SessionData,
        ttl: float | None,
        *,
        only_if_absent: bool,
    ) -> bool:
        check_alignment(ctx, user, data)
        keys, args = self._register_call(ctx, user, scope, key, data, ttl, only_if_absent)
        return bool(await self._write("REGISTER", f"register wait {key}", keys, args))

    def _register_call(
        self,
        ctx: TenantCtx,
        user: str,
        scope: ReplyScope,
        key: str,
        data: SessionData,
        ttl: float | None,
        only_if_absent: bool,
    ) -> tuple[list[str], list[Any]]:
        """REGISTER's keys and arguments after the lock key and holder."""
        px = ttl_ms(ttl)
        keys = [
            self.entry_key(key),
            f"{self.namespace}:session-index:{key}",
            self.user_waits_key(ctx, user),
            self.scope_key(ctx, user, scope),
        ]
        args = [
            key,
            data.to_json(),
            "" if px is None else str(px),
            ctx.env,
            ctx.tenant,
            ctx.team or "",
            user,
            "1" if only_if_absent else "0",
            self._prefixes[0],
        ]
        return keys, args

    async def find_wait_by_scope(self, ctx: TenantCtx, user: str, scope: ReplyScope) -> str | None:
        scope_key = self.scope_key(ctx, user, scope)
        found = await self._run(
            "FIND",
            f"find wait {scope_key}",
            [scope_key, self.user_waits_key(ctx, user)],
            [self._prefixes[0], ctx.env, ctx.tenant, ctx.team or "", user],
        )
        return None if found is None else _text(found)

    async def fetch_wait(
        self, ctx: TenantCtx, user: str, scopes: Sequence[ReplyScope]
    ) -> FoundWait | None:
        """Find and read in one script; stale scope keys met on the way are dropped."""
        waits = self.user_waits_key(ctx, user)
        reply = await self._run(
            "FETCH",
            f"fetch wait {waits}",
            [waits, *(self.scope_key(ctx, user, scope) for scope in scopes)],
            [self._prefixes[0], ctx.env, ctx.tenant, ctx.team or "", user],
        )
        return None if reply is None else (_text(reply[0]), SessionData.from_json(reply[1]))

    async def _list(self, ctx: TenantCtx, user: str) -> tuple[list[str], bytes]:
        waits = self.user_waits_key(ctx, user)
        reply = await self._run("LIST", f"list waits {waits}", [waits], [self._prefixes[0]])
        return sorted(_text(k) for k in reply[2:]), reply[1]

    async def list_waits_for_user(self, ctx: TenantCtx, user: str) -> list[str]:
        keys, _ = await self._list(ctx, user)
        return keys

    async def clear_wait(self, ctx: TenantCtx, user: str, scope: ReplyScope) -> None:
        scope_key = self.scope_key(ctx, user, scope)
        await self._write(
            "CLEAR",
            f"clear wait {scope_key}",
            [scope_key, self.user_waits_key(ctx, user)],
            self._prefixes,
        )

    async def find_by_user(self, ctx: TenantCtx, user: str) -> tuple[str, SessionData] | None:
        keys, payload = await self._list(ctx, user)
        if not keys:
            return None
        if len(keys) > 1:
            raise SessionError("multiple waits exist for user; use scope-based routing instead")
        return keys[0], SessionData.from_json(payload)

    def turn_lock(self, name: str) -> AbstractAsyncContextManager[None]:
        """A lease on ``<ns>:lock:<name>``, renewed while held; writes inside are fenced."""
        return leased_lock(self, self._locks, self._leases, name, self._policy, self._keeper)

    # -- a turn in two round trips ---------------------------------------------------------

    def begin_turn(
        self, name: str, ctx: TenantCtx, user: str, scopes: Sequence[ReplyScope]
    ) -> AbstractAsyncContextManager[Turn]:
        """``turn_lock(name)`` taken by the script that reads the parked wait; the turn's
        park or clear releases it in its own script."""
        waits = self.user_waits_key(ctx, user)
        keys = [
            self.lock_key(name),
            self.fence_counter_key,
            waits,
            *(self.scope_key(ctx, user, scope) for scope in scopes),
        ]
        fetch_args = [self._prefixes[0], ctx.env, ctx.tenant, ctx.team or "", user]

        async def begin(holder: str) -> tuple[int, FoundWait | None] | None:
            args = [holder, ttl_ms(self._policy.lease_secs), *fetch_args]
            reply = await self._run("TURN_BEGIN", f"begin turn {keys[0]}", keys, args)
            if reply is None:
                return None
            found = None
            if len(reply) == 3:
                found = (_text(reply[1]), SessionData.from_json(reply[2]))
            return int(reply[0]), found

        return leased_turn(
            self,
            self._locks,
            self._leases,
            self._keeper,
            self._policy,
            name,
            begin,
            lambda: self.fetch_wait(ctx, user, scopes),
            self,
        )

    async def park_ending(
        self,
        lease: Lease,
        ctx: TenantCtx,
        user: str,
        scope: ReplyScope,
        key: str,
        data: SessionData,
        ttl: float | None,
    ) -> None:
        """``register_wait`` fenced by ``lease``, then its release, in one script."""
        check_alignment(ctx, user, data)
        keys, args = self._register_call(ctx, user, scope, key, data, ttl, False)
        await self._run(
            "TURN_PARK",
            f"park wait {key}",
            [self.lock_key(lease.name), *keys],
            [lease.holder, *args],
        )

    async def clear_ending(
        self, lease: Lease, ctx: TenantCtx, user: str, scopes: Sequence[ReplyScope]
    ) -> None:
        """``clear_wait`` of every scope fenced by ``lease``, then its release, in one script."""
        waits = self.user_waits_key(ctx, user)
        await self._run(
            "TURN_CLEAR",
            f"clear waits {waits}",
            [
                self.lock_key(lease.name),
                waits,
                *(self.scope_key(ctx, user, scope) for scope in scopes),
            ],
            [lease.holder, *self._prefixes],
        )

    async def ping(self) -> None:
        """Round-trip to the server; raises :class:`StoreError` when unreachable."""
        await redis_call("PING", lambda: self.client.ping())

    async def close(self) -> None:
        self._keeper.close()
        if self._owns_client:
            await self.client.aclose()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class _RedisLeases:
    def __init__(self, store: RedisSessionStore) -> None:
        self._store = store

    async def _lock(self, script: str, name: str, args: list[Any], extra: list[str]) -> Any:
        run = self._store._lock_scripts[script]
        keys = [self._store.lock_key(name), *extra]
        return await redis_call(f"{script} {keys[0]}", lambda: run(keys=keys, args=args))

    async def try_acquire(self, name: str, holder: str, lease_secs: float) -> int | None:
        token = await self._lock(
            "LOCK_ACQUIRE", name, [holder, ttl_ms(lease_secs)], [self._store.fence_counter_key]
        )
        return None if token is None else int(token)

    async def renew(self, name: str, holder: str, lease_secs: float) -> bool:
        return bool(await self._lock("LOCK_RENEW", name, [holder, ttl_ms(lease_secs)], []))

    async def release(self, name: str, holder: str) -> None:
        await self._lock("LOCK_RELEASE", name, [holder], [])
