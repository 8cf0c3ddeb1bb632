"""The SessionStore contract (spec §6.1, §12 item 9) on memory, SQLite and Redis."""

from __future__ import annotations

import asyncio

import pytest
from tests.storage.kits import Kit
from tests.storage.storage_helpers import ctx, data, scope

from greentic_runner.errors import SessionError
from greentic_runner.storage import SessionStore
from greentic_runner.tenancy import TenantCtx

# -- plain entries ---------------------------------------------------------------------------


async def test_create_get_roundtrip(sessions: SessionStore, tenant: str) -> None:
    entry = data(tenant, user="u1", context='{"a": 1}')
    key = await sessions.create_session(ctx(tenant, user="u1"), entry)
    assert await sessions.get_session(key) == entry
    assert await sessions.get_session("no-such-key") is None


@pytest.mark.parametrize(
    ("context", "message"),
    [
        (TenantCtx("prod", "acme", user="u1"), "env/tenant/team must match"),
        (TenantCtx("dev", "other", user="u1"), "env/tenant/team must match"),
        (TenantCtx("dev", "acme", team="t", user="u1"), "env/tenant/team must match"),
        (TenantCtx("dev", "acme", user="u2"), "user must match"),
        (TenantCtx("dev", "acme"), "user must match"),
    ],
    ids=["env", "tenant", "team", "other-user", "no-user"],
)
async def test_create_checks_alignment(
    sessions: SessionStore, context: TenantCtx, message: str
) -> None:
    with pytest.raises(SessionError, match=message):
        await sessions.create_session(context, data("acme", user="u1"))


async def test_update_replaces_data_and_keeps_ctx(sessions: SessionStore, tenant: str) -> None:
    key = await sessions.create_session(ctx(tenant, user="u1"), data(tenant))
    updated = data(tenant, node="n2", context='{"step": 2}')
    await sessions.update_session(key, updated)
    assert await sessions.get_session(key) == updated


@pytest.mark.parametrize(
    ("changed", "message"),
    [
        ({"tenant": "other"}, "must keep its env, tenant and team"),
        ({"team": "t2"}, "must keep its env, tenant and team"),
        ({"user": "u2"}, "must keep its user"),
        ({"user": None}, "must keep its user"),
    ],
    ids=["tenant", "team", "user-changed", "user-removed"],
)
async def test_update_refuses_to_move_an_entry(
    sessions: SessionStore, tenant: str, changed: dict[str, str | None], message: str
) -> None:
    key = await sessions.create_session(ctx(tenant, user="u1"), data(tenant))
    fields: dict[str, str | None] = {"tenant": tenant, "team": None, "user": "u1"} | changed
    with pytest.raises(SessionError, match=message):
        await sessions.update_session(key, data(**fields))  # type: ignore[arg-type]
    assert await sessions.get_session(key) == data(tenant)


async def test_update_refuses_to_introduce_a_user(sessions: SessionStore, tenant: str) -> None:
    key = await sessions.create_session(ctx(tenant), data(tenant, user=None))
    with pytest.raises(SessionError, match="must keep its user"):
        await sessions.update_session(key, data(tenant, user="u1"))


async def test_update_missing_is_not_found(sessions: SessionStore) -> None:
    with pytest.raises(SessionError, match="session nope not found"):
        await sessions.update_session("nope", data())


async def test_remove_missing_is_not_found(sessions: SessionStore) -> None:
    with pytest.raises(SessionError, match="session nope not found"):
        await sessions.remove_session("nope")


async def test_remove_purges_entry_and_indices(sessions: SessionStore, tenant: str) -> None:
    c = ctx(tenant, user="u1")
    await sessions.register_wait(c, "u1", scope(), "k1", data(tenant))
    await sessions.remove_session("k1")
    assert await sessions.get_session("k1") is None
    assert await sessions.find_wait_by_scope(c, "u1", scope()) is None
    assert await sessions.list_waits_for_user(c, "u1") == []
    with pytest.raises(SessionError, match="not found"):
        await sessions.remove_session("k1")


# -- waits -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("context", "user", "entry", "message"),
    [
        (ctx("other", user="u1"), "u1", data("acme"), "env/tenant must match"),
        (TenantCtx("prod", "acme", user="u1"), "u1", data("acme"), "env/tenant must match"),
        (ctx("acme", team="t", user="u1"), "u1", data("acme"), "team must match"),
        (ctx("acme", user="u2"), "u2", data("acme", user="u1"), "must match the wait context"),
        (ctx("acme", user="u1"), "u2", data("acme", user="u1"), "does not match context user"),
        (ctx("acme"), "u1", data("acme", user=None), "user required by wait but missing"),
        (ctx("acme"), "u2", data("acme", user="u1"), "does not match session data user"),
    ],
    ids=["tenant", "env", "team", "data-user", "ctx-user", "no-data-user", "wait-user"],
)
async def test_register_wait_checks_alignment(
    sessions: SessionStore, context: TenantCtx, user: str, entry: object, message: str
) -> None:
    with pytest.raises(SessionError, match=message):
        await sessions.register_wait(context, user, scope(), "k", entry)  # type: ignore[arg-type]
    assert await sessions.get_session("k") is None


