"""Timers (spec §8): cron dialect, the timer envelope, fires through the runtime, skips,
cancellation on reload/stop, and fire-once across hosts sharing a store."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.pipeline import EchoEngine, flow
from tests.storage.storage_helpers import RedisServer

from greentic_runner.components.invoker import ComponentInvoker
from greentic_runner.config import HostConfig, TimerSpec
from greentic_runner.errors import ConfigError, FlowError
from greentic_runner.flows.context import FlowContext
from greentic_runner.flows.snapshot import FlowExecution
from greentic_runner.host import HostBuilder, RunnerHost
from greentic_runner.packs.pack import PackRuntime
from greentic_runner.reload import StaticPackSource, reload_all
from greentic_runner.runtime import RolloutIds, TenantRuntime
from greentic_runner.runtime_loader import PackRef
from greentic_runner.secrets import SecretsManager
from greentic_runner.storage import (
    InMemorySessionStore,
    InMemoryStateStore,
    RedisSessionStore,
    SessionStore,
    SqliteSessionStore,
)
from greentic_runner.storage.state import StateStore
from greentic_runner.testing import FakeClock, make_pack, write_pack_dir
from greentic_runner.timers import (
    TimerOptions,
    compile_schedule,
    fire_timer,
    normalize_cron,
    spawn_timers,
    timer_envelope,
)

START = datetime(2025, 1, 1, tzinfo=UTC)  # a Wednesday


class ManualSleeper:
    """A sleeper the test releases one request at a time; releasing moves the shared clock
    to the requested wake-up time, so several timers on one clock agree on "now"."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self._requests: asyncio.Queue[tuple[float, float, asyncio.Future[None]]] = asyncio.Queue()

    async def __call__(self, delay: float) -> None:
        future = asyncio.get_running_loop().create_future()
        await self._requests.put((delay, self.clock.now() + delay, future))
        await future

    async def release(self) -> float:
        """Wake the oldest sleeper (waiting for one to ask); returns its requested delay."""
        delay, wake_at, future = await self._requests.get()
        self.clock.advance(max(0.0, wake_at - self.clock.now()))
        future.set_result(None)
        return delay

    async def next_request(self) -> float:
        """Wait until the timer asks to sleep again (its previous fire is then finished)."""
        delay, wake_at, future = await self._requests.get()
        await self._requests.put((delay, wake_at, future))
        return delay


def options(clock: FakeClock, sleeper: ManualSleeper) -> TimerOptions:
    return TimerOptions(clock=clock, sleeper=sleeper)


def timer_config(*timers: TimerSpec, tenant: str = "demo") -> HostConfig:
    return HostConfig(tenant=tenant, timers=timers)


def runtime_for(
    config: HostConfig,
    packs: Sequence[PackRuntime],
    store: SessionStore | None = None,
    engine: Any = None,
) -> TenantRuntime:
    return TenantRuntime(
        tenant=config.tenant,
        config=config,
        packs=list(packs),
        engine=engine or EchoEngine(packs),
        session_store=store or InMemorySessionStore(),
        state_store=InMemoryStateStore(),
        invoker=None,  # type: ignore[arg-type]  # timers never call components directly
        secrets=None,  # type: ignore[arg-type]
    )


def app_pack(*flow_ids: str, pack_id: str = "app") -> PackRuntime:
    return make_pack(pack_id, [flow(f, "timer") for f in flow_ids])


# -- the cron dialect ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "normalized"),
    [
        ("*/5 * * * *", "0 */5 * * * *"),
        ("0 */2 * * * *", "0 */2 * * * *"),
        ("@daily", "@daily"),
        ("0 0 0 1 1 * 2030", "0 0 0 1 1 * 2030"),
    ],
    ids=["five-fields", "six-fields", "alias", "seven-fields"],
)
def test_normalize_cron_matches_the_reference(written: str, normalized: str) -> None:
    assert normalize_cron(written) == normalized


