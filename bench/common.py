"""What every benchmark process shares: pinning, timed rounds, checks, memory, the result line.

Standard library only: the peer's virtualenv (``.bench/``) imports this module too.

A job is ``async def job(params: dict) -> dict``. :func:`worker_main` pins the process to
one core, runs the job named on the command line and prints its result as one JSON line
prefixed with :data:`RESULT_PREFIX`, which the orchestrator (:mod:`bench.run`) reads.
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import io
import json
import os
import pstats
import statistics
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

RESULT_PREFIX = "BENCH-RESULT "
ROOT = Path(__file__).resolve().parent.parent

Job = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
Round = Callable[[], Awaitable[int]]


class BenchCheckError(AssertionError):
    """A reply was not what the scenario expects: the numbers would measure the wrong work."""


def expect(actual: Any, expected: Any, what: str) -> None:
    """Raise :class:`BenchCheckError` naming ``what`` when ``actual != expected``."""
    if actual != expected:
        raise BenchCheckError(f"{what}: expected {expected!r}, got {actual!r}")


def pin_to_one_core(core: int | None = None) -> int | None:
    """Pin this process to ``core`` (default: the last allowed one); None when unsupported."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    chosen = core if core is not None and core in allowed else allowed[-1]
    os.sched_setaffinity(0, {chosen})
    return chosen


def rss_bytes() -> int:
    """Resident set size of this process (Linux ``/proc``; 0 elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


async def timed_rounds(
    run_round: Round,
    *,
    warmup: int,
    rounds: int,
    profile: str | None = None,
) -> list[float]:
    """Run ``warmup`` untimed rounds, then ``rounds`` timed ones; returns ops/s per round.

    ``run_round`` returns how many operations it did (and checks its own results after the
    clock stops: it must raise :class:`BenchCheckError` on a wrong reply). A full GC runs
    before every round so one round's garbage is not collected on the next one's clock.
    With ``profile`` set, the timed rounds run under cProfile and the top functions are
    written to that path.
    """
    for _ in range(warmup):
        await run_round()
    rates: list[float] = []
    profiler = cProfile.Profile() if profile else None
    for _ in range(rounds):
        gc.collect()
        if profiler is not None:
            profiler.enable()
        started = time.perf_counter()
        ops = await run_round()
        elapsed = time.perf_counter() - started
        if profiler is not None:
            profiler.disable()
        rates.append(ops / elapsed)
    if profiler is not None and profile:
        write_profile(profiler, Path(profile))
    return rates


def write_profile(profiler: cProfile.Profile, path: Path) -> None:
    """The top 40 functions by own time and by cumulative time, as text."""
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(40)
    stats.sort_stats("cumulative").print_stats(60)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(out.getvalue())


def summary(rates: list[float]) -> dict[str, Any]:
    """Median (the reported figure), spread and every round's rate."""
    return {
        "median": statistics.median(rates),
        "min": min(rates),
        "max": max(rates),
        "rounds": [round(r, 1) for r in rates],
    }


async def retained_per_item(
    create: Callable[[int], Awaitable[None]], count: int
) -> dict[str, float]:
    """Bytes tracemalloc sees retained (and at peak) per item after ``create(count)``.

    Started after imports and warm-up, so only the memory the items themselves hold counts.
    """
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        await create(count)
        gc.collect()
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return {
        "retained_bytes_per_item": (after - before) / count,
        "peak_bytes_per_item": (peak - before) / count,
    }


def emit(result: Mapping[str, Any]) -> None:
    """Print the result line the orchestrator parses."""
    sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
    sys.stdout.flush()


async def _run(job: Job, params: dict[str, Any]) -> dict[str, Any]:
    return await job(params)


def worker_main(jobs: Mapping[str, Job], argv: list[str] | None = None) -> int:
    """``<module> JOB [PARAMS_JSON]``: pin, run the job, print its result line."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in jobs:
        sys.stderr.write(f"usage: JOB [PARAMS_JSON]; jobs: {', '.join(sorted(jobs))}\n")
        return 2
    params: dict[str, Any] = json.loads(args[1]) if len(args) > 1 else {}
    core = pin_to_one_core(params.get("core"))
    result: dict[str, Any] = asyncio.run(_run(jobs[args[0]], params))
    result.setdefault("core", core)
    result.setdefault("python", sys.version.split()[0])
    emit(result)
    return 0
