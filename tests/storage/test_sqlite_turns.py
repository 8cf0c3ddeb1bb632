"""SQLite specifics of the turn path: hops and statements per turn, fencing of the last write,
throttled sweeping, the per-store lease renewer, and the worker thread."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from tests.storage.storage_helpers import FakeClock, ctx, data, scope

from greentic_runner.errors import SessionError, StoreError
from greentic_runner.storage import LeasePolicy, SqliteSessionStore
from greentic_runner.storage.turns import turn_starter


def _rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteSessionStore]:
    opened = await SqliteSessionStore.open(tmp_path / "runner.db", FakeClock())
    yield opened
    await opened.close()


class Traffic:
    """Counts hops to the worker thread and SQL statements of one store."""

    def __init__(self, store: SqliteSessionStore) -> None:
        self.store = store
        self.hops = 0
        self.statements: list[str] = []

    async def __aenter__(self) -> Traffic:
        db = self.store.db
        original = db.run

        async def counting(op: str, fn: Callable[[sqlite3.Connection], Any]) -> Any:
            self.hops += 1
            return await original(op, fn)

        await original("trace", lambda conn: conn.set_trace_callback(self.statements.append))
        db.run = counting  # type: ignore[method-assign]
        return self

    async def __aexit__(self, *_: object) -> None:
        del self.store.db.run
        await self.store.db.run("untrace", lambda conn: conn.set_trace_callback(None))


async def test_a_turn_is_two_hops_and_two_commits(store: SqliteSessionStore) -> None:
    c = ctx()
    await store.register_wait(c, "u1", scope("warm"), "warm", data())  # the first sweep
    turn_of = turn_starter(store)("conv", c, "u1", [scope()])
    async with Traffic(store) as parking, turn_of as turn:
        await turn.park(c, "u1", scope(), "k1", data())
    turn_of = turn_starter(store)("conv", c, "u1", [scope()])
    async with Traffic(store) as clearing, turn_of as turn:
        assert turn.parked is not None
        await turn.clear(c, "u1", [scope()])
    for traffic in (parking, clearing):
        assert traffic.hops == 2
        assert traffic.statements.count("COMMIT") == 2
    # (The trace also reports each foreign-key cascade of a delete as a statement.)
    assert len(parking.statements) <= 13
    assert len(clearing.statements) <= 11
    assert not any(s.startswith("DELETE FROM sessions WHERE deadline") for s in parking.statements)


async def test_a_lost_lease_fences_the_last_write(tmp_path: Path) -> None:
    clock = FakeClock()
    stalled = await SqliteSessionStore.open(tmp_path / "runner.db", clock)
    other = await SqliteSessionStore.open(tmp_path / "runner.db", clock)
    c = ctx()
    try:
        async with turn_starter(stalled)("conv", c, "u1", [scope()]) as turn:
            clock.advance(31)  # past the 30 s lease without renewal
            async with other.turn_lock("conv"):
                await other.register_wait(c, "u1", scope(), "k1", data(node="theirs"))
            with pytest.raises(StoreError, match="turn lock 'conv' was lost"):
                await turn.park(c, "u1", scope(), "k1", data(node="stale"))
        assert await other.get_session("k1") == data(node="theirs")
        async with turn_starter(other)("conv", c, "u1", [scope()]) as turn:
            clock.advance(31)
            async with stalled.turn_lock("conv"):
                pass
            with pytest.raises(StoreError, match="was lost"):
                await turn.clear(c, "u1", [scope()])
        assert await other.get_session("k1") == data(node="theirs")  # the clear rolled back
    finally:
        await stalled.close()
        await other.close()


async def test_expired_rows_are_swept_at_most_once_a_second(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "runner.db"
    store = await SqliteSessionStore.open(path, clock)
    c = ctx()
    try:
        await store.register_wait(c, "u1", scope("a"), "ka", data(), ttl=0.5)
        clock.advance(0.6)  # ka expired, but the last sweep was 0.6 s ago
        await store.register_wait(c, "u1", scope("b"), "kb", data())
        assert await store.get_session("ka") is None  # never read after its deadline ...
        assert ("ka",) in _rows(path, "SELECT key FROM sessions")  # ... though not swept yet
        clock.advance(0.5)
        async with turn_starter(store)("conv", c, "u1", [scope("b")]) as turn:
            await turn.clear(c, "u1", [scope("b")])
        assert _rows(path, "SELECT key FROM sessions") == []
        assert _rows(path, "SELECT key FROM user_waits") == []
    finally:
        await store.close()


async def test_one_renewer_keeps_every_held_lease(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "runner.db"
    store = await SqliteSessionStore.open(path, clock, lease=LeasePolicy(lease_secs=0.15))
    try:
        async with store.turn_lock("a"), turn_starter(store)("b", ctx(), "u1", [scope()]):
            granted = dict(_rows(path, "SELECT name, expires FROM turn_leases"))
            clock.advance(0.1)
            await asyncio.sleep(0.2)  # more than one renewal period (0.05 s) of real time
            renewed = dict(_rows(path, "SELECT name, expires FROM turn_leases"))
            assert renewed.keys() == {"a", "b"}
            assert all(renewed[name] == pytest.approx(clock.now() + 0.15) for name in renewed)
            assert all(renewed[name] > granted[name] for name in renewed)
        assert _rows(path, "SELECT name FROM turn_leases") == []
    finally:
        await store.close()


async def test_a_stale_or_foreign_index_row_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "runner.db"
    store = await SqliteSessionStore.open(path, FakeClock())
    try:
        await store.register_wait(ctx(), "u1", scope(), "k1", data())
        bucket_u2 = '["dev","acme",null,"u2"]'
        with sqlite3.connect(path) as conn:  # u2's scope index pointing at u1's entry
            conn.execute(
                "INSERT INTO scope_waits (bucket, scope_hash, key) VALUES (?, ?, 'k1')",
                (bucket_u2, scope().scope_hash()),
            )
        assert await store.fetch_wait(ctx(), "u2", [scope()]) is None
        assert _rows(path, f"SELECT key FROM scope_waits WHERE bucket = '{bucket_u2}'") == []
        assert await store.fetch_wait(ctx(), "u1", [scope()]) == ("k1", data())
    finally:
        await store.close()


async def test_a_corrupt_parked_entry_fails_the_turn_and_frees_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "runner.db"
    store = await SqliteSessionStore.open(path, lease=LeasePolicy(wait_timeout=0.05))
    try:
        await store.register_wait(ctx(), "u1", scope(), "k1", data())
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE sessions SET data = '{oops' WHERE key = 'k1'")
        with pytest.raises(SessionError, match="corrupt"):
            async with turn_starter(store)("conv", ctx(), "u1", [scope()]):
                pass
        assert _rows(path, "SELECT name FROM turn_leases") == []
    finally:
        await store.close()


async def test_a_job_whose_caller_gave_up_is_skipped(store: SqliteSessionStore) -> None:
    started, gate = threading.Event(), threading.Event()
    ran: list[str] = []

    def blocking(conn: sqlite3.Connection) -> None:
        started.set()
        gate.wait(5)
        ran.append("first")

    first = asyncio.create_task(store.db.run("block", blocking))
    second = asyncio.create_task(store.db.run("skipped", lambda conn: ran.append("second")))
    # Both tasks queue their job while we wait for the worker to be inside the first one.
    assert await asyncio.get_running_loop().run_in_executor(None, started.wait, 5)
    second.cancel()
    gate.set()
    await first
    with pytest.raises(asyncio.CancelledError):
        await second
    await store.db.run("after", lambda conn: ran.append("third"))
    assert ran == ["first", "third"]
