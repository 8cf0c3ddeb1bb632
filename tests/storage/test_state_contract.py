"""The StateStore contract (spec §6.4) on memory, SQLite and Redis."""

from __future__ import annotations

import asyncio

import pytest
from tests.storage.kits import Kit
from tests.storage.storage_helpers import ctx

from greentic_runner.errors import StoreError
from greentic_runner.storage import StateStore
from greentic_runner.storage.state import state_key
from greentic_runner.tenancy import TenantCtx


async def test_set_get_whole_value(states: StateStore, tenant: str) -> None:
    c = ctx(tenant)
    assert await states.get_json(c, "runner", "k") is None
    value = {"a": [1, 2, {"b": None}], "big": 2**53 + 1, "empty": {}, "list": []}
    await states.set_json(c, "runner", "k", value)
    assert await states.get_json(c, "runner", "k") == value
    await states.set_json(c, "runner", "k", "replaced")
    assert await states.get_json(c, "runner", "k") == "replaced"


async def test_read_paths(states: StateStore, tenant: str) -> None:
    c = ctx(tenant)
    await states.set_json(c, "p", "k", {"profile": {"name": "Ada", "tags": ["x", "y"]}})
    assert await states.get_json(c, "p", "k", "profile.name") == "Ada"
    assert await states.get_json(c, "p", "k", "profile.tags.1") == "y"
    assert await states.get_json(c, "p", "k", "profile.tags.7") is None
    assert await states.get_json(c, "p", "k", "profile.missing.deeper") is None
    assert await states.get_json(c, "p", "k", ".") == {
        "profile": {"name": "Ada", "tags": ["x", "y"]}
    }


async def test_write_paths(states: StateStore, tenant: str) -> None:
    c = ctx(tenant)
    await states.set_json(c, "p", "k", 1, path="a.b.c")
    assert await states.get_json(c, "p", "k") == {"a": {"b": {"c": 1}}}
    await states.set_json(c, "p", "k", [10, 20], path="a.list")
    await states.set_json(c, "p", "k", 21, path="a.list.1")
    assert await states.get_json(c, "p", "k") == {"a": {"b": {"c": 1}, "list": [10, 21]}}


@pytest.mark.parametrize(
    ("path", "message"),
    [("a..b", "empty segment"), ("list.5", "index 5 out of range")],
    ids=["empty-segment", "index-out-of-range"],
)
async def test_bad_write_paths(states: StateStore, tenant: str, path: str, message: str) -> None:
    c = ctx(tenant)
    await states.set_json(c, "p", "k", {"list": [1]})
    with pytest.raises(StoreError, match=message):
        await states.set_json(c, "p", "k", 2, path=path)
    assert await states.get_json(c, "p", "k") == {"list": [1]}


async def test_unserializable_value_is_refused(states: StateStore, tenant: str) -> None:
    with pytest.raises(StoreError, match="not JSON-serializable"):
        await states.set_json(ctx(tenant), "p", "k", {"x": object()})
    assert await states.get_json(ctx(tenant), "p", "k") is None


async def test_keys_are_scoped_by_team_and_user(states: StateStore, tenant: str) -> None:
    contexts = [ctx(tenant), ctx(tenant, team="t"), ctx(tenant, user="u"), ctx(tenant, "t", "u")]
    for index, c in enumerate(contexts):
        await states.set_json(c, "p", "k", index)
    for index, c in enumerate(contexts):
        assert await states.get_json(c, "p", "k") == index
    assert await states.get_json(TenantCtx("other-env", tenant), "p", "k") is None


async def test_ttl_expiry(kit: Kit, states: StateStore, tenant: str) -> None:
    c = ctx(tenant)
    await states.set_json(c, "p", "short", {"v": 1}, ttl_secs=kit.short_ttl)
    await states.set_json(c, "p", "forever", {"v": 2})
    await states.set_json(c, "p", "cleared", 3, ttl_secs=kit.short_ttl)
    await states.set_json(c, "p", "cleared", 4)  # a write without a TTL makes it permanent
    assert await states.get_json(c, "p", "short", "v") == 1
    await kit.expire(kit.short_ttl)
    assert await states.get_json(c, "p", "short") is None
    assert await states.get_json(c, "p", "forever") == {"v": 2}
    assert await states.get_json(c, "p", "cleared") == 4
    assert await states.delete(c, "p", "short") is False


async def test_path_write_on_expired_value_starts_fresh(
    kit: Kit, states: StateStore, tenant: str
) -> None:
    c = ctx(tenant)
    await states.set_json(c, "p", "k", {"old": True}, ttl_secs=kit.short_ttl)
    await kit.expire(kit.short_ttl)
    await states.set_json(c, "p", "k", 1, path="new")
    assert await states.get_json(c, "p", "k") == {"new": 1}


async def test_delete(states: StateStore, tenant: str) -> None:
    c = ctx(tenant)
    await states.set_json(c, "p", "k", 1)
    assert await states.delete(c, "p", "k") is True
    assert await states.get_json(c, "p", "k") is None
    assert await states.delete(c, "p", "k") is False


async def test_del_prefix(states: StateStore, tenant: str) -> None:
    c = ctx(tenant)
    for key in ("a", "b", "c*[x]"):
        await states.set_json(c, "runner", key, key)
    await states.set_json(c, "runner2", "a", "other prefix")
    await states.set_json(ctx(tenant, user="u"), "runner", "a", "other user")
    await states.set_json(ctx(f"{tenant}x"), "runner", "a", "other tenant")
    assert await states.del_prefix(c, "runner") == 3
    assert await states.get_json(c, "runner", "a") is None
    assert await states.get_json(c, "runner2", "a") == "other prefix"
    assert await states.get_json(ctx(tenant, user="u"), "runner", "a") == "other user"
    assert await states.get_json(ctx(f"{tenant}x"), "runner", "a") == "other tenant"
    assert await states.del_prefix(c, "runner") == 0


async def test_del_prefix_escapes_glob_characters(states: StateStore, tenant: str) -> None:
    c = ctx(tenant)
    await states.set_json(c, "p?", "k", 1)
    await states.set_json(c, "px", "k", 2)
    assert await states.del_prefix(c, "p?") == 1
    assert await states.get_json(c, "px", "k") == 2


async def test_del_prefix_does_not_count_expired(kit: Kit, states: StateStore, tenant: str) -> None:
    c = ctx(tenant)
    await states.set_json(c, "p", "gone", 1, ttl_secs=kit.short_ttl)
    await states.set_json(c, "p", "live", 2)
    await kit.expire(kit.short_ttl)
    assert await states.del_prefix(c, "p") == 1


async def test_concurrent_path_writes_lose_nothing(shared_or_memory: Kit, tenant: str) -> None:
    stores = [await shared_or_memory.state_store(), await shared_or_memory.state_store()]
    c = ctx(tenant)
    await asyncio.gather(
        *(stores[i % 2].set_json(c, "p", "doc", i, path=f"field{i}") for i in range(20))
    )
    assert await stores[0].get_json(c, "p", "doc") == {f"field{i}": i for i in range(20)}


def test_state_key_shape() -> None:
    assert state_key(TenantCtx("dev", "acme"), "runner", "k") == "greentic:state:dev:acme:runner:k"
    full = TenantCtx("dev", "acme", team="t", user="u")
    assert state_key(full, "runner", "k") == "greentic:state:dev:acme:t:u:runner:k"
