"""Component policies: network allowlist matching, WASI environment, limits."""

from __future__ import annotations

import pytest

from greentic_runner.components.policy import ComponentLimits, ComponentPolicy, WasiPolicy
from greentic_runner.config import HostConfig, SecretsPolicy
from greentic_runner.errors import ConfigError


@pytest.mark.parametrize(
    ("allow", "url", "allowed"),
    [
        ((), "https://api.example.com/x", False),
        (("api.example.com",), "https://api.example.com/x", True),
        (("api.example.com",), "https://API.example.com/x", True),
        (("api.example.com",), "https://evil.com/?api.example.com", False),
        (("api.example.com",), "https://api.example.com.evil.com/", False),
        (("*.example.com",), "https://a.b.example.com/", True),
        (("*.example.com",), "https://example.com.evil/", False),
        (("127.0.0.1:8080",), "http://127.0.0.1:8080/", True),
        (("127.0.0.1:8080",), "http://127.0.0.1:9090/", False),
        (("https://*",), "https://anything.io/", True),
        (("https://*",), "http://anything.io/", False),
        (("https://api.example.com",), "https://api.example.com/v1", True),
        (("*",), "ftp://files.example.com/", False),
        (("*",), "not a url", False),
    ],
)
def test_network_allowlist(allow: tuple[str, ...], url: str, allowed: bool) -> None:
    assert ComponentPolicy(network_allow=allow).allows_url(url) is allowed


def test_probe_policy_allows_nothing() -> None:
    probe = ComponentPolicy.probe()
    assert not probe.allows_url("https://example.com")
    assert not probe.secrets_allowed("ANY")
    assert not probe.allow_state and not probe.allow_runtime_config
    assert probe.wasi == WasiPolicy.probe() == WasiPolicy()


def test_default_policy_denies_network_and_secrets() -> None:
    policy = ComponentPolicy()
    assert not policy.allows_url("https://example.com")
    assert not policy.secrets_allowed("API_TOKEN")


def test_wasi_environment_is_only_passthrough(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEEP_ME", "1")
    monkeypatch.setenv("DROP_ME", "2")
    assert WasiPolicy(env_passthrough=("KEEP_ME", "ABSENT")).environment() == [("KEEP_ME", "1")]
    assert WasiPolicy().environment() == []


@pytest.mark.parametrize("field", ["fuel", "timeout_ms", "memory_bytes"])
def test_limits_must_be_positive(field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        ComponentLimits(**{field: 0})


def test_policy_from_host_config() -> None:
    config = HostConfig(
        tenant="acme",
        network_allow=("api.example.com",),
        env_passthrough=("OTEL_SERVICE_NAME",),
        secrets_policy=SecretsPolicy(allowed=frozenset({"API_TOKEN"})),
    )
    policy = ComponentPolicy.from_host_config(config)
    assert policy.allows_url("https://api.example.com/x")
    assert not policy.allows_url("https://other.example.com/x")
    assert policy.secrets_allowed("API_TOKEN") and not policy.secrets_allowed("DB")
    assert policy.wasi.env_passthrough == ("OTEL_SERVICE_NAME",)
