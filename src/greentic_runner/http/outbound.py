"""What a turn's replies say, as channel-neutral messages (text, buttons, a simple card).

Channel adapters render these into each channel's format. The rules (also followed by the
browser chat page) read each reply payload:

* a string is a text message; a list is read item by item; ``null`` says nothing;
* a paused turn's ``{"status": "pending", ...}`` object contributes the messages of its
  ``response`` and marks the conversation as *waiting*;
* an object with ``messages: [...]`` is read message by message;
* an object with ``text`` is a message; its ``buttons`` (strings or objects with
  ``title``/``text``/``label`` and ``value``/``payload``/``id``) — or, failing those, its
  ``options`` (what ``qa.process`` choice questions send) — become buttons and its
  ``card`` (an object) becomes a card;
* an Adaptive Card (``{"type": "AdaptiveCard", ...}``, bare or as ``card``) becomes a card
  whose text is its TextBlocks and whose buttons are its ``Action.Submit`` actions;
* any other object is shown as its compact JSON.

Immediate repeats are folded: a flow that ends on an emit returns that payload twice (the
reference's ``finalize``), and a person should read it once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import field
from typing import Any

import orjson

from ..activity import Activity
from ..records import record
from ..replies import is_pending


@record
class Button:
    title: str
    value: str


@record
class Card:
    """A simple card; ``adaptive`` keeps the original Adaptive Card JSON when there was one."""

    title: str | None = None
    text: str | None = None
    image: str | None = None
    buttons: tuple[Button, ...] = ()
    adaptive: dict[str, Any] | None = None


@record
class OutMessage:
    text: str | None = None
    buttons: tuple[Button, ...] = ()
    card: Card | None = None

    @property
    def all_buttons(self) -> tuple[Button, ...]:
        return self.buttons + (self.card.buttons if self.card else ())

    def plain_text(self) -> str:
        """The message as one plain string (text, then the card's title and text)."""
        parts = [self.text] if self.text else []
        if self.card is not None:
            parts += [p for p in (self.card.title, self.card.text) if p]
        return "\n".join(parts)


@record
class Outbound:
    messages: list[OutMessage] = field(default_factory=list)
    waiting: bool = False


def outbound(replies: list[Activity]) -> Outbound:
    """The messages of a turn's replies, and whether the flow now waits for the user."""
    messages: list[OutMessage] = []
    waiting = False
    for reply in replies:
        payload = reply.payload
        if is_pending(payload):
            waiting = True
            payload = payload.get("response")  # what the paused turn said
        for message in payload_messages(payload):
            if not messages or messages[-1] != message:
                messages.append(message)
    return Outbound(messages, waiting)


def payload_messages(payload: Any) -> list[OutMessage]:
    """The messages one reply payload says (the rules in the module docstring)."""
    found: list[OutMessage] = []
    _collect(payload, found)
    return found


def _collect(payload: Any, found: list[OutMessage]) -> None:
    if payload is None:
        return
    if isinstance(payload, str):
        found.append(OutMessage(text=payload))
    elif isinstance(payload, list):
        for item in payload:
            _collect(item, found)
    elif is_pending(payload):
        _collect(payload.get("response"), found)
    elif isinstance(payload, dict):
        _collect_object(payload, found)
    else:
        found.append(OutMessage(text=_json_text(payload)))


def _json_text(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # e.g. an integer beyond 64 bits, which orjson refuses
        return json.dumps(value, separators=(",", ":"), default=str)


def _collect_object(payload: dict[str, Any], found: list[OutMessage]) -> None:
    messages = payload.get("messages")
    if isinstance(messages, list):
        _collect(messages, found)
        return
    if payload.get("type") == "AdaptiveCard":
        found.append(OutMessage(card=adaptive_card(payload)))
        return
    text = payload.get("text")
    card = payload.get("card")
    card = _card(card) if card is not None else None
    if isinstance(text, str) or card is not None:
        listed, options = payload.get("buttons"), payload.get("options")
        found_buttons = buttons(listed) if listed is not None else ()
        if not found_buttons and options is not None:
            found_buttons = buttons(options)
        found.append(OutMessage(text if isinstance(text, str) else None, found_buttons, card))
        return
    found.append(OutMessage(text=_json_text(payload)))


def buttons(value: Any) -> tuple[Button, ...]:
    if not isinstance(value, list):
        return ()
    found = []
    for item in value:
        if isinstance(item, str):
            found.append(Button(item, item))
        elif isinstance(item, dict):
            title = _first_str(item, "title", "text", "label")
            raw_value = _first_str(item, "value", "payload", "id")
            if title or raw_value:
                found.append(Button(title or raw_value or "", raw_value or title or ""))
    return tuple(found)


def _card(value: Any) -> Card | None:
    if not isinstance(value, dict):
        return None
    if value.get("type") == "AdaptiveCard":
        return adaptive_card(value)
    return Card(
        title=_first_str(value, "title"),
        text=_first_str(value, "text", "subtitle"),
        image=_first_str(value, "image", "image_url"),
        buttons=buttons(value.get("buttons")),
    )


def adaptive_card(card: dict[str, Any]) -> Card:
    """Texts of the TextBlocks (first one is the title) and the Action.Submit buttons."""
    texts = [
        str(item["text"])
        for item in _walk_elements(card.get("body"))
        if item.get("type") == "TextBlock" and item.get("text") is not None
    ]
    image = next(
        (
            str(item["url"])
            for item in _walk_elements(card.get("body"))
            if item.get("type") == "Image" and item.get("url")
        ),
        None,
    )
    actions = []
    raw_actions = card.get("actions")
    for action in raw_actions if isinstance(raw_actions, list) else []:
        if isinstance(action, dict) and action.get("type") in ("Action.Submit", "Action.Execute"):
            title = str(action.get("title") or "")
            data = action.get("data")
            value = data if isinstance(data, str) else title
            if isinstance(data, dict):
                value = _first_str(data, "value", "text", "payload") or title
            actions.append(Button(title or value, value))
    return Card(
        title=texts[0] if texts else None,
        text="\n".join(texts[1:]) or None,
        image=image,
        buttons=tuple(actions),
        adaptive=card,
    )


def _walk_elements(items: Any) -> Iterator[dict[str, Any]]:
    """Card elements depth-first, through containers and column sets."""
    if not isinstance(items, list):
        return
    for item in items:
        if not isinstance(item, dict):
            continue
        yield item
        yield from _walk_elements(item.get("items"))
        columns = item.get("columns")
        for column in columns if isinstance(columns, list) else []:
            if isinstance(column, dict):
                yield from _walk_elements(column.get("items"))


def _first_str(value: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        item = value.get(key)
        if isinstance(item, str) and item:
            return item
    return None
