"""A bounded loopback load test of ``greentic-runner serve`` (not part of the unit tests).

    python -m bench.http_load [--pack examples/hello] [--duration 10] [--concurrency 16]
                              [--workers 1] [--channel api|webchat] [--url http://127.0.0.1:PORT]

Starts the server on a free 127.0.0.1 port (or uses ``--url``, which must be a loopback
address), sends single-turn messages from ``--concurrency`` clients for ``--duration``
seconds (at most 20 s and 200 000 requests), stops the server and prints one line:

    HTTP_LOAD channel=api requests=… errors=… rps=… p50_ms=… p90_ms=… p99_ms=… max_ms=…

Every request uses a fresh user, so each turn starts (and, for a one-node pack, finishes) a
conversation.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import itertools
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parents[1]
MAX_DURATION_SECS = 20.0
MAX_REQUESTS = 200_000
STARTUP_SECS = 60.0


def _loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def _server(pack: Path, workers: int) -> Iterator[str]:
    port = _free_port()
    binary = Path(sys.executable).parent / "greentic-runner"
    process = subprocess.Popen(
        [
            *(str(binary), "serve", "--pack", str(pack), "--store", "memory"),
            *("--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECS
        while True:
            if process.poll() is not None:
                raise SystemExit(f"server exited: {process.communicate()[1].strip()}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit("server did not become ready")
            time.sleep(0.05)
        yield url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def _request(channel: str, n: int) -> tuple[str, dict[str, Any]]:
    if channel == "webchat":
        return "/webchat/activities", {
            "type": "message",
            "id": f"load|{n}",
            "from": {"id": f"load-user-{n}"},
            "conversation": {"id": f"load-conv-{n}"},
            "recipient": {"id": "bot"},
            "text": "hi",
        }
    return "/tenants/demo/activities", {
        "payload": {"text": "hi"},
        "user_id": f"load-user-{n}",
        "conversation_id": f"load-conv-{n}",
    }


async def _load(
    url: str, channel: str, duration: float, concurrency: int
) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    counter = itertools.count()
    deadline = time.monotonic() + duration
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as http:

        async def client() -> None:
            nonlocal errors
            while time.monotonic() < deadline:
                n = next(counter)
                if n >= MAX_REQUESTS:
                    return
                path, body = _request(channel, n)
                start = time.perf_counter()
                try:
                    response = await http.post(path, json=body)
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - start)
                errors += 0 if ok else 1

        await asyncio.gather(*(client() for _ in range(concurrency)))
    return latencies, errors


def _percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.http_load", description=__doc__)
    parser.add_argument("--pack", type=Path, default=ROOT / "examples" / "hello")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--channel", choices=["api", "webchat"], default="api")
    parser.add_argument("--url", help="an already running server (loopback only)")
    args = parser.parse_args(argv)
    duration = min(max(args.duration, 1.0), MAX_DURATION_SECS)
    concurrency = min(max(args.concurrency, 1), 256)

    def run(url: str) -> tuple[list[float], int, float]:
        started = time.monotonic()
        latencies, errors = asyncio.run(_load(url, args.channel, duration, concurrency))
        return latencies, errors, time.monotonic() - started

    if args.url:
        if not _loopback(args.url):
            parser.error("--url must be a loopback address (127.0.0.0/8, ::1, localhost)")
        latencies, errors, elapsed = run(args.url)
    else:
        with _server(args.pack, args.workers) as url:
            latencies, errors, elapsed = run(url)
    ordered = sorted(latencies)
    ms = {
        name: 1000 * _percentile(ordered, f)
        for name, f in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))
    }
    print(
        f"HTTP_LOAD channel={args.channel} concurrency={concurrency} requests={len(ordered)} "
        f"errors={errors} rps={len(ordered) / elapsed:.0f} p50_ms={ms['p50']:.2f} "
        f"p90_ms={ms['p90']:.2f} p99_ms={ms['p99']:.2f} "
        f"max_ms={1000 * (ordered[-1] if ordered else 0):.2f} "
        f"mean_ms={1000 * (statistics.fmean(ordered) if ordered else 0):.2f}"
    )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
