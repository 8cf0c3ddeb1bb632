"""SessionStore on SQLite: the durable default (spec §6.1 semantics, one file).

Tables (see :mod:`.sqlite`): ``sessions`` holds entries with an absolute ``deadline`` from the
injected clock; ``user_waits`` and ``scope_waits`` are the two indices and cascade away with
their entry. Reads filter out expired rows, so an expired entry is never returned; writes
delete expired rows at most once a second (per store) so they do not pile up. Each operation
is one transaction and one hop to the database's worker thread; a turn
(:meth:`SqliteSessionStore.begin_turn`) is two. The SQL lives in :mod:`.sqlite_rows`.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TypeVar

from ..clock import SYSTEM_CLOCK, Clock
from ..errors import SessionError
from ..tenancy import ReplyScope, TenantCtx
from . import sqlite_rows as rows
from .locks import (
    Lease,
    LeaseKeeper,
    LeasePolicy,
    LocalLocks,
    active_lease,
    leased_lock,
    lost_lease_error,
)
from .session import (
    FoundWait,
    SessionData,
    check_alignment,
    check_create,
    check_preserved,
    new_session_key,
)
from .sqlite import SqliteDatabase, write_txn
from .turns import Turn, leased_turn

T = TypeVar("T")

SWEEP_INTERVAL = 1.0
"""Seconds between two sweeps of expired rows by one store (reads never see them anyway)."""


class SqliteSessionStore:
    """Durable :class:`~greentic_runner.storage.session.SessionStore` on a SQLite file.

    ``turn_lock`` combines an in-process lock with a lease row in ``turn_leases``, so two
    processes on one file serialize turns; writes made while a lease is held are fenced.
    Also a :class:`~greentic_runner.storage.turns.TurnStore` and a ``WaitFetcher``.
    """

    def __init__(
        self,
        db: SqliteDatabase,
        clock: Clock = SYSTEM_CLOCK,
        *,
        owns_db: bool = False,
        lease: LeasePolicy | None = None,
    ) -> None:
        self.db = db
        self._clock = clock
        self._owns_db = owns_db
        self._policy = lease or LeasePolicy()
        self._locks = LocalLocks()
        self._leases = _SqliteLeases(db, clock)
        self._keeper = LeaseKeeper(self._leases, self._policy)
        self._last_sweep = -math.inf  # touched only on the worker thread

    @classmethod
    async def open(
        cls, path: str | Path, clock: Clock = SYSTEM_CLOCK, *, lease: LeasePolicy | None = None
    ) -> SqliteSessionStore:
        """Open a store that owns its own database connection (closed by :meth:`close`)."""
        return cls(await SqliteDatabase.open(path), clock, owns_db=True, lease=lease)

    def _sweep_if_due(self, conn: sqlite3.Connection, now: float) -> None:
        # Also sweeps when the clock went backwards (a test clock, a clock step).
        if not self._last_sweep <= now < self._last_sweep + SWEEP_INTERVAL:
            rows.sweep(conn, now)
            self._last_sweep = now

    async def _write(self, op: str, key: str, fn: Callable[[sqlite3.Connection, float], T]) -> T:
        """Run ``fn`` in one write transaction: fence check, expiry sweep, then the work."""
        lease = active_lease(self)

        def txn(conn: sqlite3.Connection) -> T:
            now = self._clock.now()
            with write_txn(conn):
                if lease is not None and not rows.holds(conn, lease.name, lease.holder, now):
                    raise lost_lease_error(lease, f"session {key}")
                self._sweep_if_due(conn, now)
                return fn(conn, now)

        return await self.db.run(f"{op} {key}", txn)

    async def create_session(self, ctx: TenantCtx, data: SessionData) -> str:
        check_create(ctx, data)
        key = new_session_key()
        raw = data.to_json()

        def insert(conn: sqlite3.Connection, now: float) -> None:
            conn.execute(
                "INSERT INTO sessions (key, data, deadline) VALUES (?, ?, NULL)", (key, raw)
            )

        await self._write("create session", key, insert)
        return key

    async def get_session(self, key: str) -> SessionData | None:
        return await self.db.run(
            f"get session {key}", lambda c: rows.load(c, key, self._clock.now())
        )

    async def update_session(self, key: str, data: SessionData) -> None:
        raw = data.to_json()

        def update(conn: sqlite3.Connection, now: float) -> None:
            current = rows.load(conn, key, now)
            if current is None:
                raise SessionError(f"session {key} not found")
            check_preserved(key, current.tenant_ctx, data.tenant_ctx)
            conn.execute("UPDATE sessions SET data = ? WHERE key = ?", (raw, key))

        await self._write("update session", key, update)

    async def remove_session(self, key: str) -> None:
        def remove(conn: sqlite3.Connection, now: float) -> None:
            if conn.execute("DELETE FROM sessions WHERE key = ?", (key,)).rowcount == 0:
                raise SessionError(f"session {key} not found")

        await self._write("remove session", key, remove)

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
        """Atomic across processes: the probe and the write share one IMMEDIATE transaction."""
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
        bucket, scope_hash, raw = rows.bucket_of(ctx, user), scope.scope_hash(), data.to_json()

        def register(conn: sqlite3.Connection, now: float) -> bool:
            probe = only_if_absent  # the probe is an extra read: only when asked
            if probe and rows.find_key(conn, ctx, user, bucket, scope_hash, now) is not None:
                return False
            deadline = None if ttl is None else now + ttl
            rows.register(conn, key, data, raw, bucket, scope_hash, deadline, now)
            return True

        return await self._write("register wait", key, register)

    async def find_wait_by_scope(self, ctx: TenantCtx, user: str, scope: ReplyScope) -> str | None:
        found = await self.fetch_wait(ctx, user, [scope])
        return None if found is None else found[0]

    async def fetch_wait(
        self, ctx: TenantCtx, user: str, scopes: Sequence[ReplyScope]
    ) -> FoundWait | None:
        """Find and read in one hop; stale index rows met on the way are dropped."""
        bucket, hashes = rows.bucket_of(ctx, user), [scope.scope_hash() for scope in scopes]

        def fetch(conn: sqlite3.Connection) -> FoundWait | None:
            now = self._clock.now()
            found, stale = rows.fetch(conn, ctx, user, bucket, hashes, now)
            if not stale:
                return found
            # Rare (an expired or foreign entry): redo the read under the write lock, so a
            # registration that raced in meanwhile is not dropped by mistake.
            with write_txn(conn):
                found, stale = rows.fetch(conn, ctx, user, bucket, hashes, now)
                rows.drop_stale(conn, bucket, stale)
            return found

        return await self.db.run(f"fetch wait {bucket}", fetch)

    async def list_waits_for_user(self, ctx: TenantCtx, user: str) -> list[str]:
        bucket = rows.bucket_of(ctx, user)
        return await self.db.run(
            f"list waits for user {user}", lambda c: rows.list_keys(c, bucket, self._clock.now())
        )

    async def clear_wait(self, ctx: TenantCtx, user: str, scope: ReplyScope) -> None:
        bucket, scope_hash = rows.bucket_of(ctx, user), scope.scope_hash()
        await self._write(
            "clear wait", scope_hash, lambda conn, now: rows.clear(conn, bucket, scope_hash)
        )

    async def find_by_user(self, ctx: TenantCtx, user: str) -> tuple[str, SessionData] | None:
        bucket = rows.bucket_of(ctx, user)

        def find(conn: sqlite3.Connection) -> tuple[str, SessionData] | None:
            now = self._clock.now()
            keys = rows.list_keys(conn, bucket, now)
            if not keys:
                return None
            if len(keys) > 1:
                raise SessionError("multiple waits exist for user; use scope-based routing instead")
            data = rows.load(conn, keys[0], now)
            return None if data is None else (keys[0], data)

        return await self.db.run(f"find by user {user}", find)

    def turn_lock(self, name: str) -> AbstractAsyncContextManager[None]:
        """In-process lock plus a lease row; see :mod:`.locks` for the guarantee."""
        return leased_lock(self, self._locks, self._leases, name, self._policy, self._keeper)

    # -- a turn in two hops ------------------------------------------------------------------

    def begin_turn(
        self, name: str, ctx: TenantCtx, user: str, scopes: Sequence[ReplyScope]
    ) -> AbstractAsyncContextManager[Turn]:
        """``turn_lock(name)`` whose lease row is written in the same transaction that reads
        the parked wait; the turn's park or clear deletes the row in its own transaction."""
        bucket, hashes = rows.bucket_of(ctx, user), [scope.scope_hash() for scope in scopes]
        lease_secs = self._policy.lease_secs

        async def begin(holder: str) -> tuple[int, FoundWait | None] | None:
            def txn(conn: sqlite3.Connection) -> tuple[int, FoundWait | None] | None:
                now = self._clock.now()
                with write_txn(conn):
                    token = rows.acquire(conn, name, holder, lease_secs, now)
                    if token is None:
                        return None
                    found, stale = rows.fetch(conn, ctx, user, bucket, hashes, now)
                    rows.drop_stale(conn, bucket, stale)
                    return token, found

            return await self.db.run(f"begin turn {name}", txn)

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
        """``register_wait`` and the lease release in one transaction (see ``begin_turn``)."""
        check_alignment(ctx, user, data)
        bucket, scope_hash, raw = rows.bucket_of(ctx, user), scope.scope_hash(), data.to_json()

        def park(conn: sqlite3.Connection, now: float) -> None:
            deadline = None if ttl is None else now + ttl
            rows.register(conn, key, data, raw, bucket, scope_hash, deadline, now)

        await self._end_turn(lease, f"session {key}", park)

    async def clear_ending(
        self, lease: Lease, ctx: TenantCtx, user: str, scopes: Sequence[ReplyScope]
    ) -> None:
        """``clear_wait`` of every scope and the lease release in one transaction."""
        bucket, hashes = rows.bucket_of(ctx, user), [scope.scope_hash() for scope in scopes]

        def clear(conn: sqlite3.Connection, now: float) -> None:
            for scope_hash in hashes:
                rows.clear(conn, bucket, scope_hash)

        await self._end_turn(lease, f"wait of {bucket}", clear)

    async def _end_turn(
        self, lease: Lease, what: str, fn: Callable[[sqlite3.Connection, float], None]
    ) -> None:
        def txn(conn: sqlite3.Connection) -> None:
            now = self._clock.now()
            with write_txn(conn):
                self._sweep_if_due(conn, now)
                fn(conn, now)
                # The fence: the live lease row must still be ours. Checked last, in the same
                # transaction, so a lost lease rolls the write back.
                if not rows.release(conn, lease.name, lease.holder, now):
                    raise lost_lease_error(lease, what)

        await self.db.run(f"end turn {lease.name}", txn)

    async def close(self) -> None:
        self._keeper.close()
        if self._owns_db:
            await self.db.close()


class _SqliteLeases:
    """Lease rows in ``turn_leases``; tokens come from one monotonic counter."""

    def __init__(self, db: SqliteDatabase, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def try_acquire(self, name: str, holder: str, lease_secs: float) -> int | None:
        def acquire(conn: sqlite3.Connection) -> int | None:
            with write_txn(conn):
                return rows.acquire(conn, name, holder, lease_secs, self._clock.now())

        return await self._db.run(f"acquire turn lock {name}", acquire)

    async def renew(self, name: str, holder: str, lease_secs: float) -> bool:
        # One statement: autocommit makes it its own transaction.
        return await self._db.run(
            f"renew turn lock {name}",
            lambda conn: rows.renew(conn, name, holder, lease_secs, self._clock.now()),
        )

    async def release(self, name: str, holder: str) -> None:
        await self._db.run(
            f"release turn lock {name}", lambda conn: rows.release(conn, name, holder)
        )
