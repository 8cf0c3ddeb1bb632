"""The peer's benchmark process: ``.bench/bin/python -m bench.peer.worker JOB [PARAMS]``.

Jobs mirror greentic-runner's: ``peer-echo``, ``peer-ask-name`` (turns/s, replies checked
after every round) and ``mem-peer`` (bytes held per conversation waiting in the prompt).
"""

from __future__ import annotations

import logging
from typing import Any

from botbuilder.core.adapters import TestAdapter

from .. import scripts
from ..common import expect, retained_per_item, summary, timed_rounds, worker_main
from .bots import AskNameBot, EchoBot, adapter_for, drain, message


def _rounds(params: dict[str, Any]) -> dict[str, Any]:
    return {
        "warmup": int(params.get("warmup", 1)),
        "rounds": int(params.get("rounds", 5)),
        "profile": params.get("profile"),
    }


async def echo_round(adapter: TestAdapter, people: list[tuple[str, str]]) -> int:
    """One echo turn per conversation; the replies checked."""
    texts = [scripts.echo_text(i) for i in range(len(people))]
    for (user, conv), text in zip(people, texts, strict=True):
        await adapter.receive_activity(message(user, conv, text))
    expect(drain(adapter), [scripts.echo_reply(i) for i in range(len(people))], "echo")
    return len(people)


async def peer_echo(params: dict[str, Any]) -> dict[str, Any]:
    adapter = adapter_for(EchoBot())
    people = scripts.participants(int(params.get("conversations", 1000)))
    rates = await timed_rounds(lambda: echo_round(adapter, people), **_rounds(params))
    return {"turns_per_s": summary(rates), "conversations": len(people)}


async def ask_round(adapter: TestAdapter, people: list[tuple[str, str]]) -> int:
    """Both ask-name turns of every conversation; the replies checked."""
    for user, conv in people:
        await adapter.receive_activity(message(user, conv, scripts.ASK_FIRST))
    asked = drain(adapter)
    for user, conv in people:
        await adapter.receive_activity(message(user, conv, scripts.ASK_ANSWER))
    answered = drain(adapter)
    expect(asked, [scripts.ASK_PROMPT] * len(people), "ask-name turn 1 replies")
    expect(answered, [scripts.greeting()] * len(people), "ask-name turn 2 replies")
    return 2 * len(people)


async def peer_ask_name(params: dict[str, Any]) -> dict[str, Any]:
    adapter = adapter_for(AskNameBot())
    people = scripts.participants(int(params.get("conversations", 1000)))
    rates = await timed_rounds(lambda: ask_round(adapter, people), **_rounds(params))
    return {"turns_per_s": summary(rates), "conversations": len(people)}


async def peer_memory(params: dict[str, Any]) -> dict[str, Any]:
    count = int(params.get("conversations", 1000))
    bot = AskNameBot()
    adapter = adapter_for(bot)
    people = scripts.participants(count)
    for user, conv in scripts.participants(50):  # warm caches outside the count
        await adapter.receive_activity(message(user + "-w", conv + "-w", scripts.ASK_FIRST))
        await adapter.receive_activity(message(user + "-w", conv + "-w", scripts.ASK_ANSWER))
    drain(adapter)

    async def park(n: int) -> None:
        for index, (user, conv) in enumerate(people[:n]):
            await adapter.receive_activity(message(user, conv, scripts.ASK_FIRST))
            expect(drain(adapter), [scripts.ASK_PROMPT], f"parking conversation {index}")

    memory = await retained_per_item(park, count)
    for user, conv in people:
        await adapter.receive_activity(message(user, conv, scripts.ASK_ANSWER))
    expect(drain(adapter), [scripts.greeting()] * count, "parked conversations")
    return {"memory": memory, "conversations": count}


JOBS = {"peer-echo": peer_echo, "peer-ask-name": peer_ask_name, "mem-peer": peer_memory}

if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)
    raise SystemExit(worker_main(JOBS))