async def test_register_and_find_by_scope(sessions: SessionStore, tenant: str) -> None:
    c = ctx(tenant, user="u1")
    await sessions.register_wait(c, "u1", scope(), "k1", data(tenant))
    assert await sessions.find_wait_by_scope(c, "u1", scope()) == "k1"
    assert await sessions.find_wait_by_scope(c, "u1", scope("c2")) is None
    assert await sessions.find_wait_by_scope(ctx(tenant, user="u2"), "u2", scope()) is None
    assert await sessions.find_wait_by_scope(ctx(tenant, team="t"), "u1", scope()) is None
    assert await sessions.get_session("k1") == data(tenant)


async def test_wait_ctx_without_user_is_accepted(sessions: SessionStore, tenant: str) -> None:
    await sessions.register_wait(ctx(tenant), "u1", scope(), "k1", data(tenant))
    assert await sessions.find_wait_by_scope(ctx(tenant), "u1", scope()) == "k1"


async def test_reregistering_a_key_overwrites(sessions: SessionStore, tenant: str) -> None:
    c = ctx(tenant, user="u1")
    await sessions.register_wait(c, "u1", scope(), "k1", data(tenant, node="a"))
    await sessions.register_wait(c, "u1", scope(), "k1", data(tenant, node="b"))
    assert await sessions.get_session("k1") == data(tenant, node="b")
    assert await sessions.list_waits_for_user(c, "u1") == ["k1"]


async def test_reregistering_a_key_for_another_user_is_refused(
    sessions: SessionStore, tenant: str
) -> None:
    await sessions.register_wait(ctx(tenant), "u1", scope(), "k1", data(tenant, user="u1"))
    with pytest.raises(SessionError, match="must keep its user"):
        await sessions.register_wait(ctx(tenant), "u2", scope(), "k1", data(tenant, user="u2"))


async def test_scope_reregistration_drops_the_old_key_from_user_waits(
    sessions: SessionStore, tenant: str
) -> None:
    c = ctx(tenant, user="u1")
    await sessions.register_wait(c, "u1", scope(), "old", data(tenant, node="a"))
    await sessions.register_wait(c, "u1", scope(), "new", data(tenant, node="b"))
    assert await sessions.find_wait_by_scope(c, "u1", scope()) == "new"
    assert await sessions.list_waits_for_user(c, "u1") == ["new"]
    # The old entry itself is not deleted, only unindexed (reference behaviour).
    assert await sessions.get_session("old") == data(tenant, node="a")


async def test_list_waits_is_per_user_and_team(sessions: SessionStore, tenant: str) -> None:
    for key, conversation in (("k2", "c2"), ("k1", "c1")):
        await sessions.register_wait(ctx(tenant), "u1", scope(conversation), key, data(tenant))
    await sessions.register_wait(ctx(tenant), "u2", scope(), "k3", data(tenant, user="u2"))
    team_ctx = ctx(tenant, team="t")
    await sessions.register_wait(team_ctx, "u1", scope(), "k4", data(tenant, team="t"))
    assert await sessions.list_waits_for_user(ctx(tenant), "u1") == ["k1", "k2"]
    assert await sessions.list_waits_for_user(ctx(tenant), "u2") == ["k3"]
    assert await sessions.list_waits_for_user(team_ctx, "u1") == ["k4"]
    assert await sessions.list_waits_for_user(ctx(tenant), "nobody") == []


async def test_find_by_user_zero_one_many(sessions: SessionStore, tenant: str) -> None:
    c = ctx(tenant)
    assert await sessions.find_by_user(c, "u1") is None
    await sessions.register_wait(c, "u1", scope("c1"), "k1", data(tenant))
    assert await sessions.find_by_user(c, "u1") == ("k1", data(tenant))
    await sessions.register_wait(c, "u1", scope("c2"), "k2", data(tenant))
    with pytest.raises(SessionError, match="multiple waits exist for user"):
        await sessions.find_by_user(c, "u1")


async def test_clear_wait_removes_index_and_entry(sessions: SessionStore, tenant: str) -> None:
    c = ctx(tenant)
    await sessions.register_wait(c, "u1", scope("c1"), "k1", data(tenant))
    await sessions.register_wait(c, "u1", scope("c2"), "k2", data(tenant))
    await sessions.clear_wait(c, "u1", scope("c1"))
    assert await sessions.find_wait_by_scope(c, "u1", scope("c1")) is None
    assert await sessions.get_session("k1") is None
    assert await sessions.list_waits_for_user(c, "u1") == ["k2"]
    await sessions.clear_wait(c, "u1", scope("c1"))  # missing is fine


async def test_update_keeps_indices(sessions: SessionStore, tenant: str) -> None:
    c = ctx(tenant)
    await sessions.register_wait(c, "u1", scope(), "k1", data(tenant))
    await sessions.update_session("k1", data(tenant, node="n9"))
    assert await sessions.find_wait_by_scope(c, "u1", scope()) == "k1"
    assert await sessions.find_by_user(c, "u1") == ("k1", data(tenant, node="n9"))


