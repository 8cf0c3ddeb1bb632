"""turn_lock: mutual exclusion on every backend, across instances, and lease fencing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from tests.storage.kits import Kit
from tests.storage.storage_helpers import FakeClock, RedisServer, ctx, data, scope

from greentic_runner.errors import StoreError
from greentic_runner.storage import (
    LeasePolicy,
    RedisSessionStore,
    SessionStore,
    SqliteSessionStore,
)


async def _critical(store: SessionStore, name: str, log: list[str], tag: str) -> None:
    async with store.turn_lock(name):
        log.append(f"{tag}:in")
        # Do store round trips: without the lock the other task would run here.
        for _ in range(3):
            await store.get_session("probe")
            await asyncio.sleep(0)
        log.append(f"{tag}:out")


def _assert_serialized(log: list[str]) -> None:
    assert len(log) % 2 == 0
    for i in range(0, len(log), 2):
        tag = log[i].split(":")[0]
        assert log[i : i + 2] == [f"{tag}:in", f"{tag}:out"], log


async def test_same_name_is_mutually_exclusive(sessions: SessionStore) -> None:
    log: list[str] = []
    await asyncio.gather(*(_critical(sessions, "conv-1", log, f"t{i}") for i in range(4)))
    _assert_serialized(log)
    assert len(log) == 8


async def test_different_names_do_not_block(sessions: SessionStore) -> None:
    async with sessions.turn_lock("a"), sessions.turn_lock("b"):
        pass


async def test_lock_is_released_on_error(sessions: SessionStore) -> None:
    with pytest.raises(RuntimeError):
        async with sessions.turn_lock("conv"):
            raise RuntimeError("turn failed")
    async with sessions.turn_lock("conv"):
        pass


async def test_writes_inside_a_held_lock_succeed(sessions: SessionStore, tenant: str) -> None:
    async with sessions.turn_lock("conv"):
        await sessions.register_wait(ctx(tenant), "u1", scope(), "k1", data(tenant))
        await sessions.update_session("k1", data(tenant, node="n2"))
        await sessions.clear_wait(ctx(tenant), "u1", scope())
    assert await sessions.get_session("k1") is None


async def test_instances_exclude_each_other(shared_kit: Kit) -> None:
    first, second = await shared_kit.session_store(), await shared_kit.session_store()
    log: list[str] = []
    await asyncio.gather(
        *(_critical([first, second][i % 2], "conv", log, f"t{i}") for i in range(4))
    )
    _assert_serialized(log)


async def test_a_waiter_enters_only_after_release(shared_kit: Kit) -> None:
    first, second = await shared_kit.session_store(), await shared_kit.session_store()
    entered = asyncio.Event()

    async def contender() -> None:
        async with second.turn_lock("conv"):
            entered.set()

    async with first.turn_lock("conv"):
        task = asyncio.create_task(contender())
        # The contender polls the shared lease meanwhile; it must not get in.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.shield(entered.wait()), timeout=0.3)
    await task
    assert entered.is_set()


async def test_waiting_can_time_out(shared_kit: Kit) -> None:
    shared_kit.lease = LeasePolicy(wait_timeout=0.05)
    first, second = await shared_kit.session_store(), await shared_kit.session_store()
    async with first.turn_lock("conv"):
        with pytest.raises(StoreError, match="waiting for turn lock 'conv'"):
            async with second.turn_lock("conv"):
                pass


async def test_sqlite_lost_lease_fences_writes(tmp_path: Path, tenant: str) -> None:
    clock = FakeClock()
    path = tmp_path / "runner.db"
    stalled = await SqliteSessionStore.open(path, clock)
    other = await SqliteSessionStore.open(path, clock)
    try:
        async with stalled.turn_lock("conv"):
            clock.advance(31)  # the holder stalls past its 30 s lease without renewing
            async with other.turn_lock("conv"):
                await other.register_wait(ctx(tenant), "u1", scope(), "k1", data(tenant))
            with pytest.raises(StoreError, match="turn lock 'conv' was lost"):
                await stalled.update_session("k1", data(tenant, node="stale"))
        assert await other.get_session("k1") == data(tenant)
    finally:
        await stalled.close()
        await other.close()


@pytest.mark.redis
async def test_redis_lost_lease_fences_writes(redis_server: RedisServer, tenant: str) -> None:
    stalled = RedisSessionStore.from_url(redis_server.url, f"fence:{tenant}")
    other = RedisSessionStore.from_url(redis_server.url, f"fence:{tenant}")
    admin = aioredis.Redis.from_url(redis_server.url)
    try:
        async with stalled.turn_lock("conv"):
            # Simulate the lease running out while the holder stalls.
            assert await admin.delete(stalled.lock_key("conv")) == 1
            async with other.turn_lock("conv"):
                await other.register_wait(ctx(tenant), "u1", scope(), "k1", data(tenant))
            with pytest.raises(StoreError, match="was lost"):
                await stalled.register_wait(
                    ctx(tenant), "u1", scope(), "k1", data(tenant, node="x")
                )
        assert await other.get_session("k1") == data(tenant)
    finally:
        await admin.aclose()
        await stalled.close()
        await other.close()


@pytest.mark.redis
async def test_redis_lease_is_renewed_and_released(redis_server: RedisServer, tenant: str) -> None:
    store = RedisSessionStore.from_url(
        redis_server.url, f"renew:{tenant}", lease=LeasePolicy(lease_secs=0.15)
    )
    admin = aioredis.Redis.from_url(redis_server.url)
    try:
        async with store.turn_lock("conv"):
            assert 0 < await admin.pttl(store.lock_key("conv")) <= 150
            # Outlive the lease several times over: renewal keeps the lock ours.
            await asyncio.sleep(0.5)
            assert await admin.exists(store.lock_key("conv")) == 1
            await store.register_wait(ctx(tenant), "u1", scope(), "k1", data(tenant))
        assert await admin.exists(store.lock_key("conv")) == 0
        assert int(await admin.get(f"renew:{tenant}:lock-fence")) >= 1
    finally:
        await admin.aclose()
        await store.close()
