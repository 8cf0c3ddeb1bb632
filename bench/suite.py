"""The scenarios: which processes each runs, the ratio it reports and the target it checks.

Every ratio is greentic-runner's figure over the comparison measured in the same run.
Targets are reported as held or not, never asserted. A scenario whose prerequisite has
not landed or is missing reports ``status=pending`` / ``status=skipped`` with the reason.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import scale, webchat
from .prepare import PrepareError, other_core, pack_with_component, redis_server
from .report import Outcome, Target
from .run import Runner, pooled

Scenario = Callable[[Runner], Outcome]
PEER_NOTE = "peer virtualenv .bench/ missing: ratio needs make bench"

# Packs holding built components, prepared before the clock starts (a fresh clone builds the
# 18 MB component with componentize-py first): scenario -> (template, component).
COMPONENT_PACKS = {
    "turn-component": ("component", "echo06"),
    "pack-load": ("large-component", "caps06"),
}
_prepared: dict[str, Path | PrepareError] = {}


def prepare(names: list[str]) -> None:
    """Build the components and packs the named scenarios need (errors are kept for them)."""
    for name in names:
        if name in COMPONENT_PACKS and name not in _prepared:
            try:
                _prepared[name] = pack_with_component(*COMPONENT_PACKS[name])
            except PrepareError as exc:
                _prepared[name] = exc


def prepared_pack(name: str) -> Path:
    """The pack :func:`prepare` made for scenario ``name``; raises its PrepareError."""
    prepare([name])
    found = _prepared[name]
    if isinstance(found, PrepareError):
        raise found
    return found


def _turn_params(runner: Runner) -> dict[str, Any]:
    return {
        "conversations": runner.size(1000, 100),
        "warmup": 1,
        "rounds": runner.size(5, 2),
    }


def _versus_peer(
    runner: Runner, name: str, ours_job: str, peer_job: str, floor_job: str, target: float
) -> Outcome:
    jobs = [("ours", ours_job), ("peer", peer_job), ("ours", floor_job)]
    results = runner.alternate(jobs, _turn_params(runner), passes=runner.size(2, 1))
    ours, peer, floor = (pooled(results[job]) for _, job in jobs)
    assert ours is not None and floor is not None
    outcome = Outcome(
        name,
        {"turns_per_s": ours, "peer_turns_per_s": peer or "n/a", "floor_turns_per_s": floor},
        ratio_means="greentic-runner turns/s ÷ Bot Framework peer turns/s",
        target=Target(target),
    )
    outcome.metrics["floor_share"] = ours / floor  # how close to the hand-written floor
    if peer is None:
        outcome.status, outcome.note = "skipped", PEER_NOTE
    else:
        outcome.ratio = ours / peer
    return outcome


def turn_echo(runner: Runner) -> Outcome:
    return _versus_peer(runner, "turn-echo", "turn-echo", "peer-echo", "floor-echo", 1.5)


def turn_ask_name(runner: Runner) -> Outcome:
    return _versus_peer(
        runner, "turn-ask-name", "turn-ask-name", "peer-ask-name", "floor-ask-name", 5.0
    )


def memory_per_wait(runner: Runner) -> Outcome:
    """Bytes held per conversation waiting for its second turn (lower is better)."""
    params = {"conversations": runner.size(1000, 100)}
    ours = runner.job("ours", "mem-ask-name", params)["memory"]
    floor = runner.job("ours", "mem-floor", params)["memory"]
    outcome = Outcome(
        "mem-per-wait",
        {
            "bytes_per_wait": ours["retained_bytes_per_item"],
            "peak_bytes_per_wait": ours["peak_bytes_per_item"],
            "floor_bytes_per_wait": floor["retained_bytes_per_item"],
        },
        ratio_means="greentic-runner bytes ÷ peer bytes per waiting conversation (lower wins)",
    )
    if not runner.has_peer:
        outcome.status, outcome.note = "skipped", PEER_NOTE
        return outcome
    peer = runner.job("peer", "mem-peer", params)["memory"]
    outcome.metrics["peer_bytes_per_wait"] = peer["retained_bytes_per_item"]
    outcome.metrics["peer_peak_bytes_per_wait"] = peer["peak_bytes_per_item"]
    outcome.ratio = ours["retained_bytes_per_item"] / peer["retained_bytes_per_item"]
    return outcome


def _durable(runner: Runner, name: str, store: dict[str, Any]) -> Outcome:
    params = {
        "conversations": runner.size(1000, 100),
        "warmup": 1,
        "rounds": runner.size(3, 1),
        **store,
    }
    with tempfile.TemporaryDirectory(prefix="greentic-bench-") as tmp:
        ours_params = {**params, "sqlite_path": str(Path(tmp) / "runner.db")}
        raw_params = {**params, "sqlite_path": str(Path(tmp) / "raw.db")}
        ours = runner.job("ours", "turn-ask-name", ours_params)
        raw = runner.job("ours", "raw-store", raw_params)
        threaded = None
        if store["store"] == "sqlite":
            threaded_path = str(Path(tmp) / "raw-threaded.db")
            threaded_params = {**params, "sqlite_path": threaded_path, "threaded": True}
            threaded = runner.job("ours", "raw-store", threaded_params)
    ours_rate, raw_rate = ours["turns_per_s"]["median"], raw["turns_per_s"]["median"]
    ops = ours.get("store_ops_per_turn", {})
    metrics: dict[str, Any] = {
        "turns_per_s": ours_rate,
        "raw_turns_per_s": raw_rate,
        "store_calls_per_turn": ops.get("calls", "n/a"),
        "raw_calls_per_turn": raw["calls_per_turn"],
    }
    if "statements" in ops:
        metrics["sql_statements_per_turn"] = ops["statements"]
    if threaded is not None:
        metrics["raw_threaded_turns_per_s"] = threaded["turns_per_s"]["median"]
    return Outcome(
        name,
        metrics,
        ratio=ours_rate / raw_rate,
        ratio_means="greentic-runner turns/s ÷ raw store round trips turns/s",
    )


def turn_sqlite(runner: Runner) -> Outcome:
    return _durable(runner, "turn-sqlite", {"store": "sqlite"})


def turn_redis(runner: Runner) -> Outcome:
    try:
        with redis_server(other_core(runner.core)) as server:
            return _durable(runner, "turn-redis", {"store": "redis", "redis_url": server.url})
    except PrepareError as exc:
        return Outcome("turn-redis", status="skipped", note=str(exc))


def turn_component(runner: Runner) -> Outcome:
    try:
        pack = prepared_pack("turn-component")
    except PrepareError as exc:
        return Outcome("turn-component", status="pending", note=str(exc))
    params = {
        "conversations": runner.size(1000, 100),
        "warmup": 1,
        "rounds": runner.size(5, 2),
        "pack": str(pack),
        "wasm": str(pack / "components" / "echo06.wasm"),
    }
    jobs = [("ours", "turn-component"), ("ours", "raw-component")]
    results = runner.alternate(jobs, params, passes=runner.size(2, 1))
    turns = pooled(results["turn-component"])
    calls = pooled(results["raw-component"], "calls_per_s")
    assert turns is not None and calls is not None
    reused = [r["reused_call_us"] for r in results["raw-component"]]
    return Outcome(
        "turn-component",
        {
            "turn_us": 1e6 / turns,
            "raw_call_us": 1e6 / calls,
            "raw_reused_instance_call_us": sorted(reused)[len(reused) // 2],
        },
        ratio=calls / turns,
        ratio_means="greentic-runner turn time ÷ direct wasmtime-py call time (lower wins)",
        target=Target(1.5, at_least=False),
    )


def pack_load(runner: Runner) -> Outcome:
    try:
        pack = prepared_pack("pack-load")
    except PrepareError as exc:
        return Outcome("pack-load", status="pending", note=str(exc))
    # Two cold reps: compiling the 18 MB component takes 5-15 s on a shared 2-core machine.
    params = {"pack": str(pack), "cold": runner.size(2, 1), "cached": runner.size(5, 2)}
    result = runner.job("ours", "pack-load", params, timeout=900)
    cold, cached = result["cold_ms"]["median"], result["cached_ms"]["median"]
    return Outcome(
        "pack-load",
        {
            "cold_ms": cold,
            "cached_ms": cached,
            "pack_only_ms": result["pack_only_ms"],
            "component_mb": result["component_bytes"] / 1e6,
        },
        ratio=cold / cached,
        ratio_means="cold time to first reply ÷ cached time to first reply",
        target=Target(20.0),
    )


def tenants_10k(runner: Runner) -> Outcome:
    many = runner.size(10_000, 1_000)
    params = {"tenants": many, "turns": runner.size(1000, 200), "pairs": runner.size(24, 4)}
    result = runner.job("ours", "tenants", params, timeout=1200)
    return Outcome(
        "tenants-10k",
        {
            "tenants": many,
            "dispatch_us_1": result["dispatch_us_1"],
            f"dispatch_us_{many}": result["dispatch_us_many"],
            "rss_kb_per_tenant": result["rss_bytes_per_tenant"] / 1024,
            "load_ms_per_tenant": result["load_ms_per_tenant"],
            "load_s": result["load_s"],
        },
        ratio=result["ratio"],
        ratio_means=(
            f"dispatch latency with {many} tenants ÷ with 1 tenant, median over "
            f"{result['pairs']} back-to-back pairs of rounds in one process (lower wins)"
        ),
        target=Target(1.2, at_least=False),
    )


def http_webchat(runner: Runner) -> Outcome:
    try:
        runs = webchat.measure(
            seconds=runner.size(4, 2),
            passes=runner.size(5, 1),  # the noisiest scenario: a median of five pairs
            connections=32,
            core=runner.core,
            other=other_core(runner.core),
        )
    except PrepareError as exc:
        return Outcome("http-webchat", status="skipped", note=str(exc))
    ours = webchat.median_of(runs["ours"], "requests_per_s")
    bare = webchat.median_of(runs["bare"], "requests_per_s")
    return Outcome(
        "http-webchat",
        {
            "requests_per_s": ours,
            "bare_requests_per_s": bare,
            "p50_ms": webchat.median_of(runs["ours"], "p50_ms"),
            "p99_ms": webchat.median_of(runs["ours"], "p99_ms"),
            "bare_p50_ms": webchat.median_of(runs["bare"], "p50_ms"),
        },
        ratio=webchat.paired_ratio(runs),
        ratio_means=(
            "greentic-runner requests/s ÷ bare Starlette echo requests/s, "
            "the median over back-to-back pairs of runs"
        ),
        target=Target(0.6),
        detail={side: [vars(run) for run in side_runs] for side, side_runs in runs.items()},
    )


SCENARIOS: dict[str, Scenario] = {
    "turn-echo": turn_echo,
    "turn-ask-name": turn_ask_name,
    "mem-per-wait": memory_per_wait,
    "turn-sqlite": turn_sqlite,
    "turn-redis": turn_redis,
    "turn-component": turn_component,
    "pack-load": pack_load,
    "tenants-10k": tenants_10k,
    "http-webchat": http_webchat,
    "scale-out": scale.scale_out,  # bench/scale.py
}


def profile_hot_paths(runner: Runner) -> list[Path]:
    """cProfile listings of greentic-runner's turn scenarios (not used for any figure)."""
    out = Path(__file__).resolve().parent.parent / ".bench" / "profiles"
    written = []
    base = {"conversations": runner.size(1000, 100), "warmup": 1, "rounds": 2}
    jobs: list[tuple[str, dict[str, Any]]] = [("turn-echo", {}), ("turn-ask-name", {})]
    with contextlib.suppress(PrepareError):  # no component: profile the turns only
        jobs.append(("turn-component", {"pack": str(prepared_pack("turn-component"))}))
    for job, extra in jobs:
        path = out / f"{job}.txt"
        runner.job("ours", job, {**base, **extra, "profile": str(path)})
        written.append(path)
    return written
