"""Telegram Bot API webhook: ``POST /messaging/telegram/webhook``.

* ``X-Telegram-Bot-Api-Secret-Token`` must equal ``TELEGRAM_WEBHOOK_SECRET`` when set (401).
* Updates are deduped by ``update_id``. ``message`` (text or caption) and ``callback_query``
  (an inline-keyboard press: its ``data`` is the text) run a turn; other updates are acked.
* Session anchor ``chat.id``, user ``from.id``: ``{tenant}:telegram:{chat}:{user}``.
* The reply is a Bot API call in the webhook response (Telegram executes it):
  ``{"method": "sendMessage", "chat_id", "text", "reply_markup": {"inline_keyboard"}}`` with
  all of the turn's messages joined, buttons as one keyboard row each.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..errors import HttpError, JSONResponse
from ..outbound import Outbound
from .canonical import ChannelMessage, ProviderIds, attachment, button, unix_rfc3339
from .common import Inbound, inbound
from .signatures import verify_telegram

TEXT_LIMIT = 4096


def _utf16_slice(text: str, offset: int, length: int) -> str:
    """Telegram entity offsets count UTF-16 code units."""
    encoded = text.encode("utf-16-le")
    return encoded[offset * 2 : (offset + length) * 2].decode("utf-16-le", errors="replace")


def _mentions(text: str, entities: Any) -> list[str]:
    found = []
    for entity in entities if isinstance(entities, list) else []:
        if not isinstance(entity, dict):
            continue
        if entity.get("type") == "mention":
            found.append(_utf16_slice(text, int(entity["offset"]), int(entity["length"])))
        elif entity.get("type") == "text_mention" and isinstance(entity.get("user"), dict):
            found.append(str(entity["user"].get("id")))
    return found


def _attachments(message: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    photos = message.get("photo")
    if isinstance(photos, list) and photos:
        largest = photos[-1]
        found.append(
            attachment("image", name=largest.get("file_id"), size=largest.get("file_size"))
        )
    for kind, key in (("file", "document"), ("audio", "audio"), ("video", "video")):
        item = message.get(key)
        if isinstance(item, dict):
            found.append(
                attachment(
                    kind,
                    name=item.get("file_name") or item.get("file_id"),
                    mime=item.get("mime_type"),
                    size=item.get("file_size"),
                )
            )
    return found


def _message(inb: Inbound, update: dict[str, Any]) -> ChannelMessage | None:
    """The update as a ChannelMessage; None for updates that carry nothing to say."""
    update_id = str(update["update_id"])
    buttons: list[dict[str, str]] = []
    callback = update.get("callback_query")
    if isinstance(callback, dict) and isinstance(callback.get("message") or {}, dict):
        message: dict[str, Any] = callback.get("message") or {}
        sender = callback.get("from") or {}
        text = callback.get("data")
        if isinstance(text, str):
            buttons.append(button(str(callback.get("id", "")), text, text))
        kind = "callback_query"
    elif isinstance(update.get("message"), dict):
        message = update["message"]
        sender = message.get("from") or {}
        text = message.get("text") if "text" in message else message.get("caption")
        kind = "message"
    else:
        return None
    chat = message.get("chat") if isinstance(message.get("chat"), dict) else None
    if chat is None or "id" not in chat:
        chat = {"id": sender.get("id")} if sender.get("id") is not None else None
    if chat is None:
        raise HttpError(400, "bad_request", f"telegram update {update_id} names no chat")
    attachments = _attachments(message) if kind == "message" else []
    if not isinstance(text, str) or not text.strip():
        text = None
    if text is None and not attachments:
        return None
    chat_id = str(chat["id"])
    user_id = str(sender["id"]) if sender.get("id") is not None else None
    ids = ProviderIds(
        conversation_id=chat_id,
        channel_id=chat_id,
        user_id=user_id,
        message_id=str(message["message_id"]) if "message_id" in message else None,
        event_id=update_id,
    )
    date = message.get("date")
    return ChannelMessage(
        tenant=inb.tenant,
        provider="telegram",
        ids=ids,
        timestamp=unix_rfc3339(date) if isinstance(date, int) and kind == "message" else inb.now(),
        text=text,
        raw=update,
        channel=chat_id,
        locale=sender.get("language_code"),
        attachments=attachments,
        buttons=buttons,
        mentions=_mentions(text or "", message.get("entities") or message.get("caption_entities")),
        metadata=inb.metadata(),
        channel_data={"chat_id": chat["id"], "chat_type": chat.get("type"), "update_type": kind},
    )


def render(chat_id: Any, out: Outbound) -> dict[str, Any]:
    """One ``sendMessage`` webhook reply with every message, or ``{}`` when there is none."""
    texts = [text for m in out.messages if (text := m.plain_text())]
    buttons = [b for m in out.messages for b in m.all_buttons]
    if not texts and not buttons:
        return {}
    text = "\n\n".join(texts) or "…"
    if len(text) > TEXT_LIMIT:
        text = text[: TEXT_LIMIT - 1] + "…"
    reply: dict[str, Any] = {"method": "sendMessage", "chat_id": chat_id, "text": text}
    if buttons:
        reply["reply_markup"] = {
            "inline_keyboard": [
                [{"text": b.title, "callback_data": b.value.encode()[:64].decode(errors="ignore")}]
                for b in buttons
            ]
        }
    return reply


async def webhook(request: Request) -> Response:
    inb = await inbound(request, "telegram")
    secret = inb.ctx.settings.secrets.telegram_secret_token
    if secret is not None:
        inb.verify(lambda: verify_telegram(request.headers, secret))
    update = inb.json()
    if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
        raise HttpError(400, "bad_request", "telegram update needs an integer `update_id`")

    async def run() -> Response:
        message = _message(inb, update)
        if message is None:
            return JSONResponse({})
        out = await inb.converse(message)
        return JSONResponse(render(message.channel_data["chat_id"], out))

    return await inb.once(str(update["update_id"]), run)
