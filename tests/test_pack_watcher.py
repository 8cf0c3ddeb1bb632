"""The pack-index watcher and reloads (spec §2.3, §9.1): initial load, periodic polls on an
injected sleeper, atomic swaps, failed reloads that change nothing and show in health, and
turns that finish on the runtime they started on."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from tests.pipeline import EchoEngine, flow

from greentic_runner.activity import Activity
from greentic_runner.components.invoker import ComponentCall, ComponentInvoker
from greentic_runner.config import HostConfig
from greentic_runner.errors import VerificationError
from greentic_runner.flows.context import FlowContext
from greentic_runner.flows.snapshot import FlowExecution
from greentic_runner.host import HostBuilder, RunnerHost
from greentic_runner.pack_index import IndexPackSource
from greentic_runner.pack_watcher import PackIndexWatcher
from greentic_runner.packs.pack import PackRuntime
from greentic_runner.packs.verify import VerifyPolicy
from greentic_runner.runtime import RolloutIds, TenantRuntime
from greentic_runner.runtime_loader import PackRef
from greentic_runner.secrets import SecretsManager
from greentic_runner.storage.session import SessionStore
from greentic_runner.storage.state import StateStore
from greentic_runner.testing import make_pack

UPSTREAM = Path(__file__).parent / "fixtures" / "upstream" / "greentic-runner" / "examples"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class GateEngine(EchoEngine):
    """Answers with its label; a turn whose input says ``hold`` waits for ``gate``."""

    def __init__(self, packs: Sequence[PackRuntime], label: str) -> None:
        super().__init__(packs)
        self.label = label
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()

    async def execute(self, ctx: FlowContext, input: Any) -> FlowExecution:
        if isinstance(input, dict) and input.get("text") == "hold":
            self.entered.set()
            await self.gate.wait()
        execution = await super().execute(ctx, input)
        return type(execution)({"served_by": self.label})  # type: ignore[call-arg]


class VersionedPacks:
    """A RuntimeFactory: each pack file's content names the version whose engine runs."""

    def __init__(self) -> None:
        self.engines: dict[str, GateEngine] = {}

    async def __call__(
        self,
        config: HostConfig,
        refs: Sequence[PackRef],
        *,
        session_store: SessionStore,
        state_store: StateStore,
        secrets: SecretsManager,
        invoker: ComponentInvoker | None,
        rollout: RolloutIds,
    ) -> TenantRuntime:
        label = refs[0].path.read_text()
        packs = [make_pack("app", [flow("chat")], version=label)]
        engine = GateEngine(packs, label)
        self.engines[label] = engine
        assert invoker is not None
        return TenantRuntime(
            tenant=config.tenant,
            config=config,
            packs=packs,
            engine=engine,
            session_store=session_store,
            state_store=state_store,
            invoker=invoker,
            secrets=secrets,
            rollout=rollout,
        )


class NoComponents:
    async def invoke(self, pack: PackRuntime, call: ComponentCall) -> Any:
        return {"directive": "Continue"}


class ManualSleeper:
    """Records each requested sleep and returns only when released."""

    def __init__(self) -> None:
        self.requests: asyncio.Queue[tuple[float, asyncio.Future[None]]] = asyncio.Queue()

    async def __call__(self, delay: float) -> None:
        future = asyncio.get_running_loop().create_future()
        await self.requests.put((delay, future))
        await future

    async def release(self) -> float:
        delay, future = await self.requests.get()
        future.set_result(None)
        return delay

    async def next_request(self) -> float:
        delay, future = await self.requests.get()
        await self.requests.put((delay, future))
        return delay


