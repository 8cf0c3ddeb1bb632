"""StateStore on SQLite (spec §6.4 semantics).

Rows are keyed by the reference's fully-qualified key (:func:`.state.state_key`), so
``del_prefix`` means exactly what it means on Redis and in memory. A path write reads,
edits and writes the document inside one IMMEDIATE transaction, so concurrent path writes
from several processes never lose each other's updates.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import orjson

from ..clock import SYSTEM_CLOCK, Clock
from ..tenancy import TenantCtx
from .sqlite import SqliteDatabase, write_txn
from .state import encode, read_path, state_key, state_prefix, write_path

_LIVE = "(deadline IS NULL OR deadline > ?)"


class SqliteStateStore:
    """Durable :class:`~greentic_runner.storage.state.StateStore` on a SQLite file."""

    def __init__(self, db: SqliteDatabase, clock: Clock = SYSTEM_CLOCK, *, owns_db: bool = False):
        self.db = db
        self._clock = clock
        self._owns_db = owns_db

    @classmethod
    async def open(cls, path: str | Path, clock: Clock = SYSTEM_CLOCK) -> SqliteStateStore:
        """Open a store that owns its own database connection (closed by :meth:`close`)."""
        return cls(await SqliteDatabase.open(path), clock, owns_db=True)

    async def get_json(
        self, ctx: TenantCtx, prefix: str, key: str, path: str | None = None
    ) -> Any | None:
        full_key = state_key(ctx, prefix, key)

        def get(conn: sqlite3.Connection) -> bytes | None:
            row = conn.execute(
                f"SELECT value FROM state WHERE key = ? AND {_LIVE}", (full_key, self._clock.now())
            ).fetchone()
            return None if row is None else bytes(row[0])

        raw = await self.db.run(f"get state {full_key}", get)
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
        # Fail on unserializable values before touching the database.
        whole = encode(value) if not path else None

        def put(conn: sqlite3.Connection) -> None:
            now = self._clock.now()
            with write_txn(conn):
                raw = whole
                if raw is None:
                    row = conn.execute(
                        f"SELECT value FROM state WHERE key = ? AND {_LIVE}", (full_key, now)
                    ).fetchone()
                    doc = None if row is None else orjson.loads(row[0])
                    raw = encode(write_path(doc, path, value))
                deadline = None if ttl_secs is None else now + ttl_secs
                # Writers sweep expired rows, so values nobody reads again do not pile up.
                conn.execute(
                    "DELETE FROM state WHERE deadline IS NOT NULL AND deadline <= ?", (now,)
                )
                conn.execute(
                    "INSERT INTO state (key, value, deadline) VALUES (?, ?, ?) ON CONFLICT(key)"
                    " DO UPDATE SET value = excluded.value, deadline = excluded.deadline",
                    (full_key, raw, deadline),
                )

        await self.db.run(f"set state {full_key}", put)

    async def delete(self, ctx: TenantCtx, prefix: str, key: str) -> bool:
        full_key = state_key(ctx, prefix, key)

        def delete(conn: sqlite3.Connection) -> bool:
            now = self._clock.now()
            with write_txn(conn):
                live = conn.execute(
                    f"SELECT 1 FROM state WHERE key = ? AND {_LIVE}", (full_key, now)
                ).fetchone()
                conn.execute("DELETE FROM state WHERE key = ?", (full_key,))
                return live is not None

        return await self.db.run(f"delete state {full_key}", delete)

    async def del_prefix(self, ctx: TenantCtx, prefix: str) -> int:
        start = state_prefix(ctx, prefix)

        def delete(conn: sqlite3.Connection) -> int:
            now = self._clock.now()
            match = "substr(key, 1, ?) = ?"
            with write_txn(conn):
                (live,) = conn.execute(
                    f"SELECT COUNT(*) FROM state WHERE {match} AND {_LIVE}",
                    (len(start), start, now),
                ).fetchone()
                conn.execute(f"DELETE FROM state WHERE {match}", (len(start), start))
                return int(live)

        return await self.db.run(f"delete state prefix {start}", delete)

    async def close(self) -> None:
        if self._owns_db:
            await self.db.close()
