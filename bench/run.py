"""The benchmark entry point: ``make bench`` runs ``python -m bench.run``.

Runs every scenario of :mod:`bench.suite`, each measurement in a fresh process pinned to
one core, prints one ``BENCH <scenario> <metric>=<value> … ratio=<value>`` line per
scenario as soon as it finishes, and writes the JSON report (default
``.bench/report.json``). Options: ``--only a,b`` picks scenarios, ``--quick`` shrinks every
size (a smoke run, not figures to quote), ``--profile`` also writes cProfile listings of
greentic-runner's turn scenarios to ``.bench/profiles/``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .common import RESULT_PREFIX, ROOT
from .report import Outcome, write_report

PEER_PYTHON = ROOT / ".bench" / "bin" / "python"
DEFAULT_REPORT = ROOT / ".bench" / "report.json"


class JobFailed(RuntimeError):
    """A measurement process failed (a wrong reply, a crash, a timeout)."""


class PeerMissing(RuntimeError):
    """The peer's virtualenv is not there: ``make bench`` creates it."""


@dataclass
class Runner:
    """Starts measurement processes and pools their rounds."""

    quick: bool = False
    peer_python: Path = PEER_PYTHON
    core: int | None = None
    log: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.core is None and hasattr(os, "sched_getaffinity"):
            self.core = max(os.sched_getaffinity(0))

    @property
    def has_peer(self) -> bool:
        return self.peer_python.exists()

    def size(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    def job(
        self, side: str, job: str, params: dict[str, Any], timeout: float = 600
    ) -> dict[str, Any]:
        """Run ``job`` in a fresh process of ``side`` ("ours" or "peer"); its result dict."""
        if side == "peer":
            if not self.has_peer:
                raise PeerMissing(f"peer virtualenv missing ({self.peer_python}); run make bench")
            command = [str(self.peer_python), "-m", "bench.peer.worker"]
        else:
            command = [sys.executable, "-m", "bench.worker"]
        payload = json.dumps({**params, "core": self.core})
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "0"}
        started = time.perf_counter()
        try:
            done = subprocess.run(
                [*command, job, payload],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=timeout,
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise JobFailed(f"{side} job {job} timed out after {timeout:.0f}s") from exc
        lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
        if done.returncode != 0 or not lines:
            tail = " | ".join(done.stderr.strip().splitlines()[-4:])
            raise JobFailed(f"{side} job {job} failed (exit {done.returncode}): {tail}")
        result: dict[str, Any] = json.loads(lines[-1][len(RESULT_PREFIX) :])
        self.log.append(
            {
                "side": side,
                "job": job,
                "params": params,
                "seconds": round(time.perf_counter() - started, 2),
                "result": result,
            }
        )
        return result

    def alternate(
        self, jobs: Sequence[tuple[str, str]], params: dict[str, Any], passes: int
    ) -> dict[str, list[dict[str, Any]]]:
        """Run every job once per pass, in turn (so drift on a shared machine hits them all
        alike); peer jobs are left out when the peer is missing."""
        results: dict[str, list[dict[str, Any]]] = {job: [] for _, job in jobs}
        for _ in range(passes):
            for side, job in jobs:
                if side == "peer" and not self.has_peer:
                    continue
                results[job].append(self.job(side, job, params))
        return results


def pooled(results: list[dict[str, Any]], key: str = "turns_per_s") -> float | None:
    """Median over every measured round of every process (None when nothing ran)."""
    rounds = [rate for result in results for rate in result[key]["rounds"]]
    return statistics.median(rounds) if rounds else None


def main(argv: list[str] | None = None) -> int:
    from .suite import SCENARIOS, prepare, profile_hot_paths

    parser = argparse.ArgumentParser(description="greentic-runner benchmarks (BENCH lines)")
    parser.add_argument("--only", help="comma-separated scenario names")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--report", type=Path, default=DEFAULT_REPORT)
    parser.add_argument("--profile", action="store_true", help="write cProfile listings")
    parser.add_argument("--peer-python", type=Path, default=PEER_PYTHON)
    args = parser.parse_args(argv)
    wanted = [name for name in SCENARIOS if not args.only or name in args.only.split(",")]
    runner = Runner(quick=args.quick, peer_python=args.peer_python)
    outcomes: list[Outcome] = []
    began_setup = time.perf_counter()
    prepare(wanted)  # component builds: not part of the measured suite
    setup = round(time.perf_counter() - began_setup, 1)
    print(f"bench: setup (component builds, packs) took {setup}s", flush=True)
    started = time.perf_counter()
    for name in wanted:
        began = time.perf_counter()
        try:
            outcome = SCENARIOS[name](runner)
        except (RuntimeError, AssertionError, OSError, subprocess.SubprocessError) as exc:
            outcome = Outcome(name, status="failed", note=str(exc))
        outcome.seconds = round(time.perf_counter() - began, 1)
        outcomes.append(outcome)
        print(outcome.line(), flush=True)
    if args.profile:
        for path in profile_hot_paths(runner):
            print(f"profile written: {path.relative_to(ROOT)}", flush=True)
    total = round(time.perf_counter() - started, 1)
    write_report(
        args.report,
        outcomes,
        {"quick": args.quick, "setup_seconds": setup, "total_seconds": total, "jobs": runner.log},
    )
    print(f"bench: {len(outcomes)} scenarios in {total}s; report {args.report}", flush=True)
    return 1 if any(outcome.status == "failed" for outcome in outcomes) else 0


if __name__ == "__main__":
    raise SystemExit(main())
