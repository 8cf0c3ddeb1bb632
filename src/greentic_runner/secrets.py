"""Secrets: the SecretsManager protocol, its backends and the bindings policy (spec §10).

Backends, chosen by ``SECRETS_BACKEND`` (:func:`default_manager`):

* ``env`` (default, the reference's): the process environment, by bare key; scope is ignored.
* ``file``: a local development store (TOML, YAML or JSON) with sections per env, tenant,
  team and pack; see :mod:`greentic_runner.secrets_file` and ``docs/operations.md``.

:class:`MemorySecretsManager` is the in-memory implementation next to the protocol.
:class:`SecretsGuard` applies a tenant's :class:`~greentic_runner.config.SecretsPolicy` with
the reference messages. Secret *values* never appear in logs, reprs or error messages; names do.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .config import SecretsPolicy
from .errors import ConfigError, RunnerError, SecretsError
from .tenancy import TenantCtx

RUNNER_PACK = "_runner"  # pseudo pack of runtime-level reads
BACKEND_VAR = "SECRETS_BACKEND"
FILE_VAR = "GREENTIC_SECRETS_FILE"


class SecretsManager(Protocol):
    """Where secrets come from. ``get`` returns None when the backend has no such secret and
    raises :class:`SecretsError` (never naming the value) when the backend itself fails."""

    async def get(self, ctx: TenantCtx, pack_id: str, key: str) -> str | None:
        """The secret's value, or None when the backend has no such secret."""
        ...


class EnvSecretsManager:
    """Reads secrets from the process environment (the reference's default backend).

    The lookup is by bare key: tenant, team and pack do not take part."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    async def get(self, ctx: TenantCtx, pack_id: str, key: str) -> str | None:
        return self._environ.get(key)

    def __repr__(self) -> str:
        return "EnvSecretsManager()"


def not_found(key: str) -> SecretsError:
    """The env backend's reference text for a missing secret."""
    return SecretsError(f"secret {key} not found in environment")


# -- scoping ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SecretScope:
    """Where a secret is defined; None means "any". A team is only meaningful with a tenant."""

    env: str | None = None
    tenant: str | None = None
    team: str | None = None
    pack: str | None = None

    def __post_init__(self) -> None:
        if self.team is not None and self.tenant is None:
            raise ConfigError(f"secret scope with team `{self.team}` needs a tenant")


def lookup_order(ctx: TenantCtx, pack_id: str) -> Iterator[SecretScope]:
    """Most specific first: tenant+team+pack, tenant+team, tenant+pack, tenant, pack, global;
    each inside the ctx's env section before outside it."""
    teams = (ctx.team, None) if ctx.team is not None else (None,)
    for tenant in (ctx.tenant, None):
        for team in teams if tenant is not None else (None,):
            for pack in (pack_id, None):
                for env in (ctx.env, None):
                    yield SecretScope(env=env, tenant=tenant, team=team, pack=pack)


class MemorySecretsManager:
    """Scoped secrets held in memory: the protocol's reference implementation, and the store
    the file backend loads into."""

    def __init__(self, secrets: Mapping[str, str] | None = None) -> None:
        self._scopes: dict[SecretScope, dict[str, str]] = {}
        for key, value in (secrets or {}).items():
            self.set(key, value)

    def set(
        self,
        key: str,
        value: str,
        *,
        env: str | None = None,
        tenant: str | None = None,
        team: str | None = None,
        pack: str | None = None,
    ) -> None:
        """Define ``key`` in the given scope (omitted parts match anything)."""
        scope = SecretScope(env=env, tenant=tenant, team=team, pack=pack)
        self._scopes.setdefault(scope, {})[key] = value

    def lookup(self, ctx: TenantCtx, pack_id: str, key: str) -> str | None:
        for scope in lookup_order(ctx, pack_id):
            values = self._scopes.get(scope)
            if values is not None and key in values:
                return values[key]
        return None

    async def get(self, ctx: TenantCtx, pack_id: str, key: str) -> str | None:
        return self.lookup(ctx, pack_id, key)

    def __len__(self) -> int:
        return sum(len(values) for values in self._scopes.values())

    def __repr__(self) -> str:
        # Counts only: a repr ends up in logs and debuggers.
        return f"MemorySecretsManager({len(self)} secrets in {len(self._scopes)} scopes)"


# -- policy ------------------------------------------------------------------------------------


class SecretsGuard:
    """A tenant's secrets reads under its bindings policy, with the reference messages.

    Callable, so it can be handed to the component secrets import as a plain function."""

    def __init__(self, manager: SecretsManager, policy: SecretsPolicy) -> None:
        self.manager = manager
        self.policy = policy

    async def require(self, ctx: TenantCtx, pack_id: str, name: str) -> str:
        """The secret's value. Raises SecretsError ``secret {name} denied by policy``,
        ``secret {name} unavailable: …`` or ``secret {name} not valid UTF-8: …``."""
        if not self.policy.is_allowed(name):
            raise SecretsError(f"secret {name} denied by policy")
        try:
            value = await self.manager.get(ctx, pack_id, name)
        except RunnerError as exc:
            raise SecretsError(f"secret {name} unavailable: {exc}") from exc
        except OSError as exc:
            raise SecretsError(f"secret {name} unavailable: {exc.strerror or exc}") from exc
        if value is None:
            raise SecretsError(f"secret {name} unavailable: {not_found(name)}")
        check_utf8(name, value)
        return value

    async def __call__(self, ctx: TenantCtx, pack_id: str, name: str) -> str:
        return await self.require(ctx, pack_id, name)


def check_utf8(name: str, value: str) -> None:
    """Reject a value that is not valid UTF-8 (the OS hands undecodable environment bytes to
    Python as surrogate escapes). The message gives the position, never the value."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise SecretsError(
            f"secret {name} not valid UTF-8: invalid byte at position {exc.start}"
        ) from None


# -- backend selection -------------------------------------------------------------------------


def default_manager(environ: Mapping[str, str] | None = None) -> SecretsManager:
    """The backend named by ``SECRETS_BACKEND`` (``env`` when unset or empty).

    ``file`` reads ``GREENTIC_SECRETS_FILE``. Raises ConfigError ``failed to initialise
    default secrets backend: …`` for an unknown backend or an unusable file."""
    env = os.environ if environ is None else environ
    name = (env.get(BACKEND_VAR) or "").strip().lower() or "env"
    try:
        if name == "env":
            return EnvSecretsManager(environ)
        if name == "file":
            from .secrets_file import FileSecretsManager

            path = (env.get(FILE_VAR) or "").strip()
            if not path:
                raise ConfigError(
                    f"{BACKEND_VAR}=file needs {FILE_VAR} (a TOML, YAML or JSON secrets file)"
                )
            return FileSecretsManager(Path(path))
        raise ConfigError(f"unknown secrets backend '{name}' (expected 'env' or 'file')")
    except RunnerError as exc:
        raise ConfigError(f"failed to initialise default secrets backend: {exc}") from exc
