"""Redis specifics: key shapes, server-side TTLs, error mapping, outage and recovery."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from tests.storage.storage_helpers import RedisServer, ctx, data, scope

from greentic_runner.errors import SessionError, StoreError
from greentic_runner.storage import RedisSessionStore, RedisStateStore

pytestmark = pytest.mark.redis


@pytest.fixture
async def admin(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
async def store(redis_server: RedisServer) -> AsyncIterator[RedisSessionStore]:
    session_store = RedisSessionStore.from_url(redis_server.url, f"ns{uuid.uuid4().hex[:8]}")
    yield session_store
    await session_store.close()


async def _keys(admin: aioredis.Redis, namespace: str) -> set[str]:
    return {key async for key in admin.scan_iter(match=f"{namespace}:*")}


async def test_key_shapes(store: RedisSessionStore, admin: aioredis.Redis) -> None:
    ns = store.namespace
    s = scope("conv")
    await store.register_wait(ctx(team="t"), "u1", s, "k1", data(team="t"))
    assert await _keys(admin, ns) == {
        f"{ns}:session:k1",
        f"{ns}:session-index:k1",
        f"{ns}:waits:user:dev:acme:t:u1",
        f"{ns}:waits:scope:dev:acme:t:u1:{s.scope_hash()}",
    }
    assert await admin.get(f"{ns}:waits:scope:dev:acme:t:u1:{s.scope_hash()}") == "k1"
    assert await admin.smembers(f"{ns}:waits:user:dev:acme:t:u1") == {"k1"}
    assert store.user_waits_key(ctx(), "u1") == f"{ns}:waits:user:dev:acme:-:u1"
    await store.clear_wait(ctx(team="t"), "u1", s)
    assert await _keys(admin, ns) == set()


async def test_remove_deletes_every_index(store: RedisSessionStore, admin: aioredis.Redis) -> None:
    await store.register_wait(ctx(), "u1", scope("a"), "k1", data())
    await store.register_wait(ctx(), "u1", scope("b"), "k1", data())
    await store.remove_session("k1")
    assert await _keys(admin, store.namespace) == set()


async def test_ttls_are_set_on_the_server(store: RedisSessionStore, admin: aioredis.Redis) -> None:
    ns = store.namespace
    s = scope()
    await store.register_wait(ctx(), "u1", s, "k1", data(), ttl=60)
    scope_key = store.scope_key(ctx(), "u1", s)
    for key in (
        f"{ns}:session:k1",
        scope_key,
        f"{ns}:session-index:k1",
        store.user_waits_key(ctx(), "u1"),
    ):
        assert 59_000 < await admin.pttl(key) <= 60_000, key
    await store.update_session("k1", data(node="n2"))
    assert 59_000 < await admin.pttl(f"{ns}:session:k1") <= 60_000
    await store.register_wait(ctx(), "u1", s, "k1", data())
    for key in (f"{ns}:session:k1", scope_key, store.user_waits_key(ctx(), "u1")):
        assert await admin.pttl(key) == -1, key


async def test_user_waits_set_lives_as_long_as_its_longest_member(
    store: RedisSessionStore, admin: aioredis.Redis
) -> None:
    waits = store.user_waits_key(ctx(), "u1")
    await store.register_wait(ctx(), "u1", scope("a"), "k1", data(), ttl=100)
    await store.register_wait(ctx(), "u1", scope("b"), "k2", data(), ttl=10)
    assert 99_000 < await admin.pttl(waits) <= 100_000


async def test_state_key_and_ttl(
    redis_server: RedisServer, admin: aioredis.Redis, tenant: str
) -> None:
    states = RedisStateStore.from_url(redis_server.url)
    try:
        await states.set_json(ctx(tenant, team="t", user="u"), "runner", "k", {"a": 1}, ttl_secs=30)
        key = f"greentic:state:dev:{tenant}:t:u:runner:k"
        assert await admin.get(key) == '{"a":1}'
        assert 29_000 < await admin.pttl(key) <= 30_000
        await states.set_json(
            ctx(tenant, team="t", user="u"), "runner", "k", 2, path="b", ttl_secs=5
        )
        assert await admin.get(key) == '{"a":1,"b":2}'
        assert 4_000 < await admin.pttl(key) <= 5_000
    finally:
        await states.close()


async def test_corrupt_entry_is_a_session_error(
    store: RedisSessionStore, admin: aioredis.Redis
) -> None:
    await admin.set(f"{store.namespace}:session:bad", "{oops")
    with pytest.raises(SessionError, match="corrupt"):
        await store.get_session("bad")
    with pytest.raises(SessionError, match="stored session entry bad is corrupt"):
        await store.update_session("bad", data())


# -- outage ------------------------------------------------------------------------------------


@pytest.fixture
def flaky_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A second private server with an append-only file, so a restart keeps its data."""
    server = RedisServer(tmp_path / "flaky", persistent=True)
    server.start()
    yield server
    server.stop()


async def test_outage_fails_clearly_and_recovers(flaky_server: RedisServer) -> None:
    sessions = RedisSessionStore.from_url(flaky_server.url, "outage")
    states = RedisStateStore.from_url(flaky_server.url)
    try:
        await sessions.register_wait(ctx(), "u1", scope(), "k1", data())
        flaky_server.stop()
        with pytest.raises(StoreError, match="redis register wait k2 failed"):
            await sessions.register_wait(ctx(), "u1", scope("c2"), "k2", data())
        with pytest.raises(StoreError, match="redis GET greentic:state:dev:acme:runner:k failed"):
            await states.get_json(ctx(), "runner", "k")
        with pytest.raises(StoreError):
            await sessions.ping()
        flaky_server.start()  # same port, same append-only file
        assert await sessions.find_wait_by_scope(ctx(), "u1", scope()) == "k1"
        assert await sessions.find_wait_by_scope(ctx(), "u1", scope("c2")) is None
        await sessions.register_wait(ctx(), "u1", scope("c2"), "k2", data())
        assert await sessions.list_waits_for_user(ctx(), "u1") == ["k1", "k2"]
        await states.set_json(ctx(), "runner", "k", 1)
        assert await states.get_json(ctx(), "runner", "k") == 1
    finally:
        await sessions.close()
        await states.close()
