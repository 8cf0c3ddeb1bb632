"""``scale-out``: WebChat requests/s of one vs two ``greentic-runner serve`` processes that
share one Redis (sessions, turn locks, dedupe), reported as the 2-process ÷ 1-process ratio.

Work: two-turn ask-name conversations over ``POST /webchat/activities`` (``bench/wrk/
scale.lua``): every turn loads and saves its conversation in Redis, takes the conversation's
turn lease and claims the activity id in the shared dedupe, so a turn costs the same on any
process (tests/scale proves that turns alternating between processes are correct).

Setup on this 2-core machine: each server process is pinned to its own core (1 process →
one core, 2 processes → both); ``redis-server`` and the two ``wrk`` load generators (16
connections each, one per server, or both on the one server) are not pinned and take their
CPU where they can — with two servers that is from the servers, so the ratio understates
what two processes get on a machine with spare cores. The CPU seconds that every process
spent per request are reported too, which is what the extrapolation in
``docs/deployment.md`` uses: servers scale out until Redis (one thread) saturates at about
``1 / redis_cpu_us_per_request`` requests per second. Passes alternate 1, 2, 1, 2 processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common import ROOT, expect
from .prepare import PrepareError, free_port, pinned, redis_server, stop, wait_for_port
from .report import Outcome
from .run import Runner

SCRIPT = ROOT / "bench" / "wrk" / "scale.lua"
PACK = ROOT / "bench" / "packs" / "ask-name"
PATH = "/webchat/activities"
CONNECTIONS = 32  # in total, split over two wrk processes
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class ScaleRun:
    processes: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    server_cpu_us: float  # CPU time of all server processes per request
    redis_cpu_us: float


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far (Linux ``/proc``; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def server_command(port: int) -> list[str]:
    cli = Path(sys.executable).parent / "greentic-runner"
    return [str(cli), "serve", "--pack", f"demo={PACK}", "--host", "127.0.0.1", "--port", str(port)]


@contextlib.contextmanager
def servers(count: int, redis_url: str) -> Iterator[list[tuple[str, int]]]:
    """``count`` serve processes on one Redis namespace, process ``i`` pinned to core ``i``;
    yields their (URL, pid)."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GREENTIC_RUNNER_")},
        "GREENTIC_ENV": f"bench-scale-{uuid.uuid4().hex[:8]}",  # a fresh session namespace
        "GREENTIC_RUNNER_SESSION_BACKEND": "redis",
        "GREENTIC_RUNNER_STATE_BACKEND": "redis",
        "GREENTIC_RUNNER_REDIS_URL": redis_url,
    }
    started: list[subprocess.Popen[bytes]] = []
    try:
        urls = []
        for index in range(count):
            port = free_port()
            core = {cores[index % len(cores)]} if cores else None
            process = subprocess.Popen(
                server_command(port),
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                preexec_fn=pinned(core),
            )
            started.append(process)
            wait_for_port(port, process, f"serve process {index}")
            urls.append((f"http://127.0.0.1:{port}{PATH}", process.pid))
        check_conversation([url for url, _ in urls])
        yield urls
    finally:
        for process in started:
            stop(process)


def post(url: str, body: dict[str, Any]) -> list[str | None]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        reply = json.loads(response.read())
    return [activity.get("text") for activity in reply.get("activities", [])]


def check_conversation(urls: list[str]) -> None:
    """One conversation whose two turns go to the first and the last process."""
    person = {"from": {"id": "check-user"}, "conversation": {"id": "check-conv"}}
    base = {"type": "message", "channelId": "webchat", "recipient": {"id": "bot"}, **person}
    asked = post(urls[0], {**base, "id": "check-1", "text": "hi"})
    expect(asked, ["What is your name?"], "scale-out turn 1")
    answered = post(urls[-1], {**base, "id": "check-2", "text": "Ada"})
    expect(answered, ["Hello Ada, you said hi"], "scale-out turn 2 on another process")


