"""Reading reply activities as plain text, for terminals and simple channels."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from .activity import Activity


def is_pending(payload: Any) -> bool:
    """True for the payload of a paused turn (``{"status": "pending", ...}``)."""
    return isinstance(payload, dict) and payload.get("status") == "pending" and "resume" in payload


def payload_texts(payload: Any) -> Iterator[str]:
    """The human-readable messages inside a reply payload, in order."""
    if payload is None:
        return
    if isinstance(payload, str):
        yield payload
    elif isinstance(payload, list):
        for item in payload:
            yield from payload_texts(item)
    elif is_pending(payload):
        yield from payload_texts(payload.get("response"))
    elif isinstance(payload, dict):
        yield from _dict_texts(payload)
    else:
        yield orjson.dumps(payload).decode()


def _dict_texts(payload: dict[str, Any]) -> Iterator[str]:
    messages = payload.get("messages")
    if isinstance(messages, list):
        yield from payload_texts(messages)
    elif isinstance(payload.get("text"), str):
        yield payload["text"]
    else:
        yield orjson.dumps(payload).decode()


def reply_texts(replies: list[Activity]) -> list[str]:
    """Every message of the replies, with immediate repeats folded.

    A flow that ends on an emit returns the emitted payload twice (egress, then the final
    payload — the reference's ``finalize``); a person should read it once.
    """
    texts: list[str] = []
    for reply in replies:
        for text in payload_texts(reply.payload):
            if not texts or texts[-1] != text:
                texts.append(text)
    return texts


def is_waiting(replies: list[Activity]) -> bool:
    return any(is_pending(reply.payload) for reply in replies)
