"""The canonical adapter payload and session key every channel adapter produces (spec §9.4).

A channel message becomes one message Activity (flow type ``messaging``) whose payload is::

    {tenant, provider, provider_ids{...}, session{key, scopes[]}, timestamp, locale, text,
     attachments[], buttons[], entities{mentions[], urls[]}, metadata{raw_headers{}, ip},
     channel_data{}, raw}

and whose ``session_id`` is the four-part key ``{tenant}:{provider}:{anchor}:{user}``
(anchor = thread, else conversation, else channel, else the user). The host passes it on as
the envelope's session hint, so every turn of one thread by one user resumes the same flow.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ...activity import Activity
from ...records import record

_URL = re.compile(r"https?://[^\s<>\"|]+")

# Headers a flow never needs to see: credentials and signatures.
_HIDDEN_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "x-slack-signature",
        "x-hub-signature",
        "x-hub-signature-256",
        "x-spark-signature",
        "x-telegram-bot-api-secret-token",
    }
)


@record
class ProviderIds:
    """The channel's own ids for a message; unset ones are omitted from the payload."""

    team_id: str | None = None
    workspace_id: str | None = None
    conversation_id: str | None = None
    thread_id: str | None = None
    channel_id: str | None = None
    user_id: str | None = None
    message_id: str | None = None
    event_id: str | None = None

    def anchor(self) -> str | None:
        return self.thread_id or self.conversation_id or self.channel_id

    def to_dict(self) -> dict[str, str]:
        # Field by field: this runs on every channel message, and it is 3× faster than a
        # comprehension over the field names (and 6× faster than zipping them in C).
        out = {}
        if self.team_id is not None:
            out["team_id"] = self.team_id
        if self.workspace_id is not None:
            out["workspace_id"] = self.workspace_id
        if self.conversation_id is not None:
            out["conversation_id"] = self.conversation_id
        if self.thread_id is not None:
            out["thread_id"] = self.thread_id
        if self.channel_id is not None:
            out["channel_id"] = self.channel_id
        if self.user_id is not None:
            out["user_id"] = self.user_id
        if self.message_id is not None:
            out["message_id"] = self.message_id
        if self.event_id is not None:
            out["event_id"] = self.event_id
        return out


def session_key(tenant: str, provider: str, anchor: str | None, user: str | None) -> str:
    """``{tenant}:{provider}:{thread|conversation|channel|user}:{user}`` (defaults
    ``conversation`` and ``user`` when the channel gave nothing)."""
    return f"{tenant}:{provider}:{anchor or user or 'conversation'}:{user or 'user'}"


def attachment(
    kind: str,
    *,
    name: str | None = None,
    mime: str | None = None,
    size: int | None = None,
    url: str | None = None,
    data_inline_b64: str | None = None,
) -> dict[str, Any]:
    return {
        "type": kind,
        "name": name,
        "mime": mime,
        "size": size or 0,
        "url": url,
        "data_inline_b64": data_inline_b64,
    }


def attachment_kind(mime: str | None) -> str:
    if mime is None:
        return "file"
    for prefix in ("image", "audio", "video"):
        if mime.startswith(prefix + "/"):
            return prefix
    return "card" if "application/vnd.microsoft.card" in mime else "file"


def button(button_id: str, title: str, payload: str) -> dict[str, str]:
    return {"id": button_id, "title": title, "payload": payload}


def entities(text: str | None, mentions: Iterable[str] = ()) -> dict[str, list[str]]:
    urls = _URL.findall(text) if text and "http" in text else []
    return {"mentions": list(mentions), "urls": urls}


_HIDDEN_RAW = frozenset(name.encode() for name in _HIDDEN_HEADERS)
_HIDDEN = ("", "")  # the decoded form of a hidden header; dropped from the result


class _DecodedHeaders(dict[tuple[bytes, bytes], tuple[str, str]]):
    """``(name, value)`` raw header pair → its decoded form, remembered: clients send the
    same few headers (host, content type, user agent…) on every request, and a lookup in
    C beats decoding them again. At most ``LIMIT`` pairs, forgotten all at once when full,
    so unique values (request ids) cannot grow it."""

    LIMIT = 4096

    def __missing__(self, pair: tuple[bytes, bytes]) -> tuple[str, str]:
        name, value = pair
        found = _HIDDEN
        if name.lower() not in _HIDDEN_RAW:
            found = (name.decode("latin-1").lower(), value.decode("latin-1"))
        if len(self) >= self.LIMIT:
            self.clear()
        self[pair] = found
        return found


