from __future__ import annotations

import pytest

from greentic_runner.envelope import IngressEnvelope
from greentic_runner.errors import SessionError
from greentic_runner.flows.resume import MISSING_SCOPE, FlowResumeStore, contact_identity
from greentic_runner.flows.snapshot import ExecutionState, FlowSnapshot, FlowWait
from greentic_runner.storage.session import InMemorySessionStore
from greentic_runner.tenancy import ReplyScope


def envelope(**fields: object) -> IngressEnvelope:
    base: dict[str, object] = {
        "tenant": "demo",
        "env": "local",
        "pack_id": "pack.default",
        "flow_id": "flow.default",
        "provider": "teams",
        "channel": "chan",
        "conversation": "conv",
        "user": "user-1",
    }
    base.update(fields)
    return IngressEnvelope(**base).canonicalize()  # type: ignore[arg-type]


def wait(node: str = "node-2", pack: str = "pack.default", reason: str | None = "ask") -> FlowWait:
    state = ExecutionState.new({"text": "hi"})
    return FlowWait(reason, FlowSnapshot(pack, "flow.default", node, state))


@pytest.fixture
def resume() -> FlowResumeStore:
    return FlowResumeStore(InMemorySessionStore())


async def test_save_then_fetch_round_trips(resume: FlowResumeStore) -> None:
    env = envelope()
    scope = await resume.save(env, wait())
    assert scope.conversation == "conv"
    assert scope.correlation is not None and len(scope.correlation) == 32
    snapshot = await resume.fetch(env)
    assert snapshot is not None
    assert snapshot.to_dict() == wait().snapshot.to_dict()


async def test_a_second_save_overwrites_the_first(resume: FlowResumeStore) -> None:
    env = envelope()
    await resume.save(env, wait("first"))
    await resume.save(env, wait("second"))
    snapshot = await resume.fetch(env)
    assert snapshot is not None and snapshot.next_node == "second"


async def test_clear_removes_the_wait(resume: FlowResumeStore) -> None:
    env = envelope()
    await resume.save(env, wait())
    await resume.clear(env)
    assert await resume.fetch(env) is None
    await resume.clear(env)  # clearing nothing is fine


async def test_fetch_with_a_correlation_falls_back_to_the_plain_scope(
    resume: FlowResumeStore,
) -> None:
    await resume.save(envelope(), wait())
    correlated = envelope(reply_scope=ReplyScope("conv", correlation="abc"))
    assert await resume.fetch(correlated) is not None
    await resume.clear(correlated)
    assert await resume.fetch(envelope()) is None


async def test_a_snapshot_of_another_pack_under_the_same_bucket_is_a_mismatch(
    resume: FlowResumeStore,
) -> None:
    env = envelope()
    await resume.save(env, wait(pack="pack.other"))
    with pytest.raises(
        SessionError, match="^resume pack mismatch: expected pack.default, found pack.other$"
    ):
        await resume.fetch(env)


async def test_a_different_pack_is_a_different_bucket(resume: FlowResumeStore) -> None:
    await resume.save(envelope(), wait())
    assert await resume.fetch(envelope(pack_id="pack.two")) is None


async def test_a_different_flow_id_still_finds_the_parked_snapshot(
    resume: FlowResumeStore,
) -> None:
    await resume.save(envelope(), wait())
    snapshot = await resume.fetch(envelope(flow_id="another.flow"))
    assert snapshot is not None and snapshot.flow_id == "flow.default"


async def test_endpoints_isolate_and_invalid_endpoint_falls_back_to_unscoped(
    resume: FlowResumeStore,
) -> None:
    await resume.save(envelope(messaging_endpoint_id="teams-legal"), wait())
    assert await resume.fetch(envelope(messaging_endpoint_id="teams-hr")) is None
    assert await resume.fetch(envelope()) is None
    await resume.save(envelope(), wait("unscoped"))
    invalid = await resume.fetch(envelope(messaging_endpoint_id="bad id"))
    assert invalid is not None and invalid.next_node == "unscoped"


async def test_missing_reply_scope_is_refused(resume: FlowResumeStore) -> None:
    raw = IngressEnvelope(tenant="demo", flow_id="f", pack_id="p")
    with pytest.raises(SessionError, match=f"^{MISSING_SCOPE}$"):
        await resume.save(raw, wait())
    with pytest.raises(SessionError, match="reply_scope missing"):
        await resume.fetch(raw)


async def test_corrupt_snapshot_is_reported(resume: FlowResumeStore) -> None:
    env = envelope()
    await resume.save(env, wait())
    identity = contact_identity(env)
    key = await resume.store.find_wait_by_scope(identity.ctx, identity.user, ReplyScope("conv"))
    assert key is not None
    data = await resume.store.get_session(key)
    assert data is not None
    from dataclasses import replace

    await resume.store.update_session(key, replace(data, context_json="{broken"))
    with pytest.raises(SessionError, match="failed to decode flow resume snapshot"):
        await resume.fetch(env)


def test_contact_identity_hashes_hint_and_pack() -> None:
    import hashlib

    identity = contact_identity(envelope())
    hint = "demo:teams:chan:conv:user-1::pack=pack.default"
    assert identity.hint == hint
    assert identity.user == "sess" + hashlib.sha256(hint.encode()).hexdigest()[:16]
    assert identity.ctx.session == hint and identity.ctx.user == identity.user


async def test_old_snapshots_without_new_fields_still_load(resume: FlowResumeStore) -> None:
    old = FlowSnapshot.from_dict(
        {
            "pack_id": "p",
            "flow_id": "f",
            "next_node": "n",
            "state": {"input": {"a": 1}, "nodes": {}, "egress": []},
        }
    )
    assert old.state.input == {"a": 1}
    assert old.awaiting_submit is False and old.state.redirect_count == 0


def test_runtimes_over_one_session_store_share_one_resume_store() -> None:
    store, other = InMemorySessionStore(), InMemorySessionStore()
    shared = FlowResumeStore.shared(store)
    assert FlowResumeStore.shared(store) is shared and shared.store is store
    assert FlowResumeStore.shared(other) is not shared
    assert FlowResumeStore.shared(other).store is other
