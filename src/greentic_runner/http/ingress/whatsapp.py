"""WhatsApp Cloud API: ``GET /whatsapp/webhook`` (subscription check) and ``POST`` (messages).

* GET answers ``hub.challenge`` (text/plain) when ``hub.mode=subscribe`` and
  ``hub.verify_token`` equals ``WHATSAPP_VERIFY_TOKEN``; anything else is 403.
* POST needs ``X-Hub-Signature-256`` (HMAC-SHA256 of the raw body with
  ``WHATSAPP_APP_SECRET``) when that secret is set (401 otherwise, before anything runs).
* Every message in ``entry[].changes[].value.messages[]`` runs a turn, deduped by its ``id``;
  status-only callbacks are acked. Text is ``text.body``, a media caption, the id of an
  interactive ``button_reply``/``list_reply`` (the runner sets ids to button values, so a
  press reads the same on every channel) or a template button's ``payload``.
* Session anchor and user: the sender's ``from`` (wa_id).
* Response: ``{"messages": [Cloud API /messages request bodies]}`` — text, ``interactive``
  reply buttons (≤ 3) or a list (≤ 10 rows), image links for card images.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from ..context import context
from ..errors import HttpError, JSONResponse, error_response
from ..outbound import Outbound
from .canonical import ChannelMessage, ProviderIds, attachment, button, unix_rfc3339
from .common import Inbound, inbound
from .signatures import verify_hub_signature

MAX_REPLY_BUTTONS = 3
MAX_LIST_ROWS = 10


async def verify(request: Request) -> Response:
    expected = context(request).settings.secrets.whatsapp_verify_token
    params = request.query_params
    challenge = params.get("hub.challenge")
    if (
        expected is not None
        and params.get("hub.mode") == "subscribe"
        and params.get("hub.verify_token") == expected
        and challenge is not None
    ):
        return PlainTextResponse(challenge)
    return error_response(403, "forbidden", "whatsapp verify token mismatch or not configured")


def _content(
    message: dict[str, Any],
) -> tuple[str | None, list[dict[str, Any]], list[dict[str, str]]]:
    kind = message.get("type")
    text: str | None = None
    attachments: list[dict[str, Any]] = []
    buttons: list[dict[str, str]] = []
    if kind == "text":
        text = (message.get("text") or {}).get("body")
    elif kind in ("image", "audio", "video", "document", "sticker"):
        media = message.get(kind) or {}
        text = media.get("caption")
        attachments.append(
            attachment(
                "file" if kind in ("document", "sticker") else str(kind),
                name=media.get("filename") or media.get("id"),
                mime=media.get("mime_type"),
                url=media.get("link"),
            )
        )
    elif kind == "interactive":
        interactive = message.get("interactive") or {}
        reply = interactive.get("button_reply") or interactive.get("list_reply")
        if isinstance(reply, dict) and reply.get("id") is not None:
            buttons.append(button(str(reply["id"]), str(reply.get("title", "")), str(reply["id"])))
            text = str(reply["id"])
    elif kind == "button":
        pressed = message.get("button") or {}
        payload = pressed.get("payload") or pressed.get("text")
        if isinstance(payload, str):
            buttons.append(button(payload, str(pressed.get("text", payload)), payload))
            text = payload
    elif kind == "location":
        location = message.get("location") or {}
        text = location.get("name") or location.get("address") or "location"
    return (text if isinstance(text, str) and text else None), attachments, buttons


def _message(
    inb: Inbound, value: dict[str, Any], message: dict[str, Any], raw: Any
) -> ChannelMessage:
    sender = message.get("from")
    if not isinstance(sender, str) or not sender:
        raise HttpError(400, "bad_request", "whatsapp message has no `from`")
    text, attachments, buttons = _content(message)
    contacts = value.get("contacts") or [{}]
    profile = contacts[0].get("profile", {}) if isinstance(contacts[0], dict) else {}
    stamp = message.get("timestamp")
    ids = ProviderIds(
        workspace_id=(value.get("metadata") or {}).get("phone_number_id"),
        conversation_id=sender,
        user_id=sender,
        message_id=str(message.get("id")),
    )
    return ChannelMessage(
        tenant=inb.tenant,
        provider="whatsapp",
        ids=ids,
        timestamp=unix_rfc3339(int(stamp))
        if isinstance(stamp, str) and stamp.isdigit()
        else inb.now(),
        text=text,
        raw=raw,
        channel=sender,
        attachments=attachments,
        buttons=buttons,
        metadata=inb.metadata(),
        channel_data={"type": message.get("type"), "profile_name": profile.get("name")},
    )


def render(to: str, out: Outbound) -> list[dict[str, Any]]:
    base = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to}
    bodies: list[dict[str, Any]] = []
    for message in out.messages:
        text = message.plain_text() or " "
        if message.card is not None and message.card.image:
            bodies.append({**base, "type": "image", "image": {"link": message.card.image}})
        choices = message.all_buttons
        if not choices:
            bodies.append({**base, "type": "text", "text": {"preview_url": False, "body": text}})
        elif len(choices) <= MAX_REPLY_BUTTONS:
            action: dict[str, Any] = {
                "buttons": [
                    {"type": "reply", "reply": {"id": b.value[:256], "title": b.title[:20]}}
                    for b in choices
                ]
            }
            interactive = {"type": "button", "body": {"text": text[:1024]}, "action": action}
            bodies.append({**base, "type": "interactive", "interactive": interactive})
        else:
            rows: list[dict[str, Any]] = [
                {"id": b.value[:200], "title": b.title[:24]} for b in choices[:MAX_LIST_ROWS]
            ]
            action = {"button": "Choose", "sections": [{"title": "Options", "rows": rows}]}
            interactive = {"type": "list", "body": {"text": text[:4096]}, "action": action}
            bodies.append({**base, "type": "interactive", "interactive": interactive})
    return bodies


async def webhook(request: Request) -> Response:
    inb = await inbound(request, "whatsapp")
    secret = inb.ctx.settings.secrets.whatsapp_app_secret
    if secret is not None:
        inb.verify(lambda: verify_hub_signature(request.headers, inb.body, secret))
    payload = inb.json()
    if not isinstance(payload, dict) or not isinstance(payload.get("entry"), list):
        raise HttpError(400, "bad_request", "whatsapp payload needs an `entry` list")
    found = [
        (change["value"], message)
        for entry in payload["entry"]
        if isinstance(entry, dict)
        for change in entry.get("changes") or []
        if isinstance(change, dict) and isinstance(change.get("value"), dict)
        for message in change["value"].get("messages") or []
        if isinstance(message, dict)
    ]
    replies: list[dict[str, Any]] = []
    for value, message in found:
        mapped = _message(inb, value, message, payload)

        async def run(mapped: ChannelMessage = mapped) -> Response:
            out = await inb.converse(mapped)
            return JSONResponse({"messages": render(str(mapped.ids.user_id), out)})

        response = await inb.once(mapped.ids.message_id, run)
        replies.extend(orjson.loads(bytes(response.body)).get("messages", []))
    return JSONResponse({"messages": replies})
