"""Any replica takes any turn: conversations continue across processes sharing one Redis,
under load, and concurrent turns of one conversation on two processes are serialized."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from tests.scale.cluster import Cluster, say

pytestmark = [pytest.mark.slow, pytest.mark.redis]

CONVERSATIONS = 200
CONCURRENCY = 32
ANSWERS = 10  # concurrent answers per raced conversation (even)
RACES = 8


async def test_a_conversation_alternating_between_processes_completes(
    shared_cluster: Cluster,
) -> None:
    first, second = shared_cluster.urls
    before = [shared_cluster.total(i, "greentic_turns_total", tenant="onboarding") for i in (0, 1)]
    async with httpx.AsyncClient(timeout=30) as http:

        async def turn(base: str, user: str, text: str) -> list[str]:
            return await say(http, base, "onboarding", user, text)

        assert await turn(first, "alt-1", "hi") == [
            "Welcome to Greentic! Let's set up your workspace.",
            "What is your name?",
        ]
        assert await turn(second, "alt-1", "Ada") == ["Which plan would you like: free or pro?"]
        assert await turn(first, "alt-1", "pro") == ["How many seats do you need?"]
        assert await turn(second, "alt-1", "3") == [
            "Preparing a pro workspace for Ada with 3 seats. Enjoy Greentic!"
        ]
        # Another user, starting on the other process: the tenant's state (written by the
        # first conversation's last turn on process 1) is seen from process 0.
        await turn(second, "alt-2", "hi")
        await turn(first, "alt-2", "Ada")
        await turn(second, "alt-2", "free")
        assert await turn(first, "alt-2", "1") == [
            "Your free workspace is ready, Ada. Welcome back!"
        ]
    after = [shared_cluster.total(i, "greentic_turns_total", tenant="onboarding") for i in (0, 1)]
    assert [a - b for a, b in zip(after, before, strict=True)] == [4, 4]


async def test_200_concurrent_conversations_spread_over_processes_all_complete(
    shared_cluster: Cluster,
) -> None:
    urls = shared_cluster.urls
    before = [shared_cluster.total(i, "greentic_turns_total", tenant="demo") for i in (0, 1)]
    gate = asyncio.Semaphore(CONCURRENCY)
    limits = httpx.Limits(max_connections=CONCURRENCY)

    async with httpx.AsyncClient(timeout=60, limits=limits) as http:

        async def conversation(n: int) -> tuple[list[str], list[str]]:
            # Turn 1 on one process, turn 2 on the other.
            async with gate:
                asked = await say(http, urls[n % 2], "demo", f"load-{n}", f"hi-{n}")
            async with gate:
                answered = await say(http, urls[(n + 1) % 2], "demo", f"load-{n}", f"N{n}")
            return asked, answered

        results = await asyncio.gather(*(conversation(n) for n in range(CONVERSATIONS)))
    for n, (asked, answered) in enumerate(results):
        assert asked == ["What is your name?"], (n, asked)
        assert answered == [f"Hello N{n}, you said hi-{n}"], (n, answered)
    after = [shared_cluster.total(i, "greentic_turns_total", tenant="demo") for i in (0, 1)]
    assert [a - b for a, b in zip(after, before, strict=True)] == [CONVERSATIONS] * 2


async def test_concurrent_turns_of_one_conversation_on_two_processes_are_serialized(
    shared_cluster: Cluster,
) -> None:
    """Serialized turns alternate resume / fresh start, so of 10 concurrent answers 5 resume
    and 5 start afresh, and every parked snapshot is resumed exactly once (see
    tests/test_turn_serialization.py); a snapshot resumed twice breaks both counts."""
    urls = shared_cluster.urls
    async with httpx.AsyncClient(timeout=60) as http:

        async def race(user: str) -> None:
            assert await say(http, urls[0], "demo", user, "hi") == ["What is your name?"]
            answers = [f"A{i}" for i in range(ANSWERS)]
            replies = await asyncio.gather(
                *(say(http, urls[i % 2], "demo", user, a) for i, a in enumerate(answers))
            )
            results = dict(zip(answers, replies, strict=True))
            resumed = [r[0].split("you said ")[1] for r in replies if r[0].startswith("Hello")]
            fresh = [a for a, r in results.items() if r == ["What is your name?"]]
            assert len(resumed) == len(fresh) == ANSWERS // 2, results
            final = await say(http, urls[1], "demo", user, "Zed")
            assert final[0].startswith("Hello Zed, you said "), final
            resumed.append(final[0].split("you said ")[1])
            assert sorted(resumed) == sorted(["hi", *fresh]), results

        # Several conversations race at once: more interleavings per run.
        await asyncio.gather(*(race(f"serial-{n}") for n in range(RACES)))
