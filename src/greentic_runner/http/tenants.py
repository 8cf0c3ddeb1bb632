"""Which tenant a channel request belongs to: ``TENANT_RESOLVER`` and ``DEFAULT_TENANT`` (§9.4).

* ``env`` (default): always ``DEFAULT_TENANT`` (default ``demo``).
* ``header``: the ``X-Greentic-Tenant`` header, else the default.
* ``host``: the first label of the ``Host`` header (``acme.bots.example.com`` → ``acme``),
  else the default.

The reference also knows ``jwt`` (an *unverified* claim read); it is refused here, since a
tenant picked from an unchecked token is a spoofing hole.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, cast

from starlette.requests import Request

from ..errors import ConfigError
from ..ids import is_valid_id
from .errors import HttpError

Resolver = Literal["env", "header", "host"]
RESOLVERS: tuple[Resolver, ...] = ("env", "header", "host")
TENANT_HEADER = "x-greentic-tenant"
DEFAULT_TENANT = "demo"


@dataclass(frozen=True, slots=True)
class TenantRouting:
    """How channel routes pick a tenant (the activities API names it in the path)."""

    resolver: Resolver = "env"
    default_tenant: str = DEFAULT_TENANT

    def __post_init__(self) -> None:
        if self.resolver not in RESOLVERS:
            raise ConfigError(
                f"unsupported TENANT_RESOLVER `{self.resolver}` (expected env, header or host)"
            )
        if not is_valid_id(self.default_tenant):
            raise ConfigError(f"DEFAULT_TENANT `{self.default_tenant}` is not a valid tenant id")

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str], fallback: TenantRouting | None = None
    ) -> TenantRouting:
        """``TENANT_RESOLVER`` / ``DEFAULT_TENANT`` over ``fallback`` (e.g. the config file)."""
        base = fallback or cls()
        resolver = environ.get("TENANT_RESOLVER", "").strip().lower() or base.resolver
        default = environ.get("DEFAULT_TENANT", "").strip() or base.default_tenant
        return cls(cast(Resolver, resolver), default)

    def resolve(self, request: Request) -> str:
        """The request's tenant; HttpError 400 when the header/host names an invalid id."""
        if self.resolver == "env":
            return self.default_tenant
        if self.resolver == "header":
            candidate = request.headers.get(TENANT_HEADER, "").strip()
        else:
            host = request.headers.get("host", "")
            candidate = host.split(":", 1)[0].split(".", 1)[0].strip()
        if not candidate:
            return self.default_tenant
        if not is_valid_id(candidate):
            raise HttpError(400, "invalid_tenant", f"tenant `{candidate}` is not a valid id")
        return candidate
