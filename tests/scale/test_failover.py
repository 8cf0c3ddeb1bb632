"""A replica dies (SIGKILL) in the middle of traffic: no paused conversation is lost, and
each one's next turn succeeds on the surviving process.

The kill is aimed at the worst moment: the doomed process is frozen (SIGSTOP) until it is
caught holding at least one conversation's turn lock (a lease in Redis that stays put while
the process is frozen), then killed. That conversation stays locked until the lease runs out
(at most 30 s, ``LeasePolicy.lease_secs``); its retry on the survivor waits for that, then
either resumes the parked snapshot (the dead turn had not saved) or, when the dead turn had
already saved, starts the conversation's next round.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable
from pathlib import Path

import httpx
import pytest
from tests.scale.cluster import SCALE_PACK, Cluster, cluster, reply_texts
from tests.storage.storage_helpers import RedisServer

from greentic_runner.storage.locks import DEFAULT_LEASE_SECS
from greentic_runner.storage.redis import Client, connect

pytestmark = [pytest.mark.slow, pytest.mark.redis]

MAX_CONVERSATIONS = 5000  # traffic stops at the kill; this only bounds a broken run
IDLE = 10  # conversations parked on the doomed process, quiet until after its death
KILL_AFTER = 30  # conversations finished before aiming at the doomed process
CONCURRENCY = 32
AIM_SECS = 20.0
ASKED = ["What is your name?"]


Outcome = list[str] | httpx.TransportError


def greeting(n: int) -> list[str]:
    return [f"Hello N{n}, you said hi-{n}"]


async def leases(redis: Client, running: Cluster) -> dict[bytes, bytes]:
    found = {}
    async for key in redis.scan_iter(match=f"{running.namespace}:lock:*"):
        holder = await redis.get(key)
        if holder is not None:
            found[key] = holder
    return found


async def leases_expire(redis: Client, running: Cluster, within: float) -> bool:
    """True once no turn lease is held, polled for up to ``within`` seconds."""
    deadline = time.monotonic() + within
    while await leases(redis, running):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.5)
    return True


async def kill_holding_a_lease(running: Cluster, redis: Client) -> set[bytes]:
    """Freeze process 0 until it holds a turn lease, then SIGKILL it; the leases it held."""
    process = running.processes[0].process
    deadline = time.monotonic() + AIM_SECS
    while time.monotonic() < deadline:
        process.send_signal(signal.SIGSTOP)
        try:
            before = await leases(redis, running)
            await asyncio.sleep(0.2)  # the live process finishes its turns in milliseconds
            now = await leases(redis, running)
            held = {key for key, holder in now.items() if before.get(key) == holder}
            if held:
                running.kill(0)
                return held
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
        await asyncio.sleep(0.02)
    raise AssertionError(f"process 0 was never caught holding a turn lease in {AIM_SECS:g}s")


async def test_killing_a_process_mid_turn_loses_no_paused_conversation(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    redis = connect(redis_server.url)
    try:
        await kill_mid_traffic(redis, redis_server, tmp_path)
    finally:
        await redis.aclose()


async def kill_mid_traffic(redis: Client, redis_server: RedisServer, tmp_path: Path) -> None:
    """Conversations run (turn 1 on one process, turn 2 on the other) until process 0 has
    been killed mid-turn; then every cut-off turn is retried on the survivor."""
    with cluster(redis_server, tmp_path, ["--pack", f"demo={SCALE_PACK}"]) as running:
        doomed, survivor = running.urls
        limits = httpx.Limits(max_connections=CONCURRENCY)
        async with httpx.AsyncClient(timeout=90, limits=limits) as http:

            async def turn(base: str, user: str, text: str) -> list[str]:
                response = await http.post(
                    f"{base}/tenants/demo/activities",
                    json={"payload": {"text": text}, "user_id": user, "conversation_id": "c"},
                )
                return reply_texts(response)

            # Conversations parked on the doomed process, quiet until after its death.
            idle = range(MAX_CONVERSATIONS, MAX_CONVERSATIONS + IDLE)
            parked = await asyncio.gather(*(turn(doomed, f"c{n}", f"hi-{n}") for n in idle))
            assert all(reply == ASKED for reply in parked)

            # n -> (turn 1 outcome, turn 2 outcome or None when turn 1 failed)
            history: dict[int, tuple[Outcome, Outcome | None]] = {}
            numbers = iter(range(MAX_CONVERSATIONS))
            enough, killed = asyncio.Event(), asyncio.Event()

            async def converse() -> None:
                for n in numbers:
                    if killed.is_set():
                        return
                    asked = await attempt(turn(running.urls[n % 2], f"c{n}", f"hi-{n}"))
                    answered = None
                    if asked == ASKED:
                        answered = await attempt(turn(running.urls[(n + 1) % 2], f"c{n}", f"N{n}"))
                    history[n] = (asked, answered)
                    if len(history) >= KILL_AFTER:
                        enough.set()

            async def killer() -> set[bytes]:
                await enough.wait()
                try:
                    return await kill_holding_a_lease(running, redis)
                finally:
                    killed.set()

            held, *_ = await asyncio.gather(killer(), *(converse() for _ in range(CONCURRENCY)))
            assert held, "the doomed process died holding a turn lease"

            # Finished before the kill: right. Turn 1 cut off: the conversation may or may
            # not have been parked; nothing more to check. Turn 2 cut off: retried below.
            cut_off = {}
            for n, (asked, answered) in history.items():
                if isinstance(asked, BaseException):
                    continue
                assert asked == ASKED, (n, asked)
                if isinstance(answered, BaseException):
                    cut_off[n] = answered
                else:
                    assert answered == greeting(n), (n, answered)
            assert cut_off, "the kill should have cut some answers off"

            # The cut-off answers again, on the survivor (concurrently: the dead process's
            # leases expire together).
            replies = await asyncio.gather(*(turn(survivor, f"c{n}", f"N{n}") for n in cut_off))
            retried = dict(zip(cut_off, replies, strict=True))
            for n, reply in retried.items():
                if isinstance(cut_off[n], httpx.ConnectError):
                    assert reply == greeting(n), (n, reply)  # never reached the dead process
                else:
                    assert reply in (greeting(n), ASKED), (n, reply)
            # A turn the dead process had finished: the retry began the next round, which
            # continues normally.
            for n in [n for n, reply in retried.items() if reply == ASKED]:
                assert await turn(survivor, f"c{n}", "again") == [f"Hello again, you said N{n}"]

            # The conversations parked on the dead process continue on the survivor.
            resumed = await asyncio.gather(*(turn(survivor, f"c{n}", f"N{n}") for n in idle))
            assert resumed == [greeting(n) for n in idle]
            # Nothing is left locked: the dead process's leases run out. Those of
            # conversations no retry touched (turn 1 cut off) may outlive the retried ones
            # by up to a renewal interval, so wait out one lease at most.
            assert await leases_expire(redis, running, within=DEFAULT_LEASE_SECS + 5)


async def attempt(reply: Awaitable[list[str]]) -> Outcome:
    try:
        return await reply
    except httpx.TransportError as exc:
        return exc
