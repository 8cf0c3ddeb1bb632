"""Webex: ``POST /webex/webhook`` (``messages`` and ``attachmentActions`` webhooks).

* ``X-Spark-Signature`` (HMAC-SHA1 of the raw body) is required when ``WEBEX_WEBHOOK_SECRET``
  is set (401 otherwise, before anything runs).
* Deduped by ``data.id``. Messages sent by bots (``personEmail`` ending ``@webex.bot``,
  which includes this bot's own posts) are acked, never run.
* Webex webhooks carry ids, not the message text: the turn sees ``data.text`` (or
  ``data.markdown``) when a relay added it, else ``text: null`` — the runner makes no
  outbound calls to fetch it. A card submit's ``data.inputs`` gives the text.
* Session anchor ``parentId`` (thread), else ``roomId``; user ``personId`` (else email).
* Response: ``{"messages": [Webex /messages request bodies]}`` (``roomId``, ``parentId``,
  ``markdown``, an Adaptive Card attachment for cards and buttons).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..errors import HttpError, JSONResponse
from ..outbound import Outbound, OutMessage
from .botframework import ADAPTIVE
from .canonical import ChannelMessage, ProviderIds, attachment, normalized_rfc3339
from .common import Inbound, inbound
from .signatures import verify_webex


def _text(data: dict[str, Any]) -> str | None:
    for key in ("text", "markdown"):
        if isinstance(data.get(key), str) and data[key]:
            return str(data[key])
    inputs = data.get("inputs")
    if isinstance(inputs, dict):
        for key in ("value", "text", "action"):
            if isinstance(inputs.get(key), str):
                return str(inputs[key])
    return None


def _message(inb: Inbound, payload: dict[str, Any], data: dict[str, Any]) -> ChannelMessage:
    room = data.get("roomId")
    if not isinstance(room, str):
        raise HttpError(400, "bad_request", "webex webhook data has no `roomId`")
    user = data.get("personId") or data.get("personEmail")
    ids = ProviderIds(
        workspace_id=payload.get("orgId"),
        conversation_id=room,
        thread_id=data.get("parentId"),
        user_id=user if isinstance(user, str) else None,
        message_id=str(data.get("id")),
        event_id=payload.get("id"),
    )
    files: list[Any] = data["files"] if isinstance(data.get("files"), list) else []
    return ChannelMessage(
        tenant=inb.tenant,
        provider="webex",
        ids=ids,
        timestamp=normalized_rfc3339(data.get("created") or payload.get("created")) or inb.now(),
        text=_text(data),
        raw=payload,
        channel=room,
        attachments=[attachment("file", url=str(url)) for url in files],
        metadata=inb.metadata(),
        channel_data={
            "resource": payload.get("resource"),
            "event": payload.get("event"),
            "roomType": data.get("roomType"),
            "inputs": data.get("inputs"),
        },
    )


def _card(message: OutMessage) -> dict[str, Any] | None:
    if message.card is not None and message.card.adaptive is not None:
        return message.card.adaptive
    if not message.all_buttons and message.card is None:
        return None
    body = [{"type": "TextBlock", "text": message.plain_text(), "wrap": True}]
    if message.card is not None and message.card.image:
        body.append({"type": "Image", "url": message.card.image})
    return {
        "type": "AdaptiveCard",
        "version": "1.3",
        "body": body,
        "actions": [
            {"type": "Action.Submit", "title": b.title, "data": {"value": b.value}}
            for b in message.all_buttons
        ],
    }


def render(room: str, parent: str | None, out: Outbound) -> list[dict[str, Any]]:
    bodies = []
    for message in out.messages:
        body: dict[str, Any] = {"roomId": room, "markdown": message.plain_text() or " "}
        if parent:
            body["parentId"] = parent
        card = _card(message)
        if card is not None:
            body["attachments"] = [{"contentType": ADAPTIVE, "content": card}]
        bodies.append(body)
    return bodies


async def webhook(request: Request) -> Response:
    inb = await inbound(request, "webex")
    secret = inb.ctx.settings.secrets.webex_webhook_secret
    if secret is not None:
        inb.verify(lambda: verify_webex(request.headers, inb.body, secret))
    payload = inb.json()
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
        raise HttpError(400, "bad_request", "webex webhook needs a `data` object")
    data = payload["data"]
    if str(data.get("personEmail", "")).endswith("@webex.bot"):
        return JSONResponse({"messages": []})
    if not isinstance(data.get("id"), str):
        raise HttpError(400, "bad_request", "webex webhook data has no `id`")
    message = _message(inb, payload, data)

    async def run() -> Response:
        out = await inb.converse(message)
        room = str(message.ids.conversation_id)
        return JSONResponse({"messages": render(room, message.ids.thread_id, out)})

    return await inb.once(message.ids.message_id, run)
