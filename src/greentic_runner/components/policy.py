"""What a component may do and consume: WASI policy, host-import policy and per-call limits.

The reference's ``RunnerWasiPolicy`` becomes plain data here (spec §10): no preopened
directories ever, an environment made only of the ``env_passthrough`` names, stdio only when
allowed. :meth:`ComponentPolicy.probe` is the locked-down policy identify probes run under.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..config import HostConfig


@dataclass(frozen=True, slots=True)
class WasiPolicy:
    """WASI p2 for one call: env passthrough names and stdio switches. Never any preopens."""

    env_passthrough: tuple[str, ...] = ()
    allow_stdout: bool = False
    allow_stderr: bool = False

    @classmethod
    def probe(cls) -> WasiPolicy:
        """Nothing allowed (identify probes)."""
        return cls()

    def environment(self) -> list[tuple[str, str]]:
        """The (name, value) pairs the guest sees: passthrough names present in os.environ."""
        return [(name, os.environ[name]) for name in self.env_passthrough if name in os.environ]


def _deny_all_secrets(key: str) -> bool:
    return False


@dataclass(frozen=True, slots=True)
class ComponentPolicy:
    """Host-import permissions for one tenant's components.

    ``network_allow`` holds host names (``api.example.com``), wildcard domains
    (``*.example.com``), ``host:port`` pairs, or URL patterns (``https://api.example.com``,
    ``https://*``); an empty tuple denies every request. ``secrets_allowed`` is the bindings'
    secrets policy (``SecretsPolicy.is_allowed`` fits).
    """

    wasi: WasiPolicy = WasiPolicy()
    network_allow: tuple[str, ...] = ()
    secrets_allowed: Callable[[str], bool] = _deny_all_secrets
    allow_state: bool = True
    allow_runtime_config: bool = True

    @classmethod
    def probe(cls) -> ComponentPolicy:
        """The identify-probe policy: no network, secrets, state, config, env or stdio."""
        return cls(allow_state=False, allow_runtime_config=False)

    @classmethod
    def from_host_config(cls, config: HostConfig) -> ComponentPolicy:
        """A tenant's policy from its bindings: network_allow, secrets policy, env_passthrough."""
        return cls(
            wasi=WasiPolicy(env_passthrough=tuple(config.env_passthrough)),
            network_allow=tuple(config.network_allow),
            secrets_allowed=config.secrets_policy.is_allowed,
        )

    def allows_url(self, url: str) -> bool:
        """True when ``url`` (http or https) matches an entry of ``network_allow``."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return False
        host = parts.hostname.lower()
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return any(_matches(entry, parts.scheme, host, port) for entry in self.network_allow)


def _matches(entry: str, scheme: str, host: str, port: int) -> bool:
    entry = entry.strip().lower()
    if "://" in entry:
        entry_scheme, _, entry = entry.partition("://")
        if entry_scheme not in ("*", scheme):
            return False
        entry = entry.split("/", 1)[0]
    pattern, _, entry_port = entry.partition(":")
    if entry_port and entry_port != str(port):
        return False
    if pattern == "*":
        return True
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


@dataclass(frozen=True, slots=True)
class ComponentLimits:
    """Per-call budgets: fuel (≈ wasm instructions), wall-clock deadline, linear memory."""

    fuel: int = 10_000_000_000
    timeout_ms: int = 30_000
    memory_bytes: int = 512 * 1024 * 1024
    # Bodies the http-client import will read from a response.
    max_http_body_bytes: int = 16 * 1024 * 1024

    def __post_init__(self) -> None:
        if self.fuel <= 0 or self.timeout_ms <= 0 or self.memory_bytes <= 0:
            raise ConfigError(
                f"component limits must be positive (fuel={self.fuel}, "
                f"timeout_ms={self.timeout_ms}, memory_bytes={self.memory_bytes})"
            )
