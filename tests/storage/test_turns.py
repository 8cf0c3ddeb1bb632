"""fetch_wait and turn_starter: the combined turn operations, on every backend, and the plain
fallback for stores that implement only the SessionStore protocol."""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager

import pytest
from tests.storage.kits import Kit
from tests.storage.storage_helpers import ctx, data, scope

from greentic_runner.errors import SessionError, StoreError
from greentic_runner.storage import LeasePolicy, SessionData, SessionStore
from greentic_runner.storage.session import fetch_wait
from greentic_runner.storage.turns import turn_starter
from greentic_runner.tenancy import ReplyScope, TenantCtx


class ProtocolOnly:
    """A store with exactly the SessionStore protocol (no fetch_wait, no begin_turn)."""

    def __init__(self, inner: SessionStore) -> None:
        self._inner = inner

    async def find_wait_by_scope(self, c: TenantCtx, user: str, s: ReplyScope) -> str | None:
        return await self._inner.find_wait_by_scope(c, user, s)

    async def get_session(self, key: str) -> SessionData | None:
        return await self._inner.get_session(key)

    async def register_wait(
        self,
        c: TenantCtx,
        user: str,
        s: ReplyScope,
        key: str,
        d: SessionData,
        ttl: float | None = None,
    ) -> None:
        await self._inner.register_wait(c, user, s, key, d, ttl)

    async def clear_wait(self, c: TenantCtx, user: str, s: ReplyScope) -> None:
        await self._inner.clear_wait(c, user, s)

    def turn_lock(self, name: str) -> AbstractAsyncContextManager[None]:
        return self._inner.turn_lock(name)


def _stores(sessions: SessionStore) -> list[SessionStore]:
    """The store itself and the protocol-only view of it (the fallback path)."""
    return [sessions, ProtocolOnly(sessions)]  # type: ignore[list-item]


# -- fetch_wait ------------------------------------------------------------------------------


async def test_fetch_wait_returns_the_first_scope_with_a_wait(
    sessions: SessionStore, tenant: str
) -> None:
    c = ctx(tenant)
    await sessions.register_wait(c, "u1", scope("plain"), "k-plain", data(tenant, node="a"))
    await sessions.register_wait(c, "u1", scope("other"), "k-other", data(tenant, node="b"))
    for store in _stores(sessions):
        found = await fetch_wait(store, c, "u1", [scope("none"), scope("plain"), scope("other")])
        assert found == ("k-plain", data(tenant, node="a"))
        assert await fetch_wait(store, c, "u1", [scope("other"), scope("plain")]) == (
            "k-other",
            data(tenant, node="b"),
        )
        assert await fetch_wait(store, c, "u1", [scope("none")]) is None
        assert await fetch_wait(store, c, "u1", []) is None


async def test_fetch_wait_is_per_user_and_team(sessions: SessionStore, tenant: str) -> None:
    await sessions.register_wait(ctx(tenant), "u1", scope(), "k1", data(tenant))
    for store in _stores(sessions):
        assert await fetch_wait(store, ctx(tenant, user="u2"), "u2", [scope()]) is None
        assert await fetch_wait(store, ctx(tenant, team="t"), "u1", [scope()]) is None
        assert await fetch_wait(store, ctx(tenant), "u1", [scope()]) == ("k1", data(tenant))


async def test_fetch_wait_skips_an_expired_wait_and_drops_its_index(
    kit: Kit, sessions: SessionStore, tenant: str
) -> None:
    c = ctx(tenant)
    await sessions.register_wait(c, "u1", scope("old"), "k-old", data(tenant), ttl=kit.short_ttl)
    await sessions.register_wait(c, "u1", scope("new"), "k-new", data(tenant, node="n2"))
    await kit.expire(kit.short_ttl)
    found = await sessions.fetch_wait(c, "u1", [scope("old"), scope("new")])  # type: ignore[attr-defined]
    assert found == ("k-new", data(tenant, node="n2"))
    assert await sessions.find_wait_by_scope(c, "u1", scope("old")) is None
    assert await sessions.list_waits_for_user(c, "u1") == ["k-new"]


async def test_fetch_wait_matches_find_then_get_after_reregistration(
    sessions: SessionStore, tenant: str
) -> None:
    c = ctx(tenant)
    await sessions.register_wait(c, "u1", scope(), "old", data(tenant, node="a"))
    await sessions.register_wait(c, "u1", scope(), "new", data(tenant, node="b"))
    plain = await fetch_wait(ProtocolOnly(sessions), c, "u1", [scope()])  # type: ignore[arg-type]
    assert (
        await fetch_wait(sessions, c, "u1", [scope()]) == plain == ("new", data(tenant, node="b"))
    )


# -- turn_starter ----------------------------------------------------------------------------


async def test_a_turn_reads_parks_and_clears(sessions: SessionStore, tenant: str) -> None:
    c, scopes = ctx(tenant), [scope(), scope("c1-correlated")]
    for store in _stores(sessions):
        async with turn_starter(store)("conv", c, "u1", scopes) as turn:
            assert turn.parked is None
            await turn.park(c, "u1", scope(), "k1", data(tenant, node="ask"))
        assert await sessions.get_session("k1") == data(tenant, node="ask")
        async with turn_starter(store)("conv", c, "u1", scopes) as turn:
            assert turn.parked == ("k1", data(tenant, node="ask"))
            await turn.park(c, "u1", scope(), "k1", data(tenant, node="greet"))
        async with turn_starter(store)("conv", c, "u1", scopes) as turn:
            assert turn.parked == ("k1", data(tenant, node="greet"))
            await turn.clear(c, "u1", scopes)
        assert await sessions.get_session("k1") is None
        assert await sessions.list_waits_for_user(c, "u1") == []


