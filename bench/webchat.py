"""``http-webchat``: WebChat POSTs over loopback against ``greentic-runner serve`` vs a bare
Starlette echo app under the same uvicorn settings, with the same load generator.

The server under test is pinned to the measuring core, ``wrk`` (Debian's package) to the
other one. Each side gets a warm-up run, then bounded measured runs; the two sides
alternate so drift on a shared machine hits both. One request is checked before any load
(the reply must be ``You said: hi``) and a run with non-2xx answers or socket errors fails.
The ratio is the median of the passes' own ratios (:func:`paired_ratio`).
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .common import ROOT, expect
from .prepare import PrepareError, free_port, pinned, stop, wait_for_port

SCRIPT = ROOT / "bench" / "wrk" / "webchat.lua"
ECHO_PACK = ROOT / "bench" / "packs" / "echo"
PATH = "/webchat/activities"
TENANT = "demo"  # the serve command's default tenant for channel routes


@dataclass(frozen=True)
class WrkRun:
    requests_per_s: float
    p50_ms: float
    p99_ms: float


def ours_command(port: int) -> list[str]:
    cli = Path(sys.executable).parent / "greentic-runner"
    return [
        str(cli),
        "serve",
        "--pack",
        f"{TENANT}={ECHO_PACK}",
        "--store",
        "memory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]


def bare_command(port: int) -> list[str]:
    return [sys.executable, "-m", "bench.servers.bare_echo", "--port", str(port)]


@contextmanager
def server(command: list[str], port: int, core: set[int] | None, what: str) -> Iterator[str]:
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=pinned(core),
    )
    try:
        wait_for_port(port, process, what)
        url = f"http://127.0.0.1:{port}{PATH}"
        check_reply(url, what)
        yield url
    finally:
        stop(process)


def check_reply(url: str, what: str) -> None:
    body = {
        "type": "message",
        "id": "bench-check",
        "channelId": "webchat",
        "text": "hi",
        "from": {"id": "user-check"},
        "conversation": {"id": "conv-check"},
        "recipient": {"id": "bot"},
        "serviceUrl": "http://127.0.0.1/",
    }
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        reply = json.loads(response.read())
    texts = [item.get("text") for item in reply.get("activities", [])]
    expect(texts, ["You said: hi"], f"{what} reply")


_LATENCY = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, seconds: int, connections: int, core: set[int] | None) -> WrkRun:
    binary = shutil.which("wrk")
    if binary is None:
        raise PrepareError("wrk is not installed (make bench installs Debian's wrk)")
    args = [binary, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(SCRIPT)]
    done = subprocess.run(
        [*args, url],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
        preexec_fn=pinned(core),
    )
    out = done.stdout
    if "Non-2xx or 3xx responses" in out or "Socket errors" in out:
        raise AssertionError(f"wrk saw failed requests against {url}:\n{out}")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if rate is None:
        raise AssertionError(f"cannot read wrk output:\n{out}")
    latency = {p: float(v) * _UNIT_MS[u] for p, v, u in _LATENCY.findall(out)}
    return WrkRun(float(rate.group(1)), latency.get("50", 0.0), latency.get("99", 0.0))


def measure(
    *, seconds: int, passes: int, connections: int, core: int | None, other: set[int] | None
) -> dict[str, list[WrkRun]]:
    """``{"ours": [...], "bare": [...]}``: the measured wrk runs of each side."""
    runs: dict[str, list[WrkRun]] = {"ours": [], "bare": []}
    server_core = {core} if core is not None else None
    for _ in range(passes):
        for side, command in (("ours", ours_command), ("bare", bare_command)):
            port = free_port()
            with server(command(port), port, server_core, side) as url:
                wrk(url, 1, connections, other)  # warm-up
                runs[side].append(wrk(url, seconds, connections, other))
    return runs


def median_of(runs: list[WrkRun], field: str) -> float:
    return float(statistics.median(getattr(run, field) for run in runs))


def paired_ratio(runs: dict[str, list[WrkRun]]) -> float:
    """The median over passes of ours ÷ bare, each pass's two runs measured back to back:
    drift on a shared machine (a neighbour's load coming and going) moves both runs of a
    pass, so pairing them cancels what a ratio of two separate medians would keep."""
    pairs = zip(runs["ours"], runs["bare"], strict=True)
    return float(
        statistics.median(ours.requests_per_s / bare.requests_per_s for ours, bare in pairs)
    )
