"""Slack: ``POST /slack/events`` (Events API) and ``POST /slack/interactive`` (block actions).

* With ``SLACK_SIGNING_SECRET`` set, every request needs a valid v0 signature over the raw
  body and a timestamp within five minutes (401 otherwise, before anything runs).
* ``url_verification`` echoes ``{"challenge"}``. ``event_callback`` message / app_mention
  events run a turn, deduped by ``event_id`` (Slack's retries, ``X-Slack-Retry-Num``, are
  answered without running again); messages from bots and edits are acked, never run.
* Interactive ``block_actions``: the pressed button's value is the turn's text; deduped by
  ``trigger_id``. The form body ``payload=<json>`` is verified as sent (raw bytes).
* Session anchor: ``thread_ts``, else the channel; user ``user``.
* Response: ``{"messages": [chat.postMessage bodies]}`` (``channel``, ``thread_ts``, ``text``,
  ``blocks`` with a section per text and an actions block for buttons). Slack ignores the
  body of an Events API ack, so a relay posts these; the runner makes no outbound calls.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response

from ..errors import HttpError, JSONResponse
from ..limits import parse_json
from ..outbound import Outbound
from .canonical import (
    ChannelMessage,
    ProviderIds,
    attachment,
    attachment_kind,
    button,
    unix_rfc3339,
)
from .common import Inbound, inbound
from .signatures import verify_slack

_MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")
_RUN_EVENTS = frozenset({"message", "app_mention"})


def _verify(inb: Inbound) -> None:
    secret = inb.ctx.settings.secrets.slack_signing_secret
    if secret is not None:
        now = inb.ctx.clock.now()
        inb.verify(lambda: verify_slack(inb.request.headers, inb.body, secret, now))


def _ts_time(inb: Inbound, ts: Any, fallback: Any = None) -> Any:
    if isinstance(ts, str) and ts.split(".", 1)[0].isdigit():
        return unix_rfc3339(int(ts.split(".", 1)[0]))
    if isinstance(fallback, int):
        return unix_rfc3339(fallback)
    return inb.now()


def _files(files: Any) -> list[dict[str, Any]]:
    return (
        [
            attachment(
                attachment_kind(f.get("mimetype")),
                name=f.get("name"),
                mime=f.get("mimetype"),
                size=f.get("size"),
                url=f.get("url_private"),
            )
            for f in files
            if isinstance(f, dict)
        ]
        if isinstance(files, list)
        else []
    )


def _event_message(inb: Inbound, envelope: dict[str, Any], event: dict[str, Any]) -> ChannelMessage:
    user = event.get("user")
    if not isinstance(user, str):
        raise HttpError(400, "bad_request", "slack event has no `user`")
    channel, thread = event.get("channel"), event.get("thread_ts")
    text = event.get("text") if isinstance(event.get("text"), str) else None
    mentions = _MENTION.findall(text or "")
    if text is not None:
        text = _MENTION.sub("", text).strip() or None
    ids = ProviderIds(
        workspace_id=envelope.get("team_id"),
        channel_id=channel,
        thread_id=thread,
        conversation_id=thread or channel,
        user_id=user,
        message_id=event.get("ts"),
        event_id=envelope.get("event_id"),
    )
    return ChannelMessage(
        tenant=inb.tenant,
        provider="slack",
        ids=ids,
        timestamp=_ts_time(inb, event.get("ts"), envelope.get("event_time")),
        text=text,
        raw=envelope,
        channel=channel,
        locale=event.get("locale"),
        attachments=_files(event.get("files")),
        mentions=mentions,
        metadata=inb.metadata(),
        channel_data={"type": event.get("type"), "subtype": event.get("subtype")},
    )


def render(channel: str | None, thread: str | None, out: Outbound) -> dict[str, Any]:
    messages = []
    for message in out.messages:
        blocks: list[dict[str, Any]] = []
        text = message.plain_text()
        if message.text:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": message.text}})
        card = message.card
        if card is not None and (card.title or card.text):
            section: dict[str, Any] = {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "\n".join(
                        p for p in (f"*{card.title}*" if card.title else "", card.text or "") if p
                    ),
                },
            }
            if card.image:
                section["accessory"] = {
                    "type": "image",
                    "image_url": card.image,
                    "alt_text": card.title or "image",
                }
            blocks.append(section)
        if message.all_buttons:
            blocks.append(
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "text": {"type": "plain_text", "text": b.title[:75]},
                            "value": b.value[:2000],
                            "action_id": f"greentic-button-{index}",
                        }
                        for index, b in enumerate(message.all_buttons)
                    ],
                }
            )
        body: dict[str, Any] = {"channel": channel, "text": text or " ", "blocks": blocks}
        if thread:
            body["thread_ts"] = thread
        messages.append(body)
    return {"messages": messages}


async def events(request: Request) -> Response:
    inb = await inbound(request, "slack")
    _verify(inb)
    envelope = inb.json()
    if not isinstance(envelope, dict):
        raise HttpError(400, "bad_request", "slack payload must be a JSON object")
    kind = envelope.get("type")
    if kind == "url_verification":
        challenge = envelope.get("challenge")
        if not isinstance(challenge, str):
            raise HttpError(400, "bad_request", "url_verification without a `challenge`")
        return JSONResponse({"challenge": challenge})
    if kind != "event_callback" or not isinstance(envelope.get("event"), dict):
        return JSONResponse({"ok": True})
    event = envelope["event"]
    if (
        event.get("type") not in _RUN_EVENTS
        or event.get("bot_id")
        or event.get("subtype") not in (None, "file_share")
    ):
        return JSONResponse({"ok": True})

    async def run() -> Response:
        message = _event_message(inb, envelope, event)
        out = await inb.converse(message)
        return JSONResponse(render(message.ids.channel_id, message.ids.thread_id, out))

    event_id = envelope.get("event_id")
    return await inb.once(event_id if isinstance(event_id, str) else None, run)


def _interactive_message(inb: Inbound, payload: dict[str, Any]) -> ChannelMessage | None:
    actions = [a for a in payload.get("actions") or [] if isinstance(a, dict)]
    user = (payload.get("user") or {}).get("id")
    if payload.get("type") != "block_actions" or not actions:
        return None
    if not isinstance(user, str):
        raise HttpError(400, "bad_request", "slack interaction has no `user.id`")
    buttons = []
    for action in actions:
        title = (action.get("text") or {}).get("text") or "Button"
        value = action.get("value") or (action.get("selected_option") or {}).get("value") or ""
        buttons.append(button(str(action.get("action_id", "")), str(title), str(value)))
    container = payload.get("container") or {}
    message = payload.get("message") or {}
    channel = (payload.get("channel") or {}).get("id") or container.get("channel_id")
    thread = container.get("thread_ts") or message.get("thread_ts")
    ids = ProviderIds(
        workspace_id=(payload.get("team") or {}).get("id"),
        channel_id=channel,
        thread_id=thread,
        conversation_id=thread or channel,
        user_id=user,
        message_id=container.get("message_ts") or message.get("ts"),
        event_id=payload.get("trigger_id") or actions[0].get("action_ts"),
    )
    return ChannelMessage(
        tenant=inb.tenant,
        provider="slack",
        ids=ids,
        timestamp=_ts_time(inb, actions[0].get("action_ts")),
        text=buttons[0]["payload"] or buttons[0]["title"],
        raw=payload,
        channel=channel,
        buttons=buttons,
        metadata=inb.metadata(),
        channel_data={"type": payload.get("type"), "response_url": payload.get("response_url")},
    )


async def interactive(request: Request) -> Response:
    inb = await inbound(request, "slack")
    _verify(inb)
    try:
        form = parse_qs(inb.body.decode(), strict_parsing=True)
    except (UnicodeDecodeError, ValueError) as exc:
        raise HttpError(400, "bad_request", "slack interaction must be a form body") from exc
    raw = form.get("payload")
    if not raw:
        raise HttpError(400, "bad_request", "slack interaction has no `payload` field")
    payload = parse_json(raw[0].encode(), inb.ctx.settings.limits, "slack interaction payload")
    if not isinstance(payload, dict):
        raise HttpError(400, "bad_request", "slack interaction payload must be an object")
    message = _interactive_message(inb, payload)
    if message is None:
        return JSONResponse({"ok": True})
    ready = message

    async def run() -> Response:
        out = await inb.converse(ready)
        return JSONResponse(render(ready.ids.channel_id, ready.ids.thread_id, out))

    return await inb.once(message.ids.event_id, run)
