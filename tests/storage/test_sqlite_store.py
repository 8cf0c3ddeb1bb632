"""SQLite specifics: file format, migrations, threads, sweeping, error translation."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from tests.storage.storage_helpers import FakeClock, ctx, data, scope

from greentic_runner.errors import StoreError
from greentic_runner.storage import SqliteDatabase, SqliteSessionStore, SqliteStateStore
from greentic_runner.storage.sqlite import SCHEMA_VERSION


def _rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


async def test_creates_a_wal_file_with_a_versioned_schema(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "runner.db"
    db = await SqliteDatabase.open(path)
    try:
        assert await db.schema_version() == SCHEMA_VERSION
    finally:
        await db.close()
    assert _rows(path, "PRAGMA journal_mode") == [("wal",)]
    assert [row[0] for row in _rows(path, "SELECT version FROM schema_migrations")] == [1]


async def test_reopening_does_not_reapply_migrations(tmp_path: Path) -> None:
    path = tmp_path / "runner.db"
    store = await SqliteSessionStore.open(path)
    await store.register_wait(ctx(), "u1", scope(), "k1", data())
    await store.close()
    store = await SqliteSessionStore.open(path)
    try:
        assert await store.get_session("k1") == data()
    finally:
        await store.close()
    assert len(_rows(path, "SELECT * FROM schema_migrations")) == 1


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "runner.db"
    await (await SqliteDatabase.open(path)).close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (99, 'future', 0)")
    with pytest.raises(
        StoreError, match=rf"runner.db has schema version 99.*supports \({SCHEMA_VERSION}\)"
    ):
        await SqliteDatabase.open(path)


async def test_unopenable_path_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match=r"sqlite store .*file/runner.db: open"):
        await SqliteDatabase.open(blocker / "runner.db")


async def test_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "runner.db"
    path.write_bytes(b"definitely not sqlite" * 100)
    with pytest.raises(StoreError, match="runner.db: open .* failed"):
        await SqliteDatabase.open(path)


async def test_closed_store_refuses_work(tmp_path: Path) -> None:
    store = await SqliteSessionStore.open(tmp_path / "runner.db")
    await store.close()
    await store.close()  # idempotent
    with pytest.raises(StoreError, match="is closed"):
        await store.get_session("k")


async def test_session_and_state_share_one_file(tmp_path: Path) -> None:
    db = await SqliteDatabase.open(tmp_path / "runner.db")
    sessions, states = SqliteSessionStore(db), SqliteStateStore(db)
    try:
        await sessions.register_wait(ctx(), "u1", scope(), "k1", data())
        await states.set_json(ctx(), "runner", "k", {"v": 1})
        await asyncio.gather(
            *(states.set_json(ctx(), "runner", f"k{i}", i) for i in range(30)),
            *(sessions.get_session("k1") for _ in range(30)),
        )
    finally:
        await sessions.close()  # does not own the database: still usable
        assert await states.get_json(ctx(), "runner", "k") == {"v": 1}
        await db.close()


async def test_writes_sweep_expired_rows(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "runner.db"
    sessions = await SqliteSessionStore.open(path, clock)
    states = await SqliteStateStore.open(path, clock)
    try:
        await sessions.register_wait(ctx(), "u1", scope(), "k1", data(), ttl=5)
        await states.set_json(ctx(), "p", "k", 1, ttl_secs=5)
        clock.advance(10)
        await sessions.register_wait(ctx(), "u1", scope("c2"), "k2", data())
        await states.set_json(ctx(), "p", "other", 2)
    finally:
        await sessions.close()
        await states.close()
    assert _rows(path, "SELECT key FROM sessions") == [("k2",)]
    assert _rows(path, "SELECT key FROM user_waits") == [("k2",)]
    assert _rows(path, "SELECT key FROM scope_waits") == [("k2",)]
    assert _rows(path, "SELECT key FROM state") == [("greentic:state:dev:acme:p:other",)]


async def test_corrupt_entry_is_a_session_error(tmp_path: Path) -> None:
    path = tmp_path / "runner.db"
    store = await SqliteSessionStore.open(path)
    try:
        await store.register_wait(ctx(), "u1", scope(), "k1", data())
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE sessions SET data = '{oops' WHERE key = 'k1'")
        with pytest.raises(StoreError, match="corrupt"):
            await store.get_session("k1")
    finally:
        await store.close()
