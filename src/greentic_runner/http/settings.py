"""HttpSettings: everything the HTTP app needs besides the host, validated once.

Built by ``serve`` from flags, environment and the server config file; tests build it
directly (``HttpSettings(admin_token="t")``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from .auth import ADMIN_TOKEN_ENV, admin_token_from_env
from .dedupe import DEFAULT_MAX_ENTRIES, DEFAULT_TTL_SECS
from .limits import Limits
from .tenants import TenantRouting

DEFAULT_SHUTDOWN_TIMEOUT_SECS = 30.0


def _secret(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name, "").strip()
    return value or None


@dataclass(frozen=True, slots=True)
class ChannelSecrets:
    """Per-channel verification secrets; ``None`` turns that check off (spec §11 names).

    ``telegram_secret_token`` is the ``secret_token`` given to Telegram's ``setWebhook``;
    Telegram echoes it in ``X-Telegram-Bot-Api-Secret-Token``.
    """

    slack_signing_secret: str | None = field(default=None, repr=False)
    whatsapp_verify_token: str | None = field(default=None, repr=False)
    whatsapp_app_secret: str | None = field(default=None, repr=False)
    webex_webhook_secret: str | None = field(default=None, repr=False)
    telegram_secret_token: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ChannelSecrets:
        env = os.environ if environ is None else environ
        return cls(
            slack_signing_secret=_secret(env, "SLACK_SIGNING_SECRET"),
            whatsapp_verify_token=_secret(env, "WHATSAPP_VERIFY_TOKEN"),
            whatsapp_app_secret=_secret(env, "WHATSAPP_APP_SECRET"),
            webex_webhook_secret=_secret(env, "WEBEX_WEBHOOK_SECRET"),
            telegram_secret_token=_secret(env, "TELEGRAM_WEBHOOK_SECRET"),
        )

    def unverified_channels(self) -> list[str]:
        """Channels that accept requests without any signature or token check."""
        checks = {
            "slack": self.slack_signing_secret,
            "whatsapp": self.whatsapp_app_secret,
            "webex": self.webex_webhook_secret,
            "telegram": self.telegram_secret_token,
        }
        return [name for name, secret in checks.items() if secret is None]


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """Limits, tenant routing, admin token, channel secrets, dedupe bounds, shutdown grace."""

    limits: Limits = field(default_factory=Limits)
    routing: TenantRouting = field(default_factory=TenantRouting)
    admin_token: str | None = field(default=None, repr=False)
    secrets: ChannelSecrets = field(default_factory=ChannelSecrets)
    dedupe_max_entries: int = DEFAULT_MAX_ENTRIES
    dedupe_ttl_secs: float = DEFAULT_TTL_SECS
    shutdown_timeout_secs: float = DEFAULT_SHUTDOWN_TIMEOUT_SECS

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        limits: Limits | None = None,
        routing: TenantRouting | None = None,
        admin_token_env: str = ADMIN_TOKEN_ENV,
    ) -> HttpSettings:
        """Secrets, admin token and tenant routing from the environment; limits as given."""
        env = os.environ if environ is None else environ
        return cls(
            limits=limits or Limits(),
            routing=TenantRouting.from_env(env, routing),
            admin_token=admin_token_from_env(env, admin_token_env),
            secrets=ChannelSecrets.from_env(env),
        )
