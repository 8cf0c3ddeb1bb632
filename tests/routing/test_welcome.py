"""Ports of the seed's welcome_flow_tests, plus the atomic-marker guarantee."""

from __future__ import annotations

import asyncio

import pytest

from greentic_runner.activity import WelcomeFlowHint
from greentic_runner.envelope import IngressEnvelope
from greentic_runner.flows.resume import FlowResumeStore
from greentic_runner.flows.snapshot import ExecutionState, FlowSnapshot, FlowWait
from greentic_runner.routing.welcome import apply_welcome_override
from greentic_runner.storage.session import InMemorySessionStore, SessionStore
from greentic_runner.tenancy import ReplyScope

HINT = WelcomeFlowHint("pack.welcome", "flow.welcome")


def sample(endpoint: str | None = "teams-legal", user: str = "user-1") -> IngressEnvelope:
    return IngressEnvelope(
        tenant="demo",
        env="local",
        pack_id="pack.default",
        flow_id="flow.default",
        flow_type="messaging",
        action="messaging",
        provider="teams",
        messaging_endpoint_id=endpoint,
        channel="chan",
        conversation=f"conv-{user}",
        user=user,
        payload={},
        reply_scope=ReplyScope(f"conv-{user}"),
    ).canonicalize()


async def seed_resume(store: SessionStore, envelope: IngressEnvelope) -> None:
    state = ExecutionState.from_dict({"input": {"text": "hi"}, "nodes": {}, "egress": []})
    snapshot = FlowSnapshot("pack.default", envelope.flow_id, "node-2", state)
    await FlowResumeStore(store).save(envelope, FlowWait("await-user", snapshot))


async def override(
    store: SessionStore,
    envelope: IngressEnvelope,
    hint: WelcomeFlowHint | None = HINT,
    flow_type: str | None = "welcome",
) -> IngressEnvelope:
    return await apply_welcome_override(store, envelope, hint, flow_type)


@pytest.fixture
def store() -> InMemorySessionStore:
    return InMemorySessionStore()


async def test_no_op_when_hint_absent(store: SessionStore) -> None:
    before = sample()
    after = await override(store, before, None, None)
    assert (after.pack_id, after.flow_id, after.flow_type) == (
        before.pack_id,
        before.flow_id,
        before.flow_type,
    )


async def test_no_op_when_endpoint_id_absent(store: SessionStore) -> None:
    after = await override(store, sample(None))
    assert (after.pack_id, after.flow_id) == ("pack.default", "flow.default")


@pytest.mark.parametrize("flow_type", ["welcome", None])
async def test_override_swaps_pack_flow_and_flow_type(
    store: SessionStore, flow_type: str | None
) -> None:
    after = await override(store, sample(), HINT, flow_type)
    assert (after.pack_id, after.flow_id, after.flow_type) == (
        "pack.welcome",
        "flow.welcome",
        flow_type,
    )


async def test_no_op_on_repeat_turn_with_existing_session(store: SessionStore) -> None:
    template = sample()
    await seed_resume(store, template)
    after = await override(store, template)
    assert (after.pack_id, after.flow_id, after.flow_type) == (
        "pack.default",
        "flow.default",
        "messaging",
    )


async def test_no_op_post_completion_when_marker_present(store: SessionStore) -> None:
    first = await override(store, sample())
    assert first.pack_id == "pack.welcome"
    await FlowResumeStore(store).clear(first)
    second = await override(store, sample())
    assert (second.pack_id, second.flow_id) == ("pack.default", "flow.default")


async def test_no_op_on_second_turn_after_marker_set(store: SessionStore) -> None:
    assert (await override(store, sample())).pack_id == "pack.welcome"
    assert (await override(store, sample())).pack_id == "pack.default"


async def test_marker_is_partitioned_per_endpoint(store: SessionStore) -> None:
    assert (await override(store, sample("teams-legal"))).pack_id == "pack.welcome"
    assert (await override(store, sample("teams-accounting"))).pack_id == "pack.welcome"


async def test_marker_is_partitioned_per_user_on_the_same_endpoint(store: SessionStore) -> None:
    assert (await override(store, sample(user="user-a"))).pack_id == "pack.welcome"
    assert (await override(store, sample(user="user-b"))).pack_id == "pack.welcome"
    assert (await override(store, sample(user="user-a"))).pack_id == "pack.default"
    assert (await override(store, sample(user="user-b"))).pack_id == "pack.default"


async def test_marker_is_not_written_when_hint_absent(store: SessionStore) -> None:
    await override(store, sample(), None, None)
    assert (await override(store, sample())).pack_id == "pack.welcome"


async def test_mid_conversation_users_get_a_marker_but_no_override(store: SessionStore) -> None:
    template = sample()
    await seed_resume(store, template)
    assert (await override(store, template)).pack_id == "pack.default"
    await FlowResumeStore(store).clear(template)
    assert (await override(store, template)).pack_id == "pack.default"


async def test_concurrent_first_turns_fire_welcome_exactly_once(store: SessionStore) -> None:
    results = await asyncio.gather(*(override(store, sample()) for _ in range(20)))
    assert sum(r.pack_id == "pack.welcome" for r in results) == 1
