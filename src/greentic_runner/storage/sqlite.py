"""The embedded SQLite database behind the default durable stores.

One file, WAL journal, a versioned schema applied by numbered migrations (recorded in
``schema_migrations``). One connection lives on one dedicated worker thread; every call
is shipped there, so the event loop never blocks on disk or on another process's write lock,
and the connection is never shared between threads. Writes run in ``BEGIN IMMEDIATE``
transactions, which serialize writers across processes on the same file.

The worker is a plain thread fed by a queue (not a ``ThreadPoolExecutor``): a call is one
queue put and one ``call_soon_threadsafe`` back, which is about half the cost of
``run_in_executor``'s chained futures on the hot path of every turn.

This module is the one place where ``sqlite3.Error`` (and ``OSError`` from opening the file)
becomes :class:`~greentic_runner.errors.StoreError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..errors import StoreError

T = TypeVar("T")

DEFAULT_SQLITE_PATH = Path(".greentic/runner.db")
"""Where the CLI and server keep their store unless configured otherwise."""


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: ``version`` is applied once, all statements in one transaction."""

    version: int
    name: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "sessions, wait indices, state, turn leases",
        (
            "CREATE TABLE sessions (key TEXT PRIMARY KEY, data BLOB NOT NULL, deadline REAL)",
            "CREATE INDEX sessions_deadline ON sessions(deadline) WHERE deadline IS NOT NULL",
            # bucket = JSON [env, tenant, team, user]: one unambiguous text column.
            "CREATE TABLE user_waits (bucket TEXT NOT NULL,"
            " key TEXT NOT NULL REFERENCES sessions(key) ON DELETE CASCADE,"
            " PRIMARY KEY (bucket, key)) WITHOUT ROWID",
            "CREATE INDEX user_waits_key ON user_waits(key)",
            "CREATE TABLE scope_waits (bucket TEXT NOT NULL, scope_hash TEXT NOT NULL,"
            " key TEXT NOT NULL REFERENCES sessions(key) ON DELETE CASCADE,"
            " PRIMARY KEY (bucket, scope_hash)) WITHOUT ROWID",
            "CREATE INDEX scope_waits_key ON scope_waits(key)",
            "CREATE TABLE state (key TEXT PRIMARY KEY, value BLOB NOT NULL, deadline REAL)"
            " WITHOUT ROWID",
            "CREATE INDEX state_deadline ON state(deadline) WHERE deadline IS NOT NULL",
            "CREATE TABLE turn_leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL,"
            " token INTEGER NOT NULL, expires REAL NOT NULL) WITHOUT ROWID",
            "CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
            "INSERT INTO counters (name, value) VALUES ('lease_token', 0)",
        ),
    ),
)

SCHEMA_VERSION = MIGRATIONS[-1].version


class SqliteDatabase:
    """A SQLite file opened for the stores; share one between the session and state stores.

    Open with :meth:`open`; every operation goes through :meth:`run`. Raises
    :class:`StoreError` when the file cannot be opened or its schema is newer than this code.
    """

    def __init__(self, path: Path, busy_timeout: float) -> None:
        self.path = path
        self._busy_timeout = busy_timeout
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        # A daemon thread: a database nobody closed must not keep the interpreter alive.
        self._thread = threading.Thread(target=_serve, args=(self._jobs,), daemon=True)
        self._thread.name = "greentic-sqlite"
        self._thread.start()
        self._conn: sqlite3.Connection | None = None
        self._closed = False

    @classmethod
    async def open(cls, path: str | Path, *, busy_timeout: float = 10.0) -> SqliteDatabase:
        """Open (creating parent folders and the file) and migrate ``path``.

        ``busy_timeout`` is how long a write waits for another process's write lock.
        """
        db = cls(Path(path), busy_timeout)
        try:
            await db._offload(f"open {db.path}", db._connect)
        except BaseException:
            await db.close()
            raise
        return db

    def _connect(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None)
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"sqlite store {self.path}: WAL journal mode unavailable ({mode})")
            # NORMAL in WAL mode survives process crashes; only an OS crash or power loss can
            # roll back the last commits (see docs/storage.md).
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            _migrate(conn, self.path)
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    async def run(self, op: str, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` on the worker thread; ``op`` names the work in errors.

        Raises :class:`StoreError` for SQLite and file-system failures; ``RunnerError``s
        raised by ``fn`` pass through unchanged.
        """
        if self._closed:
            raise StoreError(f"sqlite store {self.path} is closed ({op})")
        return await self._offload(op, lambda: fn(self._connection()))

    async def _offload(self, op: str, fn: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((fn, future, loop))
        try:
            return await future
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"sqlite store {self.path}: {op} failed: {exc}") from exc

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"sqlite store {self.path} is closed")
        return self._conn

    async def schema_version(self) -> int:
        """The highest migration applied to the file."""
        return await self.run("read schema version", _current_version)

    async def close(self) -> None:
        """Close the connection and stop the worker thread. Idempotent."""
        if self._closed:
            return
        self._closed = True
        conn, self._conn = self._conn, None
        try:
            if conn is not None:
                await self._offload(f"close {self.path}", conn.close)
        finally:
            self._jobs.put(None)  # the worker ends after the jobs queued before this one


_Job = tuple[Callable[[], Any], "asyncio.Future[Any]", asyncio.AbstractEventLoop]


def _serve(jobs: queue.SimpleQueue[_Job | None]) -> None:
    """The worker thread: run jobs in order and hand each outcome back to its loop."""
    while (job := jobs.get()) is not None:
        fn, future, loop = job
        if future.cancelled():
            continue  # the caller gave up before the work started: skip it, as executors do
        try:
            result = fn()
        except BaseException as exc:  # handed to the awaiting task, which re-raises it
            _settle(loop, future.set_exception, future, exc)
        else:
            _settle(loop, future.set_result, future, result)


def _settle(
    loop: asyncio.AbstractEventLoop,
    setter: Callable[[Any], None],
    future: asyncio.Future[Any],
    value: Any,
) -> None:
    with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
        loop.call_soon_threadsafe(_set_unless_cancelled, setter, future, value)


def _set_unless_cancelled(
    setter: Callable[[Any], None], future: asyncio.Future[Any], value: Any
) -> None:
    if not future.cancelled():
        setter(value)


@contextmanager
def write_txn(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``: take the file's write lock up front, so a
    read-then-write never deadlocks against another process; roll back on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _current_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
    return int(row[0])


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    with write_txn(conn):
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
        )
        current = _current_version(conn)
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"sqlite store {path} has schema version {current}, newer than this runner "
                f"supports ({SCHEMA_VERSION}); upgrade greentic-runner"
            )
        for migration in MIGRATIONS:
            if migration.version <= current:
                continue
            for statement in migration.statements:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, time.time()),
            )