async def test_a_turn_clears_every_scope(sessions: SessionStore, tenant: str) -> None:
    c = ctx(tenant)
    await sessions.register_wait(c, "u1", scope("a"), "ka", data(tenant))
    await sessions.register_wait(c, "u1", scope("b"), "kb", data(tenant))
    async with turn_starter(sessions)("conv", c, "u1", [scope("a"), scope("b")]) as turn:
        assert turn.parked == ("ka", data(tenant))
        await turn.clear(c, "u1", [scope("a"), scope("b")])
    assert await sessions.list_waits_for_user(c, "u1") == []


async def test_a_turn_keeps_the_contract_checks(sessions: SessionStore, tenant: str) -> None:
    c = ctx(tenant)
    async with turn_starter(sessions)("conv", c, "u1", [scope()]) as turn:
        with pytest.raises(SessionError, match="does not match session data user"):
            await turn.park(c, "u1", scope(), "k1", data(tenant, user="u2"))
    await sessions.register_wait(c, "u1", scope("x"), "k2", data(tenant))
    async with turn_starter(sessions)("other", c, "u2", [scope()]) as turn:
        with pytest.raises(SessionError, match="must keep its user"):
            await turn.park(c, "u2", scope(), "k2", data(tenant, user="u2"))
    assert await sessions.get_session("k2") == data(tenant)
    # A refused write still ends the turn: the lock is free again.
    async with turn_starter(sessions)("conv", c, "u1", [scope()]) as turn:
        assert turn.parked is None


async def test_a_turn_ends_with_one_write(sessions: SessionStore, tenant: str) -> None:
    c = ctx(tenant)
    for store in _stores(sessions):
        async with turn_starter(store)("conv", c, "u1", [scope()]) as turn:
            await turn.park(c, "u1", scope(), "k1", data(tenant))
            with pytest.raises(StoreError, match="ran twice"):
                await turn.clear(c, "u1", [scope()])
    assert await sessions.get_session("k1") == data(tenant)


async def test_turns_of_one_conversation_are_serialized(shared_or_memory: Kit, tenant: str) -> None:
    """Several instances count up one parked number; no increment may be lost."""
    stores = [await shared_or_memory.session_store() for _ in range(2)]
    c = ctx(tenant)

    async def increment(store: SessionStore) -> None:
        async with turn_starter(store)("conv", c, "u1", [scope()]) as turn:
            count = 0 if turn.parked is None else int(turn.parked[1].context_json)
            await asyncio.sleep(0)  # let the others try to get in
            await turn.park(c, "u1", scope(), "k1", data(tenant, context=str(count + 1)))

    await asyncio.gather(*(increment(stores[i % 2]) for i in range(8)))
    stored = await stores[0].get_session("k1")
    assert stored is not None and stored.context_json == "8"


async def test_a_busy_turn_waits_then_reads_the_new_wait(shared_kit: Kit, tenant: str) -> None:
    first, second = await shared_kit.session_store(), await shared_kit.session_store()
    c = ctx(tenant)
    entered = asyncio.Event()

    async def contender() -> SessionData | None:
        async with turn_starter(second)("conv", c, "u1", [scope()]) as turn:
            entered.set()
            return None if turn.parked is None else turn.parked[1]

    async with turn_starter(first)("conv", c, "u1", [scope()]) as turn:
        task = asyncio.create_task(contender())
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.shield(entered.wait()), timeout=0.2)
        await turn.park(c, "u1", scope(), "k1", data(tenant, node="parked"))
    assert await task == data(tenant, node="parked")


async def test_park_releases_the_lease_for_other_processes(shared_kit: Kit, tenant: str) -> None:
    shared_kit.lease = LeasePolicy(wait_timeout=0.05)
    first, second = await shared_kit.session_store(), await shared_kit.session_store()
    c = ctx(tenant)
    async with turn_starter(first)("conv", c, "u1", [scope()]) as turn:
        with pytest.raises(StoreError, match="waiting for turn lock 'conv'"):
            async with second.turn_lock("conv"):
                pass
        await turn.park(c, "u1", scope(), "k1", data(tenant))
        # The last write released the shared lease in the same transaction or script.
        async with second.turn_lock("conv"):
            pass


async def test_a_failed_turn_leaves_the_wait_and_frees_the_lock(
    sessions: SessionStore, tenant: str
) -> None:
    c = ctx(tenant)
    await sessions.register_wait(c, "u1", scope(), "k1", data(tenant))
    with pytest.raises(RuntimeError):
        async with turn_starter(sessions)("conv", c, "u1", [scope()]) as turn:
            assert turn.parked == ("k1", data(tenant))
            raise RuntimeError("engine failed")
    async with turn_starter(sessions)("conv", c, "u1", [scope()]) as turn:
        assert turn.parked == ("k1", data(tenant))
