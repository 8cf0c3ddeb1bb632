"""Bot Framework activities: the shared format of WebChat/Direct Line and Microsoft Teams.

Inbound ``message`` activities run a turn (other types — conversationUpdate, typing… — are
acked with no turn). A card submit (``value`` without ``text``) uses the value's ``text`` /
``value`` field, else its JSON, as the text. Teams ``<at>…</at>`` mention markup is removed
from the text and listed as mentions.

The response is the ExpectedReplies shape ``{"activities": [...]}`` of bot ``message``
activities: ``text``, ``suggestedActions`` (imBack buttons), attachments for cards (hero card,
or the original Adaptive Card), and ``inputHint`` ``expectingInput`` on the last one while
the flow waits for the user (``acceptingInput`` otherwise).
"""

from __future__ import annotations

import re
from itertools import repeat
from typing import Any

import orjson
from starlette.responses import Response

from ..errors import HttpError, JSONResponse
from ..outbound import Card, Outbound, OutMessage
from .canonical import ChannelMessage, ProviderIds, attachment, attachment_kind, normalized_rfc3339
from .common import Inbound

_AT = re.compile(r"<at>(.*?)</at>", re.IGNORECASE | re.DOTALL)
ADAPTIVE = "application/vnd.microsoft.card.adaptive"
HERO = "application/vnd.microsoft.card.hero"


def _str(value: Any) -> str | None:
    return value if value and isinstance(value, str) else None


def _submit_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        for key in ("text", "value", "action"):
            if isinstance(value.get(key), str):
                return str(value[key])
        return orjson.dumps(value).decode()
    return None


def _attachments(activity: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for item in activity.get("attachments") or []:
        if not isinstance(item, dict):
            continue
        mime = _str(item.get("contentType"))
        content = item.get("content")
        found.append(
            attachment(
                attachment_kind(mime),
                name=_str(item.get("name")),
                mime=mime,
                size=item.get("size") if isinstance(item.get("size"), int) else None,
                url=_str(item.get("contentUrl")),
                data_inline_b64=content if isinstance(content, str) else None,
            )
        )
    return found


_NO_OBJECT: dict[str, Any] = {}


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else _NO_OBJECT  # read-only


def map_activity(
    inb: Inbound, activity: dict[str, Any], *, thread_from_reply: bool
) -> ChannelMessage | None:
    """The activity as a ChannelMessage, or None when it is not a message.

    ``thread_from_reply``: Teams anchors sessions on ``replyToId`` first (spec §9.4)."""
    kind = activity.get("type", "message")
    if kind != "message":
        return None
    get = activity.get
    user = _str(_object(get("from")).get("id"))
    if user is None:
        raise HttpError(400, "bad_request", f"{inb.channel} activity has no `from.id`")
    text = _str(get("text"))
    mentions = []
    if text is not None:
        if "<" in text:  # Teams mention markup
            mentions = [m.strip() for m in _AT.findall(text)]
            text = _AT.sub("", text)
        text = text.strip() or None
    value = get("value")
    if text is None and value is not None:
        text = _submit_text(value)
    channel_data = _object(get("channelData"))
    conversation = _object(get("conversation"))
    conversation_id = _str(conversation.get("id"))
    channel = None
    team = None
    if channel_data:
        channel = _str(_object(channel_data.get("channel")).get("id"))
        team = _str(_object(channel_data.get("team")).get("id"))
    reply_to = _str(get("replyToId")) if thread_from_reply else None
    activity_id = _str(get("id"))
    ids = ProviderIds(
        team,
        _str(conversation.get("tenantId")),
        conversation_id,
        reply_to,
        channel,
        user,
        activity_id,
        activity_id,
    )
    timestamp = get("timestamp")
    # Positional (the field order of ChannelMessage): a dataclass __init__ called with
    # keywords costs twice as much, and every WebChat and Teams message comes here.
    return ChannelMessage(
        inb.tenant,
        inb.channel,
        ids,
        (timestamp and normalized_rfc3339(_str(timestamp))) or inb.now(),
        text,
        activity,
        reply_to or conversation_id or channel,  # channel
        _str(get("locale")),
        _attachments(activity) if "attachments" in activity else [],
        [],  # buttons
        mentions,
        inb.metadata(),
        {  # channel_data
            "type": kind,
            "channel_id": get("channelId"),
            "service_url": get("serviceUrl"),
            "channel_data": channel_data or {},  # never the shared empty one
            "value": value,
        },
    )


def _card_attachment(card: Card) -> dict[str, Any]:
    if card.adaptive is not None:
        return {"contentType": ADAPTIVE, "content": card.adaptive}
    content: dict[str, Any] = {}
    if card.title:
        content["title"] = card.title
    if card.text:
        content["text"] = card.text
    if card.image:
        content["images"] = [{"url": card.image}]
    if card.buttons:
        content["buttons"] = [
            {"type": "imBack", "title": b.title, "value": b.value} for b in card.buttons
        ]
    return {"contentType": HERO, "content": content}


def _bot_activity(inbound_activity: dict[str, Any], message: OutMessage) -> dict[str, Any]:
    reply: dict[str, Any] = {
        "type": "message",
        "from": inbound_activity.get("recipient") or {"id": "bot", "role": "bot"},
        "recipient": inbound_activity.get("from"),
        "conversation": inbound_activity.get("conversation"),
        "textFormat": "plain",
    }
    if inbound_activity.get("id"):
        reply["replyToId"] = inbound_activity["id"]
    if message.text:
        reply["text"] = message.text
    if message.card is not None:
        reply["attachments"] = [_card_attachment(message.card)]
    if message.buttons:
        reply["suggestedActions"] = {
            "actions": [
                {"type": "imBack", "title": b.title, "value": b.value} for b in message.buttons
            ]
        }
    return reply


def render(inbound_activity: dict[str, Any], out: Outbound) -> dict[str, Any]:
    replies = list(map(_bot_activity, repeat(inbound_activity), out.messages))
    for reply in replies:
        reply["inputHint"] = "acceptingInput"
    if replies and out.waiting:
        replies[-1]["inputHint"] = "expectingInput"
    return {"activities": replies}


async def handle(inb: Inbound, *, thread_from_reply: bool) -> Response:
    activity = inb.json()
    if not isinstance(activity, dict):
        raise HttpError(400, "bad_request", f"{inb.channel} activity must be a JSON object")
    message = map_activity(inb, activity, thread_from_reply=thread_from_reply)
    if message is None:
        return JSONResponse({"activities": []})
    ready = message

    async def run() -> Response:
        return JSONResponse(render(activity, await inb.converse(ready)))

    return await inb.once(ready.ids.message_id, run)
