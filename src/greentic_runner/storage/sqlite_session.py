"""SessionStore on SQLite: the durable default (spec §6.1 semantics, one file).

Tables (see :mod:`.sqlite`): ``sessions`` holds entries with an absolute ``deadline`` from the
injected clock; ``user_waits`` and ``scope_waits`` are the two indices and cascade away with
their entry. Expired rows are swept at the start of every write transaction and filtered out
of every read, so an expired entry is never returned. Each operation is one transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TypeVar

import orjson

from ..clock import SYSTEM_CLOCK, Clock
from ..errors import SessionError
from ..tenancy import ReplyScope, TenantCtx
from .locks import LeasePolicy, LocalLocks, active_lease, leased_lock, lost_lease_error
from .session import (
    SessionData,
    check_alignment,
    check_create,
    check_preserved,
    new_session_key,
    user_bucket,
)
from .sqlite import SqliteDatabase, write_txn

T = TypeVar("T")

_LIVE = "(deadline IS NULL OR deadline > ?)"
_LIVE_ENTRY = "(e.deadline IS NULL OR e.deadline > ?)"


def _bucket(ctx: TenantCtx, user: str) -> str:
    return orjson.dumps(list(user_bucket(ctx, user))).decode()


def _sweep(conn: sqlite3.Connection, now: float) -> None:
    conn.execute("DELETE FROM sessions WHERE deadline IS NOT NULL AND deadline <= ?", (now,))


def _load(conn: sqlite3.Connection, key: str, now: float) -> SessionData | None:
    row = conn.execute(
        f"SELECT data FROM sessions WHERE key = ? AND {_LIVE}", (key, now)
    ).fetchone()
    return None if row is None else SessionData.from_json(row[0])


class SqliteSessionStore:
    """Durable :class:`~greentic_runner.storage.session.SessionStore` on a SQLite file.

    ``turn_lock`` combines an in-process lock with a lease row in ``turn_leases``, so two
    processes on one file serialize turns; writes made while a lease is held are fenced.
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

    @classmethod
    async def open(
        cls, path: str | Path, clock: Clock = SYSTEM_CLOCK, *, lease: LeasePolicy | None = None
    ) -> SqliteSessionStore:
        """Open a store that owns its own database connection (closed by :meth:`close`)."""
        return cls(await SqliteDatabase.open(path), clock, owns_db=True, lease=lease)

    async def _write(self, op: str, key: str, fn: Callable[[sqlite3.Connection, float], T]) -> T:
        """Run ``fn`` in one write transaction: fence check, expiry sweep, then the work."""
        lease = active_lease(self)

        def txn(conn: sqlite3.Connection) -> T:
            now = self._clock.now()
            with write_txn(conn):
                if lease is not None and not _SqliteLeases.holds(
                    conn, lease.name, lease.holder, now
                ):
                    raise lost_lease_error(lease, f"session {key}")
                _sweep(conn, now)
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
        return await self.db.run(f"get session {key}", lambda c: _load(c, key, self._clock.now()))

    async def update_session(self, key: str, data: SessionData) -> None:
        raw = data.to_json()

        def update(conn: sqlite3.Connection, now: float) -> None:
            current = _load(conn, key, now)
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
        bucket, scope_hash, raw = _bucket(ctx, user), scope.scope_hash(), data.to_json()

        def register(conn: sqlite3.Connection, now: float) -> bool:
            if only_if_absent and _find(conn, ctx, user, bucket, scope_hash, now) is not None:
                return False
            current = _load(conn, key, now)
            if current is not None:
                check_preserved(key, current.tenant_ctx, data.tenant_ctx)
            deadline = None if ttl is None else now + ttl
            conn.execute(
                "INSERT INTO sessions (key, data, deadline) VALUES (?, ?, ?) ON CONFLICT(key)"
                " DO UPDATE SET data = excluded.data, deadline = excluded.deadline",
                (key, raw, deadline),
            )
            previous = conn.execute(
                "SELECT key FROM scope_waits WHERE bucket = ? AND scope_hash = ?",
                (bucket, scope_hash),
            ).fetchone()
            if previous is not None and previous[0] != key:
                conn.execute(
                    "DELETE FROM user_waits WHERE bucket = ? AND key = ?", (bucket, previous[0])
                )
            conn.execute(
                "INSERT OR IGNORE INTO user_waits (bucket, key) VALUES (?, ?)", (bucket, key)
            )
            conn.execute(
                "INSERT INTO scope_waits (bucket, scope_hash, key) VALUES (?, ?, ?)"
                " ON CONFLICT(bucket, scope_hash) DO UPDATE SET key = excluded.key",
                (bucket, scope_hash, key),
            )
            return True

        return await self._write("register wait", key, register)

    async def find_wait_by_scope(self, ctx: TenantCtx, user: str, scope: ReplyScope) -> str | None:
        bucket, scope_hash = _bucket(ctx, user), scope.scope_hash()

        def find(conn: sqlite3.Connection) -> str | None:
            now = self._clock.now()
            row = conn.execute(
                "SELECT key FROM scope_waits WHERE bucket = ? AND scope_hash = ?",
                (bucket, scope_hash),
            ).fetchone()
            if row is None:
                return None
            found = _find(conn, ctx, user, bucket, scope_hash, now)
            if found is None:
                # A dangling or foreign index entry: drop it, as the reference does.
                with write_txn(conn):
                    conn.execute(
                        "DELETE FROM scope_waits WHERE bucket = ? AND scope_hash = ? AND key = ?",
                        (bucket, scope_hash, row[0]),
                    )
            return found

        return await self.db.run(f"find wait by scope {scope_hash}", find)

    async def list_waits_for_user(self, ctx: TenantCtx, user: str) -> list[str]:
        bucket = _bucket(ctx, user)
        return await self.db.run(
            f"list waits for user {user}", lambda c: _list(c, bucket, self._clock.now())
        )

    async def clear_wait(self, ctx: TenantCtx, user: str, scope: ReplyScope) -> None:
        bucket, scope_hash = _bucket(ctx, user), scope.scope_hash()

        def clear(conn: sqlite3.Connection, now: float) -> None:
            row = conn.execute(
                "SELECT key FROM scope_waits WHERE bucket = ? AND scope_hash = ?",
                (bucket, scope_hash),
            ).fetchone()
            if row is not None:
                # The cascade drops both index rows with the entry.
                conn.execute("DELETE FROM sessions WHERE key = ?", (row[0],))

        await self._write("clear wait", scope_hash, clear)

    async def find_by_user(self, ctx: TenantCtx, user: str) -> tuple[str, SessionData] | None:
        bucket = _bucket(ctx, user)

        def find(conn: sqlite3.Connection) -> tuple[str, SessionData] | None:
            now = self._clock.now()
            keys = _list(conn, bucket, now)
            if not keys:
                return None
            if len(keys) > 1:
                raise SessionError("multiple waits exist for user; use scope-based routing instead")
            data = _load(conn, keys[0], now)
            return None if data is None else (keys[0], data)

        return await self.db.run(f"find by user {user}", find)

    def turn_lock(self, name: str) -> AbstractAsyncContextManager[None]:
        """In-process lock plus a lease row; see :mod:`.locks` for the guarantee."""
        return leased_lock(self, self._locks, self._leases, name, self._policy)

    async def close(self) -> None:
        if self._owns_db:
            await self.db.close()


