from __future__ import annotations

import pytest
from tests.pipeline import EchoEngine, flow

from greentic_runner.activity import Activity, ActivityKind
from greentic_runner.config import Fast2FlowConfig, HostConfig, SecretsPolicy
from greentic_runner.errors import RoutingError, SecretsError, TenantError
from greentic_runner.routing.resolve import resolve_flow_id
from greentic_runner.runtime import ActivePacks, RolloutIds, TenantRuntime
from greentic_runner.secrets import EnvSecretsManager
from greentic_runner.storage.session import InMemorySessionStore
from greentic_runner.storage.state import InMemoryStateStore
from greentic_runner.testing import make_pack


def runtime(
    tenant: str = "demo", rollout: RolloutIds | None = None, **config: object
) -> TenantRuntime:
    packs = [make_pack("p", [flow("main")])]
    return TenantRuntime(
        tenant=tenant,
        config=HostConfig(tenant=tenant, **config),  # type: ignore[arg-type]
        packs=packs,
        engine=EchoEngine(packs),
        session_store=InMemorySessionStore(),
        state_store=InMemoryStateStore(),
        invoker=None,  # type: ignore[arg-type]
        secrets=EnvSecretsManager(),
        rollout=rollout or RolloutIds(),
    )


REV = RolloutIds("dep-1", "bundle-1", "rev-1")


def test_legacy_and_revision_keys_live_side_by_side() -> None:
    active = ActivePacks()
    legacy, revision = runtime(), runtime(rollout=REV)
    active.insert_pack("demo", legacy)
    active.insert_revision("demo", "dep-1", "bundle-1", "rev-1", revision)
    assert active.load_pack("demo") is legacy
    assert active.load_revision("demo", "dep-1", "bundle-1", "rev-1") is revision
    assert active.load_revision("demo", "dep-1", "bundle-1", "rev-2") is None
    assert len(active) == 2


def test_snapshots_are_copy_on_write() -> None:
    active = ActivePacks()
    before = active.snapshot()
    active.insert_pack("demo", runtime())
    assert len(before) == 0 and len(active.snapshot()) == 1


def test_insert_revision_rejects_a_tenant_mismatch() -> None:
    with pytest.raises(
        TenantError, match="^revision runtime tenant `other` does not match key tenant `demo`$"
    ):
        ActivePacks().insert_revision("demo", "dep-1", "bundle-1", "rev-1", runtime("other", REV))


def test_insert_revision_rejects_a_rollout_identity_mismatch() -> None:
    with pytest.raises(TenantError) as info:
        ActivePacks().insert_revision("demo", "dep-1", "bundle-1", "rev-2", runtime(rollout=REV))
    assert str(info.value) == (
        'revision runtime rollout identity (deployment=Some("dep-1"), bundle=Some("bundle-1"), '
        'revision=Some("rev-1")) does not match key (deployment=`dep-1`, bundle=`bundle-1`, '
        "revision=`rev-2`)"
    )
    with pytest.raises(TenantError, match=r"deployment=None"):
        ActivePacks().insert_revision("demo", "dep-1", "bundle-1", "rev-1", runtime())


def test_replace_legacy_keeps_revisions_and_drops_missing_tenants() -> None:
    active = ActivePacks()
    old_demo, other, revision = runtime(), runtime("other"), runtime(rollout=REV)
    active.insert_pack("demo", old_demo)
    active.insert_pack("other", other)
    active.insert_revision("demo", "dep-1", "bundle-1", "rev-1", revision)
    new_demo = runtime()
    active.replace_legacy({"demo": new_demo})
    assert active.load_pack("demo") is new_demo
    assert active.load_pack("other") is None
    assert active.load_revision("demo", "dep-1", "bundle-1", "rev-1") is revision


def test_remove_revision_is_idempotent_and_leaves_others() -> None:
    active = ActivePacks()
    legacy, revision = runtime(), runtime(rollout=REV)
    active.insert_pack("demo", legacy)
    active.insert_revision("demo", "dep-1", "bundle-1", "rev-1", revision)
    assert active.remove_revision("demo", "dep-1", "bundle-1", "rev-1") is revision
    before = active.snapshot()
    assert active.remove_revision("demo", "dep-1", "bundle-1", "rev-1") is None
    assert active.snapshot() is before
    assert active.load_pack("demo") is legacy


def test_replaced_runtimes_have_their_timers_cancelled() -> None:
    class Task:
        cancelled = False

        def cancel(self) -> None:
            self.cancelled = True

    active = ActivePacks()
    old = runtime()
    task = Task()
    old.timers.append(task)  # type: ignore[arg-type]
    active.insert_pack("demo", old)
    active.insert_pack("demo", runtime())
    assert task.cancelled


async def test_get_secret_enforces_the_bindings_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TOKEN", "t0k")
    allowed = runtime(secrets_policy=SecretsPolicy(frozenset({"API_TOKEN", "MISSING"})))
    assert await allowed.get_secret("API_TOKEN") == "t0k"
    with pytest.raises(SecretsError, match="^secret OTHER is not permitted by bindings policy$"):
        await allowed.get_secret("OTHER")
    with pytest.raises(SecretsError, match="^secret MISSING not found in environment$"):
        await allowed.get_secret("MISSING")


def test_resolve_answers_as_resolve_flow_id_and_remembers_only_registered_flows() -> None:
    tenant_runtime = runtime()
    message = Activity(tenant="demo", payload={"text": "hi"})
    expected = resolve_flow_id(tenant_runtime.registry, tenant_runtime.main_pack, "demo", message)
    assert tenant_runtime.resolve("demo", message) == expected == ("p", "main")
    assert tenant_runtime.resolve("demo", message) == expected  # remembered
    for flow_type in ("a", "b", "c"):  # the flow type does not matter with a flow id
        explicit = Activity(tenant="demo", flow_id="main", flow_type=flow_type)
        assert tenant_runtime.resolve("demo", explicit) == ("p", "main")
    assert len(tenant_runtime._routes) == 2
    unknown = Activity(tenant="demo", flow_id="missing")
    for _ in range(2):  # an error is raised again, never remembered
        with pytest.raises(RoutingError, match="flow missing is ambiguous"):
            tenant_runtime.resolve("demo", unknown)
    assert len(tenant_runtime._routes) == 2


def test_fast2flow_is_the_configs_only_when_enabled() -> None:
    assert runtime().fast2flow is None
    enabled = Fast2FlowConfig(enabled=True)
    assert runtime(fast2flow=enabled).fast2flow is enabled


def test_remembered_routes_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    # Without a flow id or type, any pack id runs the main pack's entry flow: a key that
    # carries request values must not grow the cache without end.
    monkeypatch.setattr("greentic_runner.runtime.MAX_REMEMBERED_ROUTES", 3)
    tenant_runtime = runtime()
    untyped = ActivityKind("custom", action="poke")
    for index in range(5):
        message = Activity(tenant="demo", kind=untyped, pack_id=f"pack-{index}")
        assert tenant_runtime.resolve("demo", message) == ("p", "main")
    assert len(tenant_runtime._routes) == 3
