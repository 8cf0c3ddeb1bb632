"""Channel request signatures. Each check runs on the raw body before anything is parsed
and raises HttpError 401 (``invalid_signature``) naming what was wrong, never the secret."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from ..errors import HttpError

SLACK_MAX_AGE_SECS = 300


def _reject(channel: str, reason: str) -> HttpError:
    return HttpError(401, "invalid_signature", f"{channel} request rejected: {reason}")


def hmac_hex(secret: str, data: bytes, digest: str = "sha256") -> str:
    return hmac.new(secret.encode(), data, getattr(hashlib, digest)).hexdigest()


def verify_slack(headers: Mapping[str, str], body: bytes, secret: str, now: float) -> None:
    """``X-Slack-Signature: v0=hex(HMAC-SHA256(secret, "v0:{ts}:{body}"))`` with
    ``X-Slack-Request-Timestamp`` within five minutes of ``now`` (replay protection)."""
    timestamp = headers.get("x-slack-request-timestamp")
    signature = headers.get("x-slack-signature")
    if not timestamp or not signature:
        raise _reject("slack", "missing X-Slack-Signature or X-Slack-Request-Timestamp")
    try:
        sent = int(timestamp)
    except ValueError:
        raise _reject("slack", "X-Slack-Request-Timestamp is not a number") from None
    if abs(now - sent) > SLACK_MAX_AGE_SECS:
        raise _reject("slack", "stale timestamp (more than 5 minutes from server time)")
    expected = "v0=" + hmac_hex(secret, b"v0:" + timestamp.encode() + b":" + body)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise _reject("slack", "signature mismatch")


def verify_hub_signature(headers: Mapping[str, str], body: bytes, secret: str) -> None:
    """WhatsApp (Meta): ``X-Hub-Signature-256: sha256=hex(HMAC-SHA256(app_secret, body))``."""
    header = headers.get("x-hub-signature-256")
    if not header or not header.startswith("sha256="):
        raise _reject("whatsapp", "missing X-Hub-Signature-256")
    expected = hmac_hex(secret, body)
    if not hmac.compare_digest(
        expected.encode(), header[len("sha256=") :].strip().lower().encode()
    ):
        raise _reject("whatsapp", "signature mismatch")


def verify_webex(headers: Mapping[str, str], body: bytes, secret: str) -> None:
    """Webex: ``X-Spark-Signature: hex(HMAC-SHA1(webhook_secret, body))``."""
    header = headers.get("x-spark-signature")
    if not header:
        raise _reject("webex", "missing X-Spark-Signature")
    expected = hmac_hex(secret, body, "sha1")
    if not hmac.compare_digest(expected.encode(), header.strip().lower().encode()):
        raise _reject("webex", "signature mismatch")


def verify_telegram(headers: Mapping[str, str], secret: str) -> None:
    """Telegram echoes setWebhook's ``secret_token`` in ``X-Telegram-Bot-Api-Secret-Token``."""
    given = headers.get("x-telegram-bot-api-secret-token")
    if not given:
        raise _reject("telegram", "missing X-Telegram-Bot-Api-Secret-Token")
    if not hmac.compare_digest(given.encode(), secret.encode()):
        raise _reject("telegram", "secret token mismatch")
