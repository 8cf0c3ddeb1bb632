"""A process that is SIGKILLed after pausing a conversation loses nothing (SQLite, Redis)."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
import uuid
from pathlib import Path

import pytest
from tests.storage.storage_helpers import FakeClock, RedisServer, ctx, data, scope

from greentic_runner.errors import StoreError
from greentic_runner.storage import (
    LeasePolicy,
    RedisSessionStore,
    RedisStateStore,
    SessionStore,
    SqliteSessionStore,
    SqliteStateStore,
    StateStore,
)

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


async def _run_child_and_kill(*args: str) -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.storage.durable_child",
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None
    try:
        line = await asyncio.wait_for(child.stdout.readline(), timeout=60)
        assert line.strip() == b"READY", line
    finally:
        child.send_signal(signal.SIGKILL)
        await child.wait()
    assert child.returncode == -signal.SIGKILL


async def _assert_resumable(sessions: SessionStore, states: StateStore, tenant: str) -> None:
    c = ctx(tenant)
    assert await sessions.find_wait_by_scope(c, "u1", scope()) == "paused"
    expected = data(tenant, node="ask", context='{"turn": 1}')
    assert await sessions.get_session("paused") == expected
    assert await sessions.find_by_user(c, "u1") == ("paused", expected)
    assert await states.get_json(c, "runner", "progress") == {"turn": 1}


async def test_sqlite_survives_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "runner.db"
    tenant = f"t{uuid.uuid4().hex[:8]}"
    await _run_child_and_kill("sqlite", str(path), tenant)

    # The dead process's lease row outlives it ...
    blocked = await SqliteSessionStore.open(path, lease=LeasePolicy(wait_timeout=0.05))
    try:
        with pytest.raises(StoreError, match="waiting for turn lock 'conv'"):
            async with blocked.turn_lock("conv"):
                pass
    finally:
        await blocked.close()
    # ... until its lease runs out (30 s, seen here through a clock that has moved on).
    later = FakeClock(time.time() + 31)
    sessions = await SqliteSessionStore.open(path, later)
    states = await SqliteStateStore.open(path, later)
    try:
        await _assert_resumable(sessions, states, tenant)
        async with sessions.turn_lock("conv"):
            await sessions.clear_wait(ctx(tenant), "u1", scope())
        assert await sessions.get_session("paused") is None
    finally:
        await sessions.close()
        await states.close()


@pytest.mark.redis
async def test_redis_survives_sigkill(redis_server: RedisServer) -> None:
    tenant = f"t{uuid.uuid4().hex[:8]}"
    namespace = f"durable:{tenant}"
    await _run_child_and_kill("redis", redis_server.url, tenant, namespace)
    sessions = RedisSessionStore.from_url(
        redis_server.url, namespace, lease=LeasePolicy(wait_timeout=10)
    )
    states = RedisStateStore.from_url(redis_server.url)
    try:
        await _assert_resumable(sessions, states, tenant)
        # The killed holder's 0.3 s lease expires on the server; then the lock is ours.
        async with sessions.turn_lock("conv"):
            await sessions.clear_wait(ctx(tenant), "u1", scope())
    finally:
        await sessions.close()
        await states.close()