# -- TTLs ------------------------------------------------------------------------------------


async def test_ttl_expiry_purges_the_wait(kit: Kit, sessions: SessionStore, tenant: str) -> None:
    c = ctx(tenant)
    await sessions.register_wait(c, "u1", scope(), "k1", data(tenant), ttl=kit.short_ttl)
    await sessions.register_wait(c, "u1", scope("c2"), "k2", data(tenant))
    assert await sessions.find_wait_by_scope(c, "u1", scope()) == "k1"
    await kit.expire(kit.short_ttl)
    assert await sessions.find_wait_by_scope(c, "u1", scope()) is None
    assert await sessions.get_session("k1") is None
    assert await sessions.list_waits_for_user(c, "u1") == ["k2"]
    assert await sessions.find_by_user(c, "u1") == ("k2", data(tenant))
    with pytest.raises(SessionError, match="not found"):
        await sessions.update_session("k1", data(tenant))


async def test_update_keeps_the_ttl(kit: Kit, sessions: SessionStore, tenant: str) -> None:
    await sessions.register_wait(ctx(tenant), "u1", scope(), "k1", data(tenant), ttl=kit.short_ttl)
    await sessions.update_session("k1", data(tenant, node="n2"))
    await kit.expire(kit.short_ttl)
    assert await sessions.get_session("k1") is None


async def test_reregistering_without_ttl_clears_it(
    kit: Kit, sessions: SessionStore, tenant: str
) -> None:
    c = ctx(tenant)
    await sessions.register_wait(c, "u1", scope(), "k1", data(tenant), ttl=kit.short_ttl)
    await sessions.register_wait(c, "u1", scope(), "k1", data(tenant))
    await kit.expire(kit.short_ttl)
    assert await sessions.find_wait_by_scope(c, "u1", scope()) == "k1"


async def test_expired_scope_can_be_registered_again(
    kit: Kit, sessions: SessionStore, tenant: str
) -> None:
    c = ctx(tenant)
    assert await sessions.register_wait_if_absent(
        c, "u1", scope(), "k1", data(tenant), ttl=kit.short_ttl
    )
    await kit.expire(kit.short_ttl)
    assert await sessions.register_wait_if_absent(c, "u1", scope(), "k2", data(tenant))
    assert await sessions.find_wait_by_scope(c, "u1", scope()) == "k2"


# -- register_wait_if_absent -----------------------------------------------------------------


async def test_register_if_absent_keeps_the_first(sessions: SessionStore, tenant: str) -> None:
    c = ctx(tenant)
    assert await sessions.register_wait_if_absent(c, "u1", scope(), "k1", data(tenant, node="a"))
    assert not await sessions.register_wait_if_absent(
        c, "u1", scope(), "k2", data(tenant, node="b")
    )
    assert await sessions.find_wait_by_scope(c, "u1", scope()) == "k1"
    assert await sessions.get_session("k2") is None
    await sessions.clear_wait(c, "u1", scope())
    assert await sessions.register_wait_if_absent(c, "u1", scope(), "k2", data(tenant))


async def test_register_if_absent_checks_alignment(sessions: SessionStore, tenant: str) -> None:
    with pytest.raises(SessionError, match="user required by wait"):
        await sessions.register_wait_if_absent(
            ctx(tenant), "u1", scope(), "k1", data(tenant, user=None)
        )


async def test_concurrent_register_if_absent_has_one_winner(
    sessions: SessionStore, tenant: str
) -> None:
    c = ctx(tenant)
    results = await asyncio.gather(
        *(
            sessions.register_wait_if_absent(c, "u1", scope(), f"k{i}", data(tenant, node=str(i)))
            for i in range(8)
        )
    )
    assert results.count(True) == 1
    winner = f"k{results.index(True)}"
    assert await sessions.find_wait_by_scope(c, "u1", scope()) == winner
    assert await sessions.list_waits_for_user(c, "u1") == [winner]


async def test_register_if_absent_across_instances_has_one_winner(
    shared_kit: Kit, tenant: str
) -> None:
    first, second = await shared_kit.session_store(), await shared_kit.session_store()
    c = ctx(tenant)
    for round_ in range(5):
        conversation = scope(f"c{round_}")
        results = await asyncio.gather(
            first.register_wait_if_absent(c, "u1", conversation, f"a{round_}", data(tenant)),
            second.register_wait_if_absent(c, "u1", conversation, f"b{round_}", data(tenant)),
        )
        assert sorted(results) == [False, True]
        winner = f"a{round_}" if results[0] else f"b{round_}"
        assert await second.find_wait_by_scope(c, "u1", conversation) == winner
        assert await first.find_wait_by_scope(c, "u1", conversation) == winner


async def test_instances_share_waits(shared_kit: Kit, tenant: str) -> None:
    first, second = await shared_kit.session_store(), await shared_kit.session_store()
    await first.register_wait(ctx(tenant), "u1", scope(), "k1", data(tenant))
    assert await second.find_by_user(ctx(tenant), "u1") == ("k1", data(tenant))
    await second.clear_wait(ctx(tenant), "u1", scope())
    assert await first.get_session("k1") is None