def _find(
    conn: sqlite3.Connection, ctx: TenantCtx, user: str, bucket: str, scope_hash: str, now: float
) -> str | None:
    row = conn.execute(
        f"SELECT s.key, e.data FROM scope_waits s JOIN sessions e ON e.key = s.key"
        f" WHERE s.bucket = ? AND s.scope_hash = ? AND {_LIVE_ENTRY}",
        (bucket, scope_hash, now),
    ).fetchone()
    if row is None:
        return None
    stored = SessionData.from_json(row[1]).tenant_ctx
    if stored.identity != ctx.identity or stored.user != user:
        return None
    return str(row[0])


def _list(conn: sqlite3.Connection, bucket: str, now: float) -> list[str]:
    rows = conn.execute(
        "SELECT u.key FROM user_waits u JOIN sessions e ON e.key = u.key"
        f" WHERE u.bucket = ? AND {_LIVE_ENTRY} ORDER BY u.key",
        (bucket, now),
    ).fetchall()
    return [str(row[0]) for row in rows]


class _SqliteLeases:
    """Lease rows in ``turn_leases``; tokens come from one monotonic counter."""

    def __init__(self, db: SqliteDatabase, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    @staticmethod
    def holds(conn: sqlite3.Connection, name: str, holder: str, now: float) -> bool:
        row = conn.execute(
            "SELECT 1 FROM turn_leases WHERE name = ? AND holder = ? AND expires > ?",
            (name, holder, now),
        ).fetchone()
        return row is not None

    async def try_acquire(self, name: str, holder: str, lease_secs: float) -> int | None:
        def acquire(conn: sqlite3.Connection) -> int | None:
            now = self._clock.now()
            with write_txn(conn):
                row = conn.execute(
                    "SELECT holder, expires FROM turn_leases WHERE name = ?", (name,)
                ).fetchone()
                if row is not None and row[1] > now and row[0] != holder:
                    return None
                token = conn.execute(
                    "UPDATE counters SET value = value + 1 WHERE name = 'lease_token'"
                    " RETURNING value"
                ).fetchone()[0]
                conn.execute(
                    "INSERT INTO turn_leases (name, holder, token, expires) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT(name) DO UPDATE SET holder = excluded.holder,"
                    " token = excluded.token, expires = excluded.expires",
                    (name, holder, token, now + lease_secs),
                )
                return int(token)

        return await self._db.run(f"acquire turn lock {name}", acquire)

    async def renew(self, name: str, holder: str, lease_secs: float) -> bool:
        def renew(conn: sqlite3.Connection) -> bool:
            now = self._clock.now()
            with write_txn(conn):
                cursor = conn.execute(
                    "UPDATE turn_leases SET expires = ?"
                    " WHERE name = ? AND holder = ? AND expires > ?",
                    (now + lease_secs, name, holder, now),
                )
                return cursor.rowcount == 1

        return await self._db.run(f"renew turn lock {name}", renew)

    async def release(self, name: str, holder: str) -> None:
        def release(conn: sqlite3.Connection) -> None:
            with write_txn(conn):
                conn.execute(
                    "DELETE FROM turn_leases WHERE name = ? AND holder = ?", (name, holder)
                )

        await self._db.run(f"release turn lock {name}", release)