def first_fires(cron: str, count: int = 2, timezone: str | None = None) -> list[datetime]:
    schedule = compile_schedule(TimerSpec("f", cron, "s", timezone))
    upcoming = schedule.upcoming(START)
    return [next(upcoming) for _ in range(count)]


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("*/5 * * * *", [START + timedelta(minutes=5), START + timedelta(minutes=10)]),
        ("*/10 * * * * *", [START + timedelta(seconds=10), START + timedelta(seconds=20)]),
        ("@daily", [START + timedelta(days=1), START + timedelta(days=2)]),
        ("@hourly", [START + timedelta(hours=1), START + timedelta(hours=2)]),
        ("0 30 9 * * * 2026", [datetime(2026, 1, 1, 9, 30, tzinfo=UTC)] * 1),
    ],
    ids=["five-fields", "seconds-first", "daily", "hourly", "year-field"],
)
def test_fire_times(cron: str, expected: list[datetime]) -> None:
    assert first_fires(cron, len(expected)) == expected


def test_day_of_week_numbers_follow_the_rust_cron_crate() -> None:
    # Rust cron: 1 = Sunday ... 7 = Saturday. 2025-01-05 is a Sunday, 2025-01-06 a Monday.
    assert first_fires("0 0 9 * * 1", 1) == [datetime(2025, 1, 5, 9, tzinfo=UTC)]
    assert first_fires("0 9 * * 2", 1) == [datetime(2025, 1, 6, 9, tzinfo=UTC)]
    assert first_fires("0 0 9 * * MON", 1) == [datetime(2025, 1, 6, 9, tzinfo=UTC)]
    assert first_fires("0 0 9 * * 7", 1) == [datetime(2025, 1, 4, 9, tzinfo=UTC)]


@given(st.sets(st.integers(min_value=1, max_value=7), min_size=1))
def test_any_weekday_list_fires_on_exactly_those_days(days: set[int]) -> None:
    cron = "0 0 12 * * " + ",".join(str(d) for d in sorted(days))
    upcoming = compile_schedule(TimerSpec("f", cron)).upcoming(START)
    fired = {next(upcoming).weekday() for _ in range(len(days) * 2)}
    # Python: Monday = 0 ... Sunday = 6; Rust cron: Sunday = 1 ... Saturday = 7.
    assert fired == {(d - 2) % 7 for d in days}


@given(st.integers(min_value=1, max_value=7), st.integers(min_value=1, max_value=7))
def test_any_weekday_range_fires_on_exactly_those_days(a: int, b: int) -> None:
    low, high = min(a, b), max(a, b)
    upcoming = compile_schedule(TimerSpec("f", f"0 0 12 * * {low}-{high}")).upcoming(START)
    fired = {next(upcoming).weekday() for _ in range(14)}
    assert fired == {(d - 2) % 7 for d in range(low, high + 1)}


@given(st.integers(min_value=1, max_value=7), st.integers(min_value=1, max_value=3))
def test_any_weekday_step_fires_on_exactly_those_days(start: int, step: int) -> None:
    upcoming = compile_schedule(TimerSpec("f", f"0 0 12 * * {start}/{step}")).upcoming(START)
    fired = {next(upcoming).weekday() for _ in range(14)}
    assert fired == {(d - 2) % 7 for d in range(start, 8, step)}


def test_a_timezone_evaluates_the_fields_in_that_zone() -> None:
    # 09:00 in Berlin is 08:00 UTC in winter and 07:00 UTC in summer.
    assert first_fires("0 9 * * *", 1, "Europe/Berlin") == [datetime(2025, 1, 1, 8, tzinfo=UTC)]
    schedule = compile_schedule(TimerSpec("f", "0 9 * * *", "s", "Europe/Berlin"))
    summer = next(schedule.upcoming(datetime(2025, 7, 1, tzinfo=UTC)))
    assert summer == datetime(2025, 7, 1, 7, tzinfo=UTC)


@pytest.mark.parametrize(
    "cron",
    ["61 * * * *", "* * * *", "0 0 9 * * 0", "not a cron", "@reboot", "", "0 0 9 * * 2#1"],
    ids=["minute-61", "four-fields", "weekday-0", "words", "reboot", "empty", "nth-weekday"],
)
def test_an_invalid_cron_names_the_schedule(cron: str) -> None:
    with pytest.raises(ConfigError, match=r"^invalid cron expression for nightly"):
        compile_schedule(TimerSpec("report", cron, "nightly"))


