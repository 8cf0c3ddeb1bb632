"""Secrets: the SecretsManager protocol and the environment backend (spec §10)."""

from __future__ import annotations

import os
from typing import Protocol

from .errors import SecretsError
from .tenancy import TenantCtx

RUNNER_PACK = "_runner"  # pseudo pack of runtime-level reads


class SecretsManager(Protocol):
    async def get(self, ctx: TenantCtx, pack_id: str, key: str) -> str | None:
        """The secret's value, or None when the backend has no such secret."""
        ...


class EnvSecretsManager:
    """Reads secrets from the process environment (the reference's default backend)."""

    async def get(self, ctx: TenantCtx, pack_id: str, key: str) -> str | None:
        return os.environ.get(key)


def not_found(key: str) -> SecretsError:
    return SecretsError(f"secret {key} not found in environment")
