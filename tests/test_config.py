"""load_bindings: the upstream bindings files, every section, and errors naming file and key."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from greentic_runner.config import (
    Fast2FlowConfig,
    HostConfig,
    RetryConfig,
    TimerSpec,
    WebhookPolicy,
    load_bindings,
)
from greentic_runner.errors import ConfigError

UPSTREAM = Path(__file__).parent / "fixtures" / "upstream" / "greentic-runner"
GEN = UPSTREAM / "tests/fixtures/gen-bindings"


def bindings(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tenant.bindings.yaml"
    path.write_text(text)
    return path


def load(tmp_path: Path, text: str) -> HostConfig:
    return load_bindings(bindings(tmp_path, text))


def test_default_bindings_fixture() -> None:
    path = UPSTREAM / "examples/bindings/default.bindings.yaml"
    config = load_bindings(path)
    assert config.tenant == "acme"
    assert config.bindings_path == path
    messaging = config.flow_type_bindings["messaging"]
    assert messaging.adapter == "telegram"
    assert messaging.config["route"] == "/messaging/telegram/webhook"
    assert messaging.secrets == ("TELEGRAM_BOT_TOKEN",)
    assert config.secrets_policy.is_allowed("TELEGRAM_BOT_TOKEN")
    assert not config.secrets_policy.is_allowed("OTHER")
    assert config.webhook_policy == WebhookPolicy(allow_paths=("/webhook/",))
    assert config.webhook_policy.is_allowed("/webhook/github")
    assert not config.webhook_policy.is_allowed("/admin")
    assert config.http_enabled is True
    assert config.retry == RetryConfig(max_attempts=5, base_delay_ms=250)  # from mcp.retry
    assert config.rate_limits == {"messaging_send_qps": 10, "messaging_burst": 20}
    assert config.timers == (TimerSpec(flow_id="nightly_weather", cron="0 5 * * *"),)
    assert config.timers[0].schedule_id == "nightly_weather"
    assert config.mcp["store"]["kind"] == "http-single"
    assert config.mocks is None
    assert config.fast2flow == Fast2FlowConfig()


def test_generated_complete_bindings() -> None:
    config = load_bindings(GEN / "weather-demo/bindings.complete.yaml")
    assert config.tenant == "weather-demo"
    assert config.env_passthrough == (
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_RESOURCE_ATTRIBUTES",
        "RUST_LOG",
    )
    assert config.network_allow == ("https://*",)
    assert config.http_enabled is False
    assert config.retry == RetryConfig()


def test_generated_strict_bindings() -> None:
    config = load_bindings(GEN / "weather-demo-strict/bindings.strict.yaml")
    assert config.tenant == "weather-demo-strict"
    assert config.secrets_policy.is_allowed("WEATHER_API_KEY")
    assert config.network_allow == ("https://weather.example.com",)
    assert config.env_passthrough[0] == "CUSTOM_FLAG"
    assert config.mcp_servers == (
        {
            "name": "weather_api",
            "transport": "websocket",
            "endpoint": "ws://localhost:9000",
            "caps": [],
        },
    )


def test_a_hints_file_is_not_bindings(caplog: pytest.LogCaptureFixture) -> None:
    path = GEN / "weather-demo-strict/bindings.hints.yaml"
    with caplog.at_level(logging.WARNING), pytest.raises(ConfigError) as err:
        load_bindings(path)
    assert str(err.value) == f"failed to parse bindings file {path}: `tenant` is required"
    assert "unknown key `network` ignored (line 1)" in caplog.text


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.yaml"
    with pytest.raises(ConfigError, match=f"failed to read bindings file {path}"):
        load_bindings(path)


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = bindings(tmp_path, "tenant: demo\ntimers: [\n")
    with pytest.raises(ConfigError, match=f"failed to parse bindings file {path}: .*line 3"):
        load_bindings(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- demo\n", "expected a mapping with at least `tenant`"),
        ("tenant: 'a b'\n", "`tenant` 'a b' is not a valid id"),
        ("tenant: 3\n", "`tenant` must be a non-empty string (line 1)"),
        ("tenant: d\nflow_type_bindings: [x]\n", "`flow_type_bindings` must be a mapping (line 2)"),
        (
            "tenant: d\nflow_type_bindings:\n  messaging:\n    secrets: TOKEN\n",
            "`flow_type_bindings.messaging.secrets` must be a list of strings (line 4)",
        ),
        (
            "tenant: d\nflow_type_bindings:\n  messaging: {config: 1}\n",
            "`flow_type_bindings.messaging.config` must be a mapping",
        ),
        ("tenant: d\ntimers: {a: 1}\n", "`timers` must be a list of {flow_id, cron} (line 2)"),
        (
            "tenant: d\ntimers:\n  - flow_id: f\n",
            "`timers[0].cron` is required (line 3)",
        ),
        ("tenant: d\ntimers:\n  - {flow_id: '', cron: x}\n", "`timers[0].flow_id` must be"),
        ("tenant: d\nretry: {max_attempts: many}\n", "`retry.max_attempts` must be an integer"),
        ("tenant: d\nmcp: {retry: {base_delay_ms: 1.5}}\n", "`mcp.retry.base_delay_ms` must be"),
        ("tenant: d\nmcp: {http_enabled: yes}\n", "`mcp.http_enabled` must be true or false"),
        ("tenant: d\nmcp: []\n", "`mcp` must be a mapping"),
        ("tenant: d\nfast2flow: {enabled: 1}\n", "`fast2flow.enabled` must be true or false"),
        ("tenant: d\nfast2flow: {scope: ''}\n", "`fast2flow.scope` must be a non-empty string"),
        (
            "tenant: d\nrate_limits: {messaging_burst: -1}\n",
            "`rate_limits.messaging_burst` must be",
        ),
        ("tenant: d\nenv_passthrough: A\n", "`env_passthrough` must be a list of strings"),
        ("tenant: d\nmcp_servers: [x]\n", "`mcp_servers` must be a list of mappings"),
        (
            "tenant: d\nmocks:\n  components:\n    weather: {forecast: {when: {q: x}}}\n",
            "`mocks.components.weather.forecast` needs exactly one of `output` or `error`",
        ),
    ],
)
def test_errors_name_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = bindings(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_bindings(path)
    assert str(err.value).startswith(f"failed to parse bindings file {path}: ")
    assert message in str(err.value)


def test_retry_is_clamped_and_top_level_wins_over_mcp(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        "tenant: d\nretry: {max_attempts: 0, base_delay_ms: 10}\n"
        "mcp: {retry: {max_attempts: 9, base_delay_ms: 900}}\n",
    )
    assert config.retry == RetryConfig(max_attempts=1, base_delay_ms=50)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tenant: d\n", False),
        ("tenant: d\nflow_type_bindings: {messaging: {adapter: webchat}}\n", True),
        ("tenant: d\nflow_type_bindings: {messaging: {}}\nmcp: {http_enabled: false}\n", False),
        ("tenant: d\nmcp: {http_enabled: true}\n", True),
    ],
)
def test_http_enabled(tmp_path: Path, text: str, expected: bool) -> None:
    assert load(tmp_path, text).http_enabled is expected


def test_secrets_policy_is_the_union_of_bindings_and_secrets_required(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        "tenant: d\nsecrets_required: [API_KEY]\nflow_type_bindings:\n"
        "  messaging: {secrets: [BOT_TOKEN]}\n  event: {secrets: [HOOK_SECRET, BOT_TOKEN]}\n",
    )
    assert config.secrets_policy.allowed == {"API_KEY", "BOT_TOKEN", "HOOK_SECRET"}


def test_webhook_policy_deny_wins(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        "tenant: d\nflow_type_bindings:\n  webhook:\n    config:\n"
        "      allow_paths: [/hooks/]\n      deny_paths: [/hooks/private]\n",
    )
    assert config.webhook_policy.is_allowed("/hooks/github")
    assert not config.webhook_policy.is_allowed("/hooks/private/x")


def test_a_malformed_webhook_policy_warns_and_uses_the_default(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        config = load(
            tmp_path, "tenant: d\nflow_type_bindings:\n  webhook:\n    config: {allow_paths: /x}\n"
        )
    assert config.webhook_policy == WebhookPolicy()
    assert "webhook policy is malformed; using the default (line 3)" in caplog.text


def test_timers_fast2flow_mocks_and_rate_limits(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
tenant: d
timers:
  - {flow_id: nightly, cron: "0 5 * * *", schedule_id: nightly-eu, timezone: Europe/Brussels}
fast2flow: {enabled: true, scope: support, time_budget_ms: 80, indexes_path: /srv/idx}
rate_limits: {messaging_send_qps: 2.5}
mocks:
  components:
    weather_api:
      forecast: [{output: {temp: 11}}]
""",
    )
    assert config.timers == (
        TimerSpec("nightly", "0 5 * * *", schedule_id_="nightly-eu", timezone="Europe/Brussels"),
    )
    assert config.timers[0].schedule_id == "nightly-eu"
    assert config.fast2flow == Fast2FlowConfig(
        enabled=True, scope="support", time_budget_ms=80, indexes_path="/srv/idx"
    )
    assert config.rate_limits == {"messaging_send_qps": 2.5, "messaging_burst": 20}
    assert config.mocks == {"components": {"weather_api": {"forecast": [{"output": {"temp": 11}}]}}}


def test_unknown_keys_are_warned_with_their_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        config = load(
            tmp_path,
            "tenant: d\noauth: {}\ntimers:\n  - {flow_id: f, cron: '* * * * *', every: 5}\n",
        )
    assert config.tenant == "d"
    assert "unknown key `oauth` ignored (line 2)" in caplog.text
    assert "unknown key `timers[0].every` ignored (line 4)" in caplog.text