def test_the_schedule_id_falls_back_to_the_flow_id() -> None:
    with pytest.raises(ConfigError, match=r"^invalid cron expression for report"):
        compile_schedule(TimerSpec("report", "bad"))


def test_an_unknown_timezone_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="invalid timezone `Mars/Olympus` for timer s"):
        compile_schedule(TimerSpec("f", "@daily", "s", "Mars/Olympus"))


def test_a_schedule_without_future_fires_ends() -> None:
    assert list(compile_schedule(TimerSpec("f", "0 0 0 30 2 *")).upcoming(START)) == []


# -- the envelope ------------------------------------------------------------------------


def test_the_timer_envelope_uses_the_process_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GREENTIC_ENV", "prod")
    envelope = timer_envelope("demo", "app", "tick", "nightly", datetime(2025, 1, 1, tzinfo=UTC))
    assert envelope.env == "prod"
    assert envelope.tenant_ctx().env == "prod"  # state and waits: the same env as HTTP turns


def test_the_timer_envelope_is_the_references(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GREENTIC_ENV", raising=False)
    at = datetime(2025, 1, 1, 0, 5, tzinfo=UTC)
    envelope = timer_envelope("demo", "app", "tick", "nightly", at)
    stamp = "2025-01-01T00:05:00+00:00"
    assert envelope.to_dict() == {
        "tenant": "demo",
        "flow_id": "tick",
        "pack_id": "app",
        "flow_type": "timer",
        "action": "timer",
        "session_hint": "nightly",
        "provider": "timer",
        "channel": "nightly",
        "conversation": "nightly",
        "user": "nightly",
        "activity_id": "nightly@2025-01-01 00:05:00 UTC",
        "timestamp": stamp,
        "payload": {"now": stamp, "schedule_id": "nightly"},
        "reply_scope": {"conversation": "nightly"},
    }


# -- fires -------------------------------------------------------------------------------


async def test_a_timer_fires_the_flow_at_each_cron_time() -> None:
    clock, runtime = (
        FakeClock(),
        runtime_for(timer_config(TimerSpec("tick", "*/5 * * * *", "every5")), [app_pack("tick")]),
    )
    sleeper = ManualSleeper(clock)
    spawn_timers(runtime, options(clock, sleeper))
    # FakeClock starts at 2023-11-14T22:13:20Z: the first fire is 22:15:00, 100 s later.
    assert await sleeper.release() == 100.0
    assert await sleeper.next_request() == 300.0
    assert await sleeper.release() == 300.0
    await sleeper.next_request()
    engine = runtime.engine
    assert isinstance(engine, EchoEngine)
    assert [(kind, ctx.pack_id, ctx.flow_id) for kind, ctx, _ in engine.calls] == [
        ("execute", "app", "tick"),
        ("execute", "app", "tick"),
    ]
    assert [payload for _, _, payload in engine.calls] == [
        {"now": "2023-11-14T22:15:00+00:00", "schedule_id": "every5"},
        {"now": "2023-11-14T22:20:00+00:00", "schedule_id": "every5"},
    ]
    runtime.close()


@pytest.mark.parametrize(
    ("flow_id", "packs"),
    [
        ("missing", [app_pack("tick")]),
        ("tick", [app_pack("tick"), app_pack("tick", pack_id="other")]),
    ],
    ids=["unknown", "ambiguous"],
)
async def test_an_unresolvable_flow_skips_the_fire_and_keeps_the_schedule(
    flow_id: str, packs: list[PackRuntime], caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    runtime = runtime_for(timer_config(TimerSpec(flow_id, "* * * * *")), packs)
    sleeper = ManualSleeper(clock)
    spawn_timers(runtime, options(clock, sleeper))
    with caplog.at_level(logging.ERROR, logger="greentic_runner.timers"):
        await sleeper.release()
        await sleeper.next_request()
    assert isinstance(runtime.engine, EchoEngine)
    assert runtime.engine.calls == []
    assert [r.getMessage() for r in caplog.records] == [
        "timer flow is ambiguous; pack_id is required"
    ]
    assert not runtime.timers[0].done()
    runtime.close()


class FailingEngine(EchoEngine):
    async def execute(self, ctx: FlowContext, input: Any) -> FlowExecution:
        self.calls.append(("execute", ctx, input))
        raise FlowError(f"node boom failed in flow {ctx.flow_id}")


async def test_a_failing_flow_is_logged_and_the_schedule_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, packs = FakeClock(), [app_pack("tick")]
    engine = FailingEngine(packs)
    runtime = runtime_for(timer_config(TimerSpec("tick", "* * * * *")), packs, engine=engine)
    sleeper = ManualSleeper(clock)
    spawn_timers(runtime, options(clock, sleeper))
    with caplog.at_level(logging.ERROR, logger="greentic_runner.timers"):
        await sleeper.release()
        await sleeper.next_request()
        await sleeper.release()
        await sleeper.next_request()
    assert len(engine.calls) == 2
    assert [r.getMessage() for r in caplog.records] == [
        "timer flow execution failed: flow execution failed: node boom failed in flow tick"
    ] * 2
    runtime.close()


async def test_an_invalid_cron_starts_nothing() -> None:
    runtime = runtime_for(
        timer_config(TimerSpec("tick", "@daily", "ok"), TimerSpec("tick", "nope", "bad")),
        [app_pack("tick")],
    )
    with pytest.raises(ConfigError, match="invalid cron expression for bad"):
        spawn_timers(runtime)
    assert runtime.timers == []


async def test_a_fire_claimed_elsewhere_does_not_run() -> None:
    store = InMemorySessionStore()
    config = timer_config(TimerSpec("tick", "* * * * *"))
    first = runtime_for(config, [app_pack("tick")], store)
    second = runtime_for(config, [app_pack("tick")], store)
    at = datetime(2025, 1, 1, 0, 1, tzinfo=UTC)
    timer = config.timers[0]
    assert await fire_timer(first, timer, at, claim_ttl=60) == "ran"
    assert await fire_timer(second, timer, at, claim_ttl=60) == "claimed-elsewhere"
    assert await fire_timer(second, timer, at + timedelta(minutes=1), claim_ttl=60) == "ran"


# -- ownership: reload and stop cancel the tasks ------------------------------------------


class TimerPacks:
    """A RuntimeFactory over in-memory packs that spawns timers on a fake clock."""

    def __init__(self, packs: dict[str, PackRuntime], clock: FakeClock) -> None:
        self.packs = packs
        self.clock = clock
        self.sleepers: list[ManualSleeper] = []

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
        runtime = runtime_for(config, [self.packs[str(r.path)] for r in refs], session_store)
        sleeper = ManualSleeper(self.clock)
        self.sleepers.append(sleeper)
        spawn_timers(runtime, options(self.clock, sleeper))
        return runtime


def timer_host(
    factory: TimerPacks, store: SessionStore | None = None, cron: str = "* * * * *"
) -> RunnerHost:
    builder = HostBuilder().with_config(timer_config(TimerSpec("tick", cron)))
    if store is not None:
        builder.with_session_store(store)
    host = builder.build()
    host._runtime_factory = factory
    return host


async def settle(tasks: list[asyncio.Task[None]]) -> None:
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_reload_and_stop_cancel_the_runtime_timers() -> None:
    factory = TimerPacks({"main": app_pack("tick")}, FakeClock())
    host = timer_host(factory)
    await host.load_pack("demo", "main")
    first = host.active.load_pack("demo")
    assert first is not None
    first_tasks = list(first.timers)
    await factory.sleepers[0].next_request()

    await reload_all(host, StaticPackSource({"demo": [PackRef(Path("main"))]}))
    await settle(first_tasks)
    assert [task.cancelled() for task in first_tasks] == [True]
    second = host.active.load_pack("demo")
    assert second is not None and second is not first
    second_tasks = list(second.timers)
    assert [task.done() for task in second_tasks] == [False]

    await host.stop()
    await settle(second_tasks)
    assert [task.cancelled() for task in second_tasks] == [True]


FLOW = """id: tick
type: timer
schema_version: 2
nodes:
  say:
    templating.handlebars:
      text: "tick {{in.schedule_id}}"
    routing: out
"""


async def test_loading_a_pack_spawns_its_timers_and_an_invalid_cron_fails_the_load(
    tmp_path: Path,
) -> None:
    pack_dir = write_pack_dir(tmp_path / "pack", "app", {"tick": FLOW})
    good = timer_config(TimerSpec("tick", "*/5 * * * *", "every5"))
    host = HostBuilder().with_config(good).build()
    await host.start()
    await host.load_pack("demo", pack_dir)
    runtime = host.active.load_pack("demo")
    assert runtime is not None
    assert [task.get_name() for task in runtime.timers] == ["timer:demo:every5"]
    tasks = list(runtime.timers)
    await host.stop()
    await settle(tasks)
    assert tasks[0].cancelled()

    bad = HostBuilder().with_config(timer_config(TimerSpec("tick", "99 * * * *", "x"))).build()
    await bad.start()
    with pytest.raises(
        ConfigError, match=r"^failed to load tenant demo: invalid cron expression for x"
    ):
        await bad.load_pack("demo", pack_dir)
    assert bad.active.load_pack("demo") is None
    await bad.stop()


async def test_a_timer_runs_a_real_flow_end_to_end(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pack_dir = write_pack_dir(tmp_path / "pack", "app", {"tick": FLOW})
    host = HostBuilder().with_config(timer_config(TimerSpec("tick", "@hourly", "h"))).build()
    await host.start()
    await host.load_pack("demo", pack_dir)
    runtime = host.active.load_pack("demo")
    assert runtime is not None
    runtime.close()  # swap the wall-clock timer for one on a fake clock
    clock = FakeClock()
    sleeper = ManualSleeper(clock)
    spawn_timers(runtime, options(clock, sleeper))
    with caplog.at_level(logging.DEBUG, logger="greentic_runner.timers"):
        await sleeper.release()
        await sleeper.next_request()
    messages = [r.getMessage() for r in caplog.records]
    assert "timer flow completed" in messages
    assert any("tick h" in m for m in messages if m.startswith("timer flow response"))
    await host.stop()


# -- fire-once across hosts sharing a store ----------------------------------------------


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = RedisServer(tmp_path_factory.mktemp("timers-redis"))
    server.start()
    yield server.url
    server.stop()


@pytest.fixture(
    params=[
        pytest.param("memory", id="memory"),
        pytest.param("sqlite", id="sqlite"),
        pytest.param("redis", id="redis", marks=pytest.mark.redis),
    ]
)
async def shared_stores(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[SessionStore, SessionStore]]:
    """Two store instances over one backing, as two runner processes would open them."""
    if request.param == "memory":
        store = InMemorySessionStore()
        yield store, store
        return
    stores: list[SessionStore]
    if request.param == "sqlite":
        stores = [await SqliteSessionStore.open(tmp_path / "runner.db") for _ in range(2)]
    else:
        url = request.getfixturevalue("redis_url")
        namespace = f"test:{uuid.uuid4().hex}"
        stores = [RedisSessionStore.from_url(url, namespace) for _ in range(2)]
    yield stores[0], stores[1]
    for store in stores:
        await store.close()


async def test_two_hosts_sharing_a_store_run_each_fire_once(
    shared_stores: tuple[SessionStore, SessionStore],
) -> None:
    clock = FakeClock()
    factories = [TimerPacks({"main": app_pack("tick")}, clock) for _ in range(2)]
    hosts = [timer_host(f, store) for f, store in zip(factories, shared_stores, strict=True)]
    for host in hosts:
        await host.load_pack("demo", "main")
    sleepers = [factory.sleepers[0] for factory in factories]
    fires = 3
    for _ in range(fires):
        # Both hosts wake for the same fire time and race for it.
        await asyncio.gather(*(sleeper.release() for sleeper in sleepers))
        await asyncio.gather(*(sleeper.next_request() for sleeper in sleepers))
    engines = []
    for host in hosts:
        runtime = host.active.load_pack("demo")
        assert runtime is not None and isinstance(runtime.engine, EchoEngine)
        engines.append(runtime.engine)
    payloads = sorted(call[2]["now"] for engine in engines for call in engine.calls)
    assert payloads == [
        "2023-11-14T22:14:00+00:00",
        "2023-11-14T22:15:00+00:00",
        "2023-11-14T22:16:00+00:00",
    ]
    for host in hosts:
        await host.stop()
