"""The hand-written floor: what the two turn scenarios cost with nothing but a dict of
serialized conversation state and ``str.format``.

It does the observable work of a turn (find the conversation's state, decide, reply,
store the state serialized or drop it) and nothing else: no routing, no envelope, no flow
walk, no locks. greentic-runner's figure divided by this one is its overhead.
"""

from __future__ import annotations

from typing import Any

import orjson

from .. import scripts
from ..common import expect, retained_per_item, summary, timed_rounds


class FloorBot:
    """One process-wide dict: conversation id -> serialized state (JSON text).

    Text, not orjson's bytes: orjson does not shrink its output buffer, so each retained
    ``bytes`` would hold about 4 KB whatever its length."""

    def __init__(self) -> None:
        self.states: dict[str, str] = {}

    async def echo(self, user: str, conversation: str, text: str) -> list[str]:
        key = f"{user}:{conversation}"
        if self.states.get(key) is not None:  # the same lookup a real turn makes
            del self.states[key]
        return [scripts.ECHO_REPLY.format(text)]

    async def ask_name(self, user: str, conversation: str, text: str) -> list[str]:
        key = f"{user}:{conversation}"
        raw = self.states.get(key)
        if raw is None:
            self.states[key] = orjson.dumps({"step": "ask", "first": text}).decode()
            return [scripts.ASK_PROMPT]
        state = orjson.loads(raw)
        del self.states[key]
        return [scripts.ASK_GREETING.format(name=text, first=state["first"])]


async def echo_round(bot: FloorBot, people: list[tuple[str, str]]) -> int:
    texts = [scripts.echo_text(i) for i in range(len(people))]
    replies = [
        await bot.echo(user, conv, text) for (user, conv), text in zip(people, texts, strict=True)
    ]
    for index, reply in enumerate(replies):
        expect(reply, [scripts.echo_reply(index)], f"floor echo reply {index}")
    return len(people)


async def ask_round(bot: FloorBot, people: list[tuple[str, str]]) -> int:
    asked = [await bot.ask_name(user, conv, scripts.ASK_FIRST) for user, conv in people]
    answered = [await bot.ask_name(user, conv, scripts.ASK_ANSWER) for user, conv in people]
    for index, reply in enumerate(asked):
        expect(reply, [scripts.ASK_PROMPT], f"floor ask-name turn 1 of {index}")
    for index, reply in enumerate(answered):
        expect(reply, [scripts.greeting()], f"floor ask-name turn 2 of {index}")
    return 2 * len(people)


def _rounds(params: dict[str, Any]) -> dict[str, Any]:
    return {"warmup": int(params.get("warmup", 1)), "rounds": int(params.get("rounds", 5))}


async def floor_echo(params: dict[str, Any]) -> dict[str, Any]:
    bot, people = FloorBot(), scripts.participants(int(params.get("conversations", 1000)))
    rates = await timed_rounds(lambda: echo_round(bot, people), **_rounds(params))
    return {"turns_per_s": summary(rates), "conversations": len(people)}


async def floor_ask_name(params: dict[str, Any]) -> dict[str, Any]:
    bot, people = FloorBot(), scripts.participants(int(params.get("conversations", 1000)))
    rates = await timed_rounds(lambda: ask_round(bot, people), **_rounds(params))
    return {"turns_per_s": summary(rates), "conversations": len(people)}


async def floor_memory(params: dict[str, Any]) -> dict[str, Any]:
    count = int(params.get("conversations", 1000))
    bot, people = FloorBot(), scripts.participants(count)

    async def park(n: int) -> None:
        for user, conv in people[:n]:
            expect(await bot.ask_name(user, conv, scripts.ASK_FIRST), [scripts.ASK_PROMPT], "park")

    memory = await retained_per_item(park, count)
    return {"memory": memory, "conversations": count}


JOBS = {
    "floor-echo": floor_echo,
    "floor-ask-name": floor_ask_name,
    "mem-floor": floor_memory,
}
