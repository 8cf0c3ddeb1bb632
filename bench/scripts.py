"""The conversations every side of a turn scenario holds, and the replies it must give.

Standard library only (the peer imports it too), so greentic-runner, the floor, the raw
store baselines and the Bot Framework peer are checked against the same strings.
"""

from __future__ import annotations

ECHO_REPLY = "You said: {}"
ASK_FIRST = "hi"
ASK_PROMPT = "What is your name?"
ASK_ANSWER = "Ada"
ASK_GREETING = "Hello {name}, you said {first}"


def echo_text(index: int) -> str:
    """Each echo conversation says something different, so mixed-up replies are caught."""
    return f"hi #{index}"


def echo_reply(index: int) -> str:
    return ECHO_REPLY.format(echo_text(index))


def greeting() -> str:
    return ASK_GREETING.format(name=ASK_ANSWER, first=ASK_FIRST)


def participants(count: int) -> list[tuple[str, str]]:
    """``(user_id, conversation_id)`` of ``count`` distinct conversations."""
    return [(f"user-{i}", f"conv-{i}") for i in range(count)]
