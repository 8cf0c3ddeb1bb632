"""HttpSettings / ChannelSecrets from the environment (names from spec §11)."""

from __future__ import annotations

from greentic_runner.http import ChannelSecrets, HttpSettings, Limits, TenantRouting


def test_secrets_and_admin_token_from_env() -> None:
    env = {
        "SLACK_SIGNING_SECRET": "s",
        "WHATSAPP_VERIFY_TOKEN": "v",
        "WHATSAPP_APP_SECRET": "w",
        "WEBEX_WEBHOOK_SECRET": " ",
        "TELEGRAM_WEBHOOK_SECRET": "t",
        "ADMIN_TOKEN": "  tok  ",
        "TENANT_RESOLVER": "header",
    }
    settings = HttpSettings.from_env(env, limits=Limits(max_body_bytes=10))
    assert settings.secrets == ChannelSecrets("s", "v", "w", None, "t")
    assert settings.secrets.unverified_channels() == ["webex"]
    assert settings.admin_token == "tok"
    assert settings.routing == TenantRouting("header", "demo")
    assert settings.limits.max_body_bytes == 10
    assert "tok" not in repr(settings) and "'s'" not in repr(settings.secrets)


def test_empty_environment_means_no_checks_and_loopback_admin() -> None:
    settings = HttpSettings.from_env({})
    assert settings.admin_token is None
    assert settings.secrets.unverified_channels() == ["slack", "whatsapp", "webex", "telegram"]
    named = HttpSettings.from_env({"OPS_TOKEN": "x"}, admin_token_env="OPS_TOKEN")
    assert named.admin_token == "x"