def measure_once(count: int, redis: subprocess.Popen[bytes], url: str, seconds: int) -> ScaleRun:
    with servers(count, url) as running:
        targets = [running[i % count][0] for i in range(2)]
        load(targets, 1, "warm-")  # warm-up: imports, connections, Redis scripts
        pids = [pid for _, pid in running]
        before = [cpu_seconds(pid) for pid in pids], cpu_seconds(redis.pid)
        runs = load(targets, seconds, f"m{uuid.uuid4().hex[:6]}-")
        after = [cpu_seconds(pid) for pid in pids], cpu_seconds(redis.pid)
    rate = sum(run.requests_per_s for run in runs)
    requests = rate * seconds
    server_cpu = sum(after[0]) - sum(before[0])
    return ScaleRun(
        processes=count,
        requests_per_s=rate,
        p50_ms=max(run.p50_ms for run in runs),
        p99_ms=max(run.p99_ms for run in runs),
        server_cpu_us=1e6 * server_cpu / requests,
        redis_cpu_us=1e6 * (after[1] - before[1]) / requests,
    )


def load(targets: list[str], seconds: int, prefix: str) -> list[WrkResult]:
    """Two wrk processes at once (one per target URL), ``CONNECTIONS / 2`` connections each."""
    binary = shutil.which("wrk")
    if binary is None:
        raise PrepareError("wrk is not installed (make bench installs Debian's wrk)")
    connections = CONNECTIONS // len(targets)
    wrk_args = [binary, "-t1", f"-d{seconds}s", "--latency", "-s", str(SCRIPT)]
    started = [
        subprocess.Popen(
            [*wrk_args, f"-c{connections}", target, "--", f"{prefix}{index}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index, target in enumerate(targets)
    ]
    results = []
    for process, target in zip(started, targets, strict=True):
        out, err = process.communicate(timeout=seconds + 30)
        if process.returncode != 0:
            raise AssertionError(f"wrk against {target} failed: {err.strip()}")
        results.append(parse_wrk(out, target))
    return results


@dataclass(frozen=True)
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float


_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
_LATENCY = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def parse_wrk(out: str, target: str) -> WrkResult:
    """wrk's ``--latency`` report; a run with failed requests is an error, not a figure."""
    if "Non-2xx or 3xx responses" in out or "Socket errors" in out:
        raise AssertionError(f"wrk saw failed requests against {target}:\n{out}")
    rate = _RATE.search(out)
    if rate is None:
        raise AssertionError(f"cannot read wrk output:\n{out}")
    latency = {p: float(v) * _UNIT_MS[u] for p, v, u in _LATENCY.findall(out)}
    return WrkResult(float(rate.group(1)), latency.get("50", 0.0), latency.get("99", 0.0))


def scale_out(runner: Runner) -> Outcome:
    """The ``scale-out`` scenario (registered in :mod:`bench.suite`)."""
    seconds, passes = runner.size(5, 2), runner.size(2, 1)
    runs: list[ScaleRun] = []
    try:
        with redis_server(None) as redis:
            for _ in range(passes):
                for count in (1, 2):
                    runs.append(measure_once(count, redis.process, redis.url, seconds))
    except PrepareError as exc:
        return Outcome("scale-out", status="skipped", note=str(exc))

    def median(count: int, field: str) -> float:
        return float(statistics.median(getattr(r, field) for r in runs if r.processes == count))

    one, two = median(1, "requests_per_s"), median(2, "requests_per_s")
    redis_us = median(2, "redis_cpu_us")
    return Outcome(
        "scale-out",
        {
            "requests_per_s_1": one,
            "requests_per_s_2": two,
            "p99_ms_1": median(1, "p99_ms"),
            "p99_ms_2": median(2, "p99_ms"),
            "server_cpu_us_per_request": median(2, "server_cpu_us"),
            "redis_cpu_us_per_request": redis_us,
            "redis_bound_requests_per_s": 1e6 / redis_us if redis_us else "n/a",
        },
        ratio=two / one,
        ratio_means="requests/s with 2 serve processes ÷ with 1, one shared Redis (2 cores)",
        detail={"runs": [vars(run) for run in runs]},
    )