class Index:
    """An index file over pack files in a folder; ``publish`` points tenant demo at one."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / "index.json"

    def publish(self, label: str, digest: str | None = None) -> None:
        data = label.encode()
        (self.root / f"{label}.gtpack").write_bytes(data)
        main = {
            "reference": {"name": "app", "version": label},
            "locator": f"{label}.gtpack",
            "digest": digest or digest_of(data),
        }
        self.path.write_text(json.dumps({"tenants": {"demo": {"main_pack": main}}}))


def make_host(factory: VersionedPacks) -> RunnerHost:
    builder = HostBuilder().with_config(HostConfig(tenant="demo"))
    host = builder.with_component_invoker(NoComponents()).build()  # type: ignore[arg-type]
    host._runtime_factory = factory
    return host


def make_watcher(
    host: RunnerHost, index: Index, tmp_path: Path, sleeper: ManualSleeper | None = None
) -> PackIndexWatcher:
    source = IndexPackSource(str(index.path), cache_dir=tmp_path / "cache", policy=VerifyPolicy())
    return PackIndexWatcher(host, source, interval=30.0, sleeper=sleeper or ManualSleeper())


async def answer(host: RunnerHost, text: str = "hi", session: str = "s1") -> Any:
    activity = Activity.text(text).with_(session_id=session)
    [reply] = await host.handle_activity("demo", activity)
    return reply.payload["served_by"]


@pytest.fixture
def index(tmp_path: Path) -> Index:
    folder = tmp_path / "index"
    folder.mkdir()
    return Index(folder)


async def test_entering_loads_the_index_and_records_health(index: Index, tmp_path: Path) -> None:
    index.publish("v1")
    host = make_host(VersionedPacks())
    async with make_watcher(host, index, tmp_path):
        assert await answer(host) == "v1"
        assert host.health.last_reload is not None and host.health.last_error is None


async def test_the_watcher_polls_every_interval_and_swaps_on_change(
    index: Index, tmp_path: Path
) -> None:
    index.publish("v1")
    host, sleeper = make_host(VersionedPacks()), ManualSleeper()
    async with make_watcher(host, index, tmp_path, sleeper):
        first = host.active.load_pack("demo")
        assert await sleeper.release() == 30.0  # an unchanged poll keeps the runtime
        await sleeper.next_request()
        assert host.active.load_pack("demo") is first

        index.publish("v2")
        assert await sleeper.release() == 30.0
        await sleeper.next_request()
        assert await answer(host) == "v2"
        assert host.active.load_pack("demo") is not first


async def test_a_forced_reload_rebuilds_even_when_unchanged(index: Index, tmp_path: Path) -> None:
    index.publish("v1")
    host = make_host(VersionedPacks())
    async with make_watcher(host, index, tmp_path) as watcher:
        first = host.active.load_pack("demo")
        assert await watcher.tick() is False
        assert await watcher.reload() is True
        assert host.active.load_pack("demo") is not first


async def test_a_failed_reload_changes_nothing_and_shows_in_health(
    index: Index, tmp_path: Path
) -> None:
    index.publish("v1")
    host = make_host(VersionedPacks())
    async with make_watcher(host, index, tmp_path) as watcher:
        running, reloaded_at = host.active.load_pack("demo"), host.health.last_reload
        wrong = digest_of(b"something else")
        index.publish("v2", digest=wrong)
        assert await watcher.tick() is False
        assert host.active.load_pack("demo") is running
        assert await answer(host) == "v1"
        assert host.health.last_reload == reloaded_at
        error = host.health.last_error
        assert error is not None
        assert error.startswith(
            f"pack app for tenant demo: digest mismatch for app: expected {wrong}"
        )
        with pytest.raises(VerificationError, match="digest mismatch for app"):
            await watcher.reload()  # the admin trigger sees the error itself

        index.publish("v2")
        assert await watcher.tick() is True
        assert host.health.last_error is None and await answer(host) == "v2"


async def test_an_unreadable_index_keeps_the_running_packs(index: Index, tmp_path: Path) -> None:
    index.publish("v1")
    host = make_host(VersionedPacks())
    async with make_watcher(host, index, tmp_path) as watcher:
        index.path.unlink()
        assert await watcher.tick() is False
        assert await answer(host) == "v1"
        assert host.health.last_error is not None
        assert "is unreadable" in host.health.last_error


async def test_a_failed_first_load_starts_degraded(index: Index, tmp_path: Path) -> None:
    index.publish("v1", digest=digest_of(b"nope"))
    host = make_host(VersionedPacks())
    async with make_watcher(host, index, tmp_path):
        assert host.active.load_pack("demo") is None
        assert host.health.last_error is not None and host.health.last_reload is None


async def test_revision_runtimes_survive_an_index_reload(index: Index, tmp_path: Path) -> None:
    index.publish("v1")
    (tmp_path / "rev.gtpack").write_text("rev")
    host = make_host(VersionedPacks())
    await host.load_revision("demo", "d", "b", "r", [PackRef(tmp_path / "rev.gtpack")])
    async with make_watcher(host, index, tmp_path) as watcher:
        index.publish("v2")
        assert await watcher.tick() is True
        assert host.active.load_revision("demo", "d", "b", "r") is not None


async def test_turns_in_flight_finish_on_the_runtime_they_started_on(
    index: Index, tmp_path: Path
) -> None:
    index.publish("v1")
    factory = VersionedPacks()
    host = make_host(factory)
    async with make_watcher(host, index, tmp_path) as watcher:
        old = host.active.load_pack("demo")
        in_flight = asyncio.create_task(answer(host, "hold"))
        await factory.engines["v1"].entered.wait()

        index.publish("v2")
        assert await watcher.tick() is True
        # New turns (another conversation: one conversation's turns are serialised) see the
        # new runtime at once.
        assert await answer(host, session="s2") == "v2"
        assert not in_flight.done()

        factory.engines["v1"].gate.set()
        assert await in_flight == "v1"
        assert host.active.load_pack("demo") is not old


async def test_leaving_stops_the_polling_task(index: Index, tmp_path: Path) -> None:
    index.publish("v1")
    host, sleeper = make_host(VersionedPacks()), ManualSleeper()
    watcher = make_watcher(host, index, tmp_path, sleeper)
    async with watcher:
        await sleeper.next_request()
        task = watcher._task
        assert task is not None and not task.done()
    assert task.cancelled()


async def test_the_upstream_sample_index_loads_with_the_real_pack_loader(tmp_path: Path) -> None:
    shutil.copytree(UPSTREAM, tmp_path / "examples")
    # The sample's component is a placeholder, not WebAssembly: keep components out of it.
    builder = HostBuilder().with_config(HostConfig(tenant="acme"))
    host = builder.with_component_invoker(NoComponents()).build()  # type: ignore[arg-type]
    await host.start()
    source = IndexPackSource(
        str(tmp_path / "examples" / "index.json"),
        cache_dir=tmp_path / "cache",
        policy=VerifyPolicy(),
    )
    async with PackIndexWatcher(host, source, sleeper=ManualSleeper()):
        runtime = host.active.load_pack("acme")
        assert runtime is not None
        assert runtime.main_pack.pack_id == "ai.greentic.runner.example"
        assert runtime.digest == (
            "sha256:c6ba298a9a4154f8fff7486b6594b4235a771b525824bfe48e691ed16ff8ab37"
        )
    await host.stop()
