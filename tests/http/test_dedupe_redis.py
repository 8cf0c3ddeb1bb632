"""RedisDedupe against a private redis-server: the DedupeStore contract across clients (each
client stands for one server process), racing claims, the in-flight lease and its renewal,
expiry, errors, and the server's automatic selection."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from tests.storage.storage_helpers import RedisServer, free_port

from greentic_runner.errors import StoreError
from greentic_runner.http.dedupe import Claim
from greentic_runner.http.dedupe_redis import RedisDedupe, shared_dedupe
from greentic_runner.storage.config import StorageConfig, open_stores
from greentic_runner.storage.redis import Client, connect

pytestmark = pytest.mark.redis

DEADLINE_SECS = 10.0


@pytest.fixture
async def clients(redis_server: RedisServer) -> AsyncIterator[tuple[Client, Client]]:
    """Two independent clients: two server processes sharing one Redis."""
    first, second = connect(redis_server.url), connect(redis_server.url)
    yield first, second
    await first.aclose()
    await second.aclose()


@pytest.fixture
def prefix() -> str:
    return f"greentic:session:test-{uuid.uuid4().hex[:8]}:dedupe"


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll ``check`` until it holds; Redis expiry runs on the server clock, nothing to inject."""
    deadline = time.monotonic() + DEADLINE_SECS
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not seen within {DEADLINE_SECS}s")
        await asyncio.sleep(0.02)


async def test_claim_lifecycle_is_seen_by_another_process(
    clients: tuple[Client, Client], prefix: str
) -> None:
    one, two = RedisDedupe(clients[0], prefix), RedisDedupe(clients[1], prefix)
    response = {"status": 200, "media_type": None, "headers": {}, "body": "aGk="}
    assert await one.claim("demo:telegram:1") == Claim("new")
    assert await two.claim("demo:telegram:1") == Claim("in_flight")
    assert await one.claim("demo:telegram:1") == Claim("in_flight")
    await one.complete("demo:telegram:1", response)
    assert await two.claim("demo:telegram:1") == Claim("done", response)
    assert await two.claim("demo:telegram:2") == Claim("new")  # other events are unaffected
    await one.close()
    await two.close()


async def test_release_frees_only_the_callers_own_claim(
    clients: tuple[Client, Client], prefix: str
) -> None:
    one, two = RedisDedupe(clients[0], prefix), RedisDedupe(clients[1], prefix)
    await one.claim("k")
    await two.release("k")  # not two's claim: nothing happens
    assert await two.claim("k") == Claim("in_flight")
    await one.release("k")
    assert await two.claim("k") == Claim("new")
    await two.complete("k", 1)
    await two.release("k")  # a finished event stays remembered
    assert await one.claim("k") == Claim("done", 1)
    await one.close()
    await two.close()


async def test_exactly_one_of_many_racing_claims_wins(
    clients: tuple[Client, Client], prefix: str
) -> None:
    stores = [RedisDedupe(clients[i % 2], prefix) for i in range(10)]
    claims = await asyncio.gather(*(store.claim("race") for store in stores))
    assert sorted(claim.state for claim in claims) == ["in_flight"] * 9 + ["new"]
    for store in stores:
        await store.close()


async def test_a_dead_holders_claim_expires_after_its_lease(
    clients: tuple[Client, Client], prefix: str
) -> None:
    dead = RedisDedupe(clients[0], prefix, lease_secs=0.3)
    alive = RedisDedupe(clients[1], prefix)
    assert await dead.claim("k") == Claim("new")
    await dead.close()  # the process dies: no renewal, no release
    assert await alive.claim("k") == Claim("in_flight")

    async def free() -> bool:
        return await alive.claim("k") == Claim("new")

    await eventually(free, "the dead holder's claim expiring")
    await alive.close()


async def test_a_running_claim_is_renewed(clients: tuple[Client, Client], prefix: str) -> None:
    dedupe = RedisDedupe(clients[0], prefix, lease_secs=0.6)
    await dedupe.claim("k")
    key = dedupe.redis_key("k")
    first = await clients[1].pttl(key)
    assert 0 < first <= 600

    async def renewed() -> bool:
        return bool(await clients[1].pttl(key) > first)

    await eventually(renewed, "a lease renewal")
    await dedupe.complete("k", "v")
    assert await clients[1].pttl(key) > 600 * 100  # now the (1 h) response TTL
    await dedupe.close()


async def test_remembered_responses_expire_after_the_ttl(
    clients: tuple[Client, Client], prefix: str
) -> None:
    dedupe = RedisDedupe(clients[0], prefix, ttl_secs=0.2)
    await dedupe.claim("k")
    await dedupe.complete("k", "v")
    assert await dedupe.claim("k") == Claim("done", "v")

    async def forgotten() -> bool:
        claim = await dedupe.claim("k")
        if claim.state == "new":
            await dedupe.release("k")
            return True
        return False

    await eventually(forgotten, "the response expiring")
    await dedupe.close()


async def test_a_corrupt_entry_is_a_store_error(
    clients: tuple[Client, Client], prefix: str
) -> None:
    dedupe = RedisDedupe(clients[0], prefix)
    await clients[1].set(dedupe.redis_key("k"), b"d:{not json")
    with pytest.raises(StoreError, match=f"dedupe entry {prefix}:k is corrupt"):
        await dedupe.claim("k")
    await dedupe.close()


async def test_an_unreachable_redis_is_a_store_error(prefix: str) -> None:
    client = connect(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5)
    dedupe = RedisDedupe(client, prefix)
    with pytest.raises(StoreError, match=f"redis dedupe claim {prefix}:k failed"):
        await dedupe.claim("k")
    await client.aclose()


def test_lease_and_ttl_must_be_positive(prefix: str) -> None:
    client = connect("redis://127.0.0.1:1/0")
    with pytest.raises(ValueError, match="must be positive"):
        RedisDedupe(client, prefix, lease_secs=0)
    with pytest.raises(ValueError, match="must be positive"):
        RedisDedupe(client, prefix, ttl_secs=-1)


async def test_the_server_uses_redis_dedupe_when_sessions_are_in_redis(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    namespace = f"greentic:session:test-{uuid.uuid4().hex[:8]}"
    async with await open_stores(
        StorageConfig.from_url(redis_server.url, namespace=namespace)
    ) as stores:
        dedupe = shared_dedupe(stores, ttl_secs=5)
        assert isinstance(dedupe, RedisDedupe)
        assert (dedupe.prefix, dedupe.ttl_secs) == (f"{namespace}:dedupe", 5)
    async with await open_stores(StorageConfig.memory()) as memory:
        assert shared_dedupe(memory) is None
    sqlite = StorageConfig.from_url(f"sqlite:{tmp_path / 'r.db'}")
    async with await open_stores(sqlite) as on_disk:
        assert shared_dedupe(on_disk) is None
