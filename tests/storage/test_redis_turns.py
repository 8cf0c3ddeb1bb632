"""Redis specifics of the turn path: round trips per turn, fencing of the last write, and a
lock taken by a script whose reply could not be used."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from tests.storage.storage_helpers import RedisServer, ctx, data, scope

from greentic_runner.errors import SessionError, StoreError
from greentic_runner.storage import LeasePolicy, RedisSessionStore
from greentic_runner.storage.turns import turn_starter

pytestmark = pytest.mark.redis


@pytest.fixture
async def admin(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
def namespace() -> str:
    return f"turns{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def store(redis_server: RedisServer, namespace: str) -> AsyncIterator[RedisSessionStore]:
    opened = RedisSessionStore.from_url(
        redis_server.url, namespace, lease=LeasePolicy(wait_timeout=1)
    )
    yield opened
    await opened.close()


class Commands:
    """Counts the commands (network round trips) one store's client sends."""

    def __init__(self, store: RedisSessionStore) -> None:
        self.client = store.client
        self.sent: list[str] = []

    def __enter__(self) -> Commands:
        original = self.client.execute_command

        async def counting(*args: Any, **options: Any) -> Any:
            self.sent.append(str(args[0]))
            return await original(*args, **options)  # type: ignore[no-untyped-call]

        self.client.execute_command = counting  # type: ignore[method-assign]
        return self

    def __exit__(self, *_: object) -> None:
        del self.client.execute_command


async def test_a_turn_is_two_round_trips(store: RedisSessionStore) -> None:
    c = ctx()
    for counted in (False, False, True, True):  # a first park and clear load the scripts
        turn_of = turn_starter(store)("conv", c, "u1", [scope(), scope("correlated")])
        with Commands(store) as commands:
            async with turn_of as turn:
                if turn.parked is None:
                    await turn.park(c, "u1", scope(), "k1", data())
                else:
                    await turn.clear(c, "u1", [scope(), scope("correlated")])
        if counted:
            assert commands.sent == ["EVALSHA", "EVALSHA"]
    assert await store.get_session("k1") is None


async def test_the_lock_is_gone_after_the_last_write(
    store: RedisSessionStore, admin: aioredis.Redis
) -> None:
    c = ctx()
    async with turn_starter(store)("conv", c, "u1", [scope()]) as turn:
        assert await admin.exists(store.lock_key("conv")) == 1
        await turn.park(c, "u1", scope(), "k1", data())
        assert await admin.exists(store.lock_key("conv")) == 0
    async with turn_starter(store)("conv", c, "u1", [scope()]) as turn:
        await turn.clear(c, "u1", [scope()])
        assert await admin.exists(store.lock_key("conv")) == 0
    assert await admin.get(store.fence_counter_key) == "2"


async def test_a_lost_lease_fences_the_last_write(
    store: RedisSessionStore, admin: aioredis.Redis, redis_server: RedisServer, namespace: str
) -> None:
    other = RedisSessionStore.from_url(redis_server.url, namespace)
    c = ctx()
    try:
        async with turn_starter(store)("conv", c, "u1", [scope()]) as turn:
            assert await admin.delete(store.lock_key("conv")) == 1  # the lease ran out
            async with other.turn_lock("conv"):
                await other.register_wait(c, "u1", scope(), "k1", data(node="theirs"))
            async with other.turn_lock("conv"):
                with pytest.raises(StoreError, match="was lost"):
                    await turn.park(c, "u1", scope(), "k1", data(node="stale"))
                with pytest.raises(StoreError, match="ran twice"):
                    await turn.clear(c, "u1", [scope()])
                assert await admin.exists(store.lock_key("conv")) == 1  # still theirs
        assert await other.get_session("k1") == data(node="theirs")
    finally:
        await other.close()


async def test_a_refused_park_still_releases_the_lock(
    store: RedisSessionStore, admin: aioredis.Redis
) -> None:
    c = ctx()
    await store.register_wait(c, "u1", scope("x"), "k1", data())
    async with turn_starter(store)("conv", c, "u2", [scope()]) as turn:
        with pytest.raises(SessionError, match="must keep its user"):
            await turn.park(c, "u2", scope(), "k1", data(user="u2"))
        assert await admin.exists(store.lock_key("conv")) == 0
    assert await store.get_session("k1") == data()


async def test_an_unreadable_parked_entry_fails_the_turn_and_frees_the_lock(
    store: RedisSessionStore, admin: aioredis.Redis
) -> None:
    c = ctx()
    await store.register_wait(c, "u1", scope(), "k1", data())
    raw = await admin.get(store.entry_key("k1"))
    assert raw is not None
    entry = orjson.loads(raw)
    del entry["cursor"]  # still names its owner, so the script returns it; Python refuses it
    await admin.set(store.entry_key("k1"), orjson.dumps(entry))
    with pytest.raises(SessionError, match="corrupt"):
        async with turn_starter(store)("conv", c, "u1", [scope()]):
            pass
    assert await admin.exists(store.lock_key("conv")) == 0


async def test_a_foreign_scope_key_is_dropped(
    store: RedisSessionStore, admin: aioredis.Redis
) -> None:
    await store.register_wait(ctx(), "u1", scope(), "k1", data())
    foreign = store.scope_key(ctx(), "u2", scope())
    await admin.set(foreign, "k1")  # u2's scope pointing at u1's entry
    assert await store.fetch_wait(ctx(), "u2", [scope()]) is None
    assert await admin.exists(foreign) == 0
    async with turn_starter(store)("conv", ctx(), "u2", [scope()]) as turn:
        assert turn.parked is None
    assert await store.fetch_wait(ctx(), "u1", [scope()]) == ("k1", data())
