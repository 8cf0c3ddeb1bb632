"""The SQL behind the SQLite session store: wait rows and turn-lease rows.

Plain functions over a connection, run on the database's worker thread inside the caller's
transaction, so one store operation can combine several of them in one transaction and one
thread hop (a turn's lease and read; its last write and the release).
"""

from __future__ import annotations

import sqlite3

import orjson

from ..tenancy import TenantCtx
from .session import FoundWait, SessionData, check_preserved, user_bucket

LIVE = "(deadline IS NULL OR deadline > ?)"
LIVE_ENTRY = "(e.deadline IS NULL OR e.deadline > ?)"


def bucket_of(ctx: TenantCtx, user: str) -> str:
    """The ``bucket`` column: JSON ``[env, tenant, team, user]``."""
    return orjson.dumps(list(user_bucket(ctx, user))).decode()


def sweep(conn: sqlite3.Connection, now: float) -> None:
    """Delete expired entries (their index rows cascade)."""
    conn.execute("DELETE FROM sessions WHERE deadline IS NOT NULL AND deadline <= ?", (now,))


def load(conn: sqlite3.Connection, key: str, now: float) -> SessionData | None:
    row = conn.execute(f"SELECT data FROM sessions WHERE key = ? AND {LIVE}", (key, now)).fetchone()
    return None if row is None else SessionData.from_json(row[0])


StaleRows = list[tuple[str, str]]
"""(scope_hash, key) of scope index rows that point at no live entry of their bucket."""


def fetch(
    conn: sqlite3.Connection,
    ctx: TenantCtx,
    user: str,
    bucket: str,
    scope_hashes: list[str],
    now: float,
) -> tuple[FoundWait | None, StaleRows]:
    """The first scope holding a live wait of (ctx, user), and the stale index rows met
    before it (expired, dangling or foreign entries), which the caller drops in a write
    transaction, as ``find_wait_by_scope`` does."""
    stale: StaleRows = []
    for scope_hash in scope_hashes:
        row = conn.execute(
            "SELECT s.key, e.data, e.deadline FROM scope_waits s"
            " LEFT JOIN sessions e ON e.key = s.key WHERE s.bucket = ? AND s.scope_hash = ?",
            (bucket, scope_hash),
        ).fetchone()
        if row is None:
            continue
        key, raw, deadline = row
        if raw is not None and (deadline is None or deadline > now):
            data = SessionData.from_json(raw)
            stored = data.tenant_ctx
            if stored.identity == ctx.identity and stored.user == user:
                return (str(key), data), stale
        stale.append((scope_hash, str(key)))
    return None, stale


def drop_stale(conn: sqlite3.Connection, bucket: str, stale: StaleRows) -> None:
    for scope_hash, key in stale:
        conn.execute(
            "DELETE FROM scope_waits WHERE bucket = ? AND scope_hash = ? AND key = ?",
            (bucket, scope_hash, key),
        )


def find_key(
    conn: sqlite3.Connection, ctx: TenantCtx, user: str, bucket: str, scope_hash: str, now: float
) -> str | None:
    found, _ = fetch(conn, ctx, user, bucket, [scope_hash], now)
    return None if found is None else found[0]


def register(
    conn: sqlite3.Connection,
    key: str,
    data: SessionData,
    raw: bytes,
    bucket: str,
    scope_hash: str,
    deadline: float | None,
    now: float,
) -> None:
    """Write the entry and both index rows; the key that held the scope before leaves the
    user's wait set (its entry stays)."""
    current = load(conn, key, now)
    if current is not None:
        check_preserved(key, current.tenant_ctx, data.tenant_ctx)
    conn.execute(
        "INSERT INTO sessions (key, data, deadline) VALUES (?, ?, ?) ON CONFLICT(key)"
        " DO UPDATE SET data = excluded.data, deadline = excluded.deadline",
        (key, raw, deadline),
    )
    conn.execute(
        "DELETE FROM user_waits WHERE bucket = ?1 AND key <> ?3 AND key ="
        " (SELECT key FROM scope_waits WHERE bucket = ?1 AND scope_hash = ?2)",
        (bucket, scope_hash, key),
    )
    conn.execute("INSERT OR IGNORE INTO user_waits (bucket, key) VALUES (?, ?)", (bucket, key))
    conn.execute(
        "INSERT INTO scope_waits (bucket, scope_hash, key) VALUES (?, ?, ?)"
        " ON CONFLICT(bucket, scope_hash) DO UPDATE SET key = excluded.key",
        (bucket, scope_hash, key),
    )


def clear(conn: sqlite3.Connection, bucket: str, scope_hash: str) -> None:
    """Delete the entry waiting in the scope; the cascade drops both of its index rows."""
    conn.execute(
        "DELETE FROM sessions WHERE key ="
        " (SELECT key FROM scope_waits WHERE bucket = ? AND scope_hash = ?)",
        (bucket, scope_hash),
    )


def list_keys(conn: sqlite3.Connection, bucket: str, now: float) -> list[str]:
    rows = conn.execute(
        "SELECT u.key FROM user_waits u JOIN sessions e ON e.key = u.key"
        f" WHERE u.bucket = ? AND {LIVE_ENTRY} ORDER BY u.key",
        (bucket, now),
    ).fetchall()
    return [str(row[0]) for row in rows]


# -- turn leases ------------------------------------------------------------------------------


def holds(conn: sqlite3.Connection, name: str, holder: str, now: float) -> bool:
    row = conn.execute(
        "SELECT 1 FROM turn_leases WHERE name = ? AND holder = ? AND expires > ?",
        (name, holder, now),
    ).fetchone()
    return row is not None


def acquire(
    conn: sqlite3.Connection, name: str, holder: str, lease_secs: float, now: float
) -> int | None:
    """Take the lease when free, expired or already ``holder``'s; the new fencing token (from
    the one monotonic counter), else None. Call inside a write transaction."""
    rows = conn.execute(
        "INSERT INTO turn_leases (name, holder, token, expires)"
        " SELECT ?, ?, value + 1, ? FROM counters WHERE name = 'lease_token'"
        " ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, token = excluded.token,"
        " expires = excluded.expires"
        " WHERE turn_leases.expires <= ? OR turn_leases.holder = excluded.holder"
        " RETURNING token",
        (name, holder, now + lease_secs, now),
    ).fetchall()
    if not rows:
        return None
    token = int(rows[0][0])
    conn.execute("UPDATE counters SET value = ? WHERE name = 'lease_token'", (token,))
    return token


def release(conn: sqlite3.Connection, name: str, holder: str, now: float | None = None) -> bool:
    """Delete ``holder``'s lease row (only a live one when ``now`` is given); True when it
    was there, which, inside a write transaction, proves the lease was still ours."""
    if now is None:
        cursor = conn.execute(
            "DELETE FROM turn_leases WHERE name = ? AND holder = ?", (name, holder)
        )
    else:
        cursor = conn.execute(
            "DELETE FROM turn_leases WHERE name = ? AND holder = ? AND expires > ?",
            (name, holder, now),
        )
    return cursor.rowcount == 1


def renew(conn: sqlite3.Connection, name: str, holder: str, lease_secs: float, now: float) -> bool:
    cursor = conn.execute(
        "UPDATE turn_leases SET expires = ? WHERE name = ? AND holder = ? AND expires > ?",
        (now + lease_secs, name, holder, now),
    )
    return cursor.rowcount == 1