_DECODED_HEADERS = _DecodedHeaders()


def request_metadata(headers: Iterable[tuple[bytes, bytes]], ip: str | None) -> dict[str, Any]:
    """Headers the flow may see (credentials and signatures removed) and the peer address,
    from an ASGI scope's raw header pairs."""
    try:
        raw = dict(map(_DECODED_HEADERS.__getitem__, headers))
    except TypeError:  # pairs as lists (unhashable): an ASGI server may send those
        raw = dict(_DECODED_HEADERS[name, value] for name, value in headers)
    raw.pop("", None)
    return {"raw_headers": raw, "ip": ip}


def rfc3339(value: datetime) -> str:
    """``value`` in UTC, as ``datetime.isoformat`` writes it (``…+00:00``)."""
    return (value if value.tzinfo is UTC else value.astimezone(UTC)).isoformat()


# ``(second, "YYYY-MM-DDTHH:MM:SS")`` of the last whole second formatted: channel messages
# arrive many per second, and building a datetime for each costs more than the rest of the
# timestamp. One tuple, replaced whole, so a reader never pairs one second with another's text.
_LAST_SECOND: list[tuple[int | None, str]] = [(None, "")]


def unix_rfc3339(seconds: float) -> str:
    """``rfc3339(datetime.fromtimestamp(seconds, UTC))``, same rounding (half-even to the
    microsecond) and same text, without the datetime."""
    fraction, whole = math.modf(seconds)
    micros = round(fraction * 1e6)
    if micros >= 1_000_000:
        micros -= 1_000_000
        whole += 1
    elif micros < 0:
        micros += 1_000_000
        whole -= 1
    second = int(whole)
    cached, prefix = _LAST_SECOND[0]
    if cached != second:
        prefix = datetime.fromtimestamp(second, UTC).replace(tzinfo=None).isoformat()
        _LAST_SECOND[0] = (second, prefix)
    if not micros:
        return f"{prefix}+00:00"
    return f"{prefix}.{str(micros).zfill(6)}+00:00"  # zfill: 2.5× faster than :06d


def normalized_rfc3339(value: str | None) -> str | None:
    """A channel's ISO-8601/RFC 3339 timestamp (``Z`` accepted; no offset means UTC) in
    UTC, or None when absent or unparsable."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return rfc3339(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))


@dataclass(slots=True)
class ChannelMessage:
    """One inbound channel message, mapped; :meth:`activity` builds what the host runs."""

    tenant: str
    provider: str
    ids: ProviderIds
    timestamp: str  # RFC 3339, UTC
    text: str | None
    raw: Any
    channel: str | None = None
    locale: str | None = None
    attachments: list[dict[str, Any]] = field(default_factory=list)
    buttons: list[dict[str, str]] = field(default_factory=list)
    mentions: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=lambda: request_metadata((), None))
    channel_data: dict[str, Any] = field(default_factory=dict)

    @property
    def session_key(self) -> str:
        ids = self.ids
        return session_key(self.tenant, self.provider, ids.anchor(), ids.user_id)

    def scopes(self) -> list[str]:
        scopes = ["chat"]
        if self.attachments:
            scopes.append("attachments")
        if self.buttons:
            scopes.append("buttons")
        return scopes

    def payload(self, session_key: str | None = None) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "provider": self.provider,
            "provider_ids": self.ids.to_dict(),
            "session": {"key": session_key or self.session_key, "scopes": self.scopes()},
            "timestamp": self.timestamp,
            "locale": self.locale,
            "text": self.text,
            "attachments": self.attachments,
            "buttons": self.buttons,
            "entities": entities(self.text, self.mentions),
            "metadata": self.metadata,
            "channel_data": self.channel_data,
            "raw": self.raw,
        }

    def activity(self) -> Activity:
        """A ``messaging`` message activity carrying the canonical payload and session key."""
        ids = self.ids
        user = ids.user_id
        anchor = ids.anchor()
        key = session_key(self.tenant, self.provider, anchor, user)
        return Activity.message(
            self.tenant,
            "messaging",
            key,
            self.provider,
            user,
            self.channel or anchor,
            ids.conversation_id or anchor,
            self.payload(key),
        )
