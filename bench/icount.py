"""Instructions per WebChat request, ours vs the bare echo app: a noise-free companion to
``http-webchat``.

Timings on a shared VM swing by tens of percent between runs; the number of CPU
instructions a request executes does not. ``make bench-icount`` runs each app in-process
under valgrind's cachegrind (no cache simulation) twice — once with ``SHORT`` requests, once
with ``LONG`` — and divides the difference by the extra requests, so start-up and pack
loading cancel out. The requests are the ones ``bench/wrk/webchat.lua`` sends, fed straight
to the ASGI app (no sockets: the server's share is the same for both apps and not counted).

It is a proxy, not a throughput: it ignores cache misses and system calls. Use it to tell
whether a change to the request path made it cheaper; ``http-webchat`` stays the figure.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from typing import Any

from .common import ROOT, expect
from .webchat import ECHO_PACK, PATH, TENANT

SHORT, LONG = 1000, 3000
WARMUP = 1500
SIDES = ("ours", "bare")

Asgi = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def webchat_body(counter: int) -> bytes:
    """The activity ``bench/wrk/webchat.lua`` sends as its ``counter``-th request."""
    who = counter % 1000
    return (
        f'{{"type":"message","id":"bench-{counter}","channelId":"webchat","text":"hi",'
        f'"from":{{"id":"user-{who}"}},"conversation":{{"id":"conv-{who}"}},'
        f'"recipient":{{"id":"bot"}},"serviceUrl":"http://127.0.0.1/"}}'
    ).encode()


async def post(app: Asgi, body: bytes) -> list[dict[str, Any]]:
    """One ``POST /webchat/activities`` through the ASGI app; the messages it sent."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
    }
    pending = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return pending.pop()

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


async def drive(app: Asgi, requests: int, warmup: int = WARMUP) -> None:
    """Check one reply, warm up, then send ``requests`` more (fresh activity ids)."""
    sent = await post(app, webchat_body(0))
    expect(sent[0]["status"], 200, "status of the first reply")
    expect(b"You said: hi" in sent[1]["body"], True, "text of the first reply")
    for counter in range(1, warmup + requests):
        await post(app, webchat_body(counter))


async def child(side: str, requests: int, warmup: int = WARMUP) -> None:
    """Build ``side``'s app as its server would and drive it (the process valgrind counts)."""
    if side == "bare":
        from .servers.bare_echo import app

        await drive(app, requests, warmup)
        return
    from greentic_runner.http.server import open_server
    from greentic_runner.server_config import ServeFlags, resolve_plan

    flags = ServeFlags(
        config=None,
        packs=[f"{TENANT}={ECHO_PACK}"],
        bindings=[],
        host="127.0.0.1",
        port=0,
        store="memory",
        workers=1,
    )
    async with AsyncExitStack() as stack:
        server = await open_server(resolve_plan(flags, bindings_tenant={}), stack)
        await drive(server.app, requests, warmup)


_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")


def instructions(side: str, requests: int) -> int:
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("valgrind is not installed (make bench-icount installs Debian's)")
    command = [
        valgrind,
        "--tool=cachegrind",
        "--cache-sim=no",
        "--cachegrind-out-file=/dev/null",
        sys.executable,
        "-m",
        "bench.icount",
        "--child",
        side,
        str(requests),
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}  # same dict layouts, same count, every run
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    found = _REFS.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"{side} under valgrind failed:\n{done.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=2, metavar=("SIDE", "REQUESTS"))
    args = parser.parse_args()
    if args.child:
        side, requests = args.child
        if side not in SIDES:
            parser.error(f"SIDE must be one of {', '.join(SIDES)}")
        import uvloop  # what serve runs on

        uvloop.run(child(side, int(requests)))
        return
    with ThreadPoolExecutor(max_workers=2) as pool:  # counts do not depend on timing
        runs = {
            (side, n): pool.submit(instructions, side, n) for side in SIDES for n in (SHORT, LONG)
        }
        per_request = {
            side: (runs[side, LONG].result() - runs[side, SHORT].result()) / (LONG - SHORT)
            for side in SIDES
        }
    ours, bare = per_request["ours"], per_request["bare"]
    print(
        f"BENCH http-webchat-icount instructions_per_request={ours:.0f} "
        f"bare_instructions_per_request={bare:.0f} ratio={bare / ours:.3f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
