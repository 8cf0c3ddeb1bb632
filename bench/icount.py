"""Instructions per WebChat request and per echo and ask-name turn, ours vs the comparison:
noise-free companions to ``http-webchat``, ``turn-echo`` and ``turn-ask-name``.

Timings on a shared VM swing by tens of percent between runs; the number of CPU
instructions an operation executes does not. ``make bench-icount`` runs each side
in-process under valgrind's cachegrind (no cache simulation) twice — once short, once long —
and divides the difference by the extra operations, so start-up and pack loading cancel out.

- ``http-webchat-icount``: the requests ``bench/wrk/webchat.lua`` sends, fed straight to the
  ASGI app of ``serve`` and of the bare echo app (no sockets: the server's share is the same
  for both and not counted); ratio = bare ÷ ours, as ``http-webchat``'s throughput ratio.
- ``turn-echo-icount``, ``turn-ask-name-icount``: rounds of the scenario (1,000
  conversations) through our host API and through the peer's ``TestAdapter`` (run with the
  peer's virtualenv); ratio = peer ÷ ours, as the scenario's.

It is a proxy, not a throughput: it ignores cache misses and system calls. Use it to tell
whether a change made a path cheaper, and whether a scenario's timed ratio moved because of
the code or because of the machine; the timed scenarios stay the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

from .common import ROOT, expect
from .run import PEER_PYTHON
from .webchat import ECHO_PACK, PATH, TENANT

SHORT, LONG = 1000, 3000
WARMUP = 1500
SIDES = ("ours", "bare")
TURN_SIDES = ("ours-echo", "peer-echo", "ours-ask-name", "peer-ask-name")
CONVERSATIONS = 1000


@dataclass(frozen=True)
class Comparison:
    """One BENCH line: ``ours`` against ``theirs``, counted at ``short`` and ``long`` units
    (requests, or rounds of ``per_unit`` turns)."""

    name: str
    operation: str  # "request" or "turn"
    ours: str
    theirs: str
    label: str  # how the line names the comparison side
    short: int
    long: int
    per_unit: int = 1


COMPARISONS = (
    Comparison("http-webchat-icount", "request", "ours", "bare", "bare", SHORT, LONG),
    Comparison("turn-echo-icount", "turn", "ours-echo", "peer-echo", "peer", 1, 3, CONVERSATIONS),
    # A round of ask-name is both turns of every conversation.
    Comparison(
        "turn-ask-name-icount",
        "turn",
        "ours-ask-name",
        "peer-ask-name",
        "peer",
        1,
        2,  # the peer's rounds take a minute under valgrind
        2 * CONVERSATIONS,
    ),
)

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


async def turn_rounds(side: str, rounds: int, conversations: int = CONVERSATIONS) -> None:
    """A checked warm-up round, then ``rounds`` more of ``turn-echo`` or ``turn-ask-name``
    on ``side`` (``ours-…`` through the host API, ``peer-…`` through the peer's adapter)."""
    from . import scripts

    people = scripts.participants(conversations)
    who, scenario = side.split("-", 1)
    if who == "peer":
        from .peer import bots, worker

        bot = bots.EchoBot() if scenario == "echo" else bots.AskNameBot()
        adapter = bots.adapter_for(bot)
        peer_round = worker.echo_round if scenario == "echo" else worker.ask_round
        for _ in range(rounds + 1):
            await peer_round(adapter, people)
        return
    from .scenarios import turns

    our_round = turns.echo_round if scenario == "echo" else turns.ask_round
    async with turns.open_host(turns.PACKS / scenario, {}) as host:
        for _ in range(rounds + 1):
            await our_round(host, people)


async def child(side: str, requests: int, warmup: int = WARMUP) -> None:
    """Build ``side``'s app as its server would and drive it (the process valgrind counts)."""
    if side in TURN_SIDES:
        await turn_rounds(side, requests)
        return
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
    python = sys.executable
    if side.startswith("peer-"):
        if not PEER_PYTHON.exists():
            raise SystemExit(f"peer virtualenv missing ({PEER_PYTHON}); run make bench-icount")
        python = str(PEER_PYTHON)
    command = [
        valgrind,
        "--tool=cachegrind",
        "--cache-sim=no",
        "--cachegrind-out-file=/dev/null",
        python,
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


def per_operation(comparison: Comparison, counts: dict[tuple[str, int], int], side: str) -> float:
    extra = counts[side, comparison.long] - counts[side, comparison.short]
    return extra / ((comparison.long - comparison.short) * comparison.per_unit)


def line(comparison: Comparison, ours: float, theirs: float) -> str:
    unit = comparison.operation
    return (
        f"BENCH {comparison.name} instructions_per_{unit}={ours:.0f} "
        f"{comparison.label}_instructions_per_{unit}={theirs:.0f} ratio={theirs / ours:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=2, metavar=("SIDE", "COUNT"))
    args = parser.parse_args()
    if args.child:
        side, count = args.child
        if side not in SIDES + TURN_SIDES:
            parser.error(f"SIDE must be one of {', '.join(SIDES + TURN_SIDES)}")
        if side in SIDES:
            import uvloop  # what serve runs on

            uvloop.run(child(side, int(count)))
        else:
            asyncio.run(child(side, int(count)))  # as the turn scenarios run
        return
    runs = [
        (side, count)
        for comparison in COMPARISONS
        for side in (comparison.ours, comparison.theirs)
        for count in (comparison.short, comparison.long)
    ]
    with ThreadPoolExecutor(max_workers=2) as pool:  # counts do not depend on timing
        futures = {run: pool.submit(instructions, *run) for run in runs}
        counts = {key: future.result() for key, future in futures.items()}
    for comparison in COMPARISONS:
        ours = per_operation(comparison, counts, comparison.ours)
        theirs = per_operation(comparison, counts, comparison.theirs)
        print(line(comparison, ours, theirs), flush=True)


if __name__ == "__main__":
    main()
