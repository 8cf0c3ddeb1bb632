"""Admin authentication (spec §9.2), with the reference's exact bodies.

* ``ADMIN_TOKEN`` set (trimmed, non-empty): ``Authorization: Bearer <token>`` is required;
  the prefix must be exactly ``"Bearer "``, the value is trimmed and compared in constant
  time. Missing or wrong → 401 ``{"error": "admin token required"}``.
* Unset: only loopback peers pass; others get 403 ``{"error": "admin access restricted"}``.
* No peer address at all → 500 ``{"error": "connect info unavailable"}`` (checked first, as
  the reference does).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response

from .errors import JSONResponse

ADMIN_TOKEN_ENV = "ADMIN_TOKEN"


def admin_token_from_env(environ: Mapping[str, str], name: str = ADMIN_TOKEN_ENV) -> str | None:
    """The configured token: trimmed, and an empty value counts as unset."""
    value = environ.get(name, "").strip()
    return value or None


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and IPv4-mapped loopback; hostnames are never loopback."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def bearer_token(header: str | None) -> str | None:
    if header is None or not header.startswith("Bearer "):
        return None
    return header[len("Bearer ") :].strip()


def tokens_match(given: str, expected: str) -> bool:
    """Constant-time comparison (hmac.compare_digest) of UTF-8 bytes."""
    return hmac.compare_digest(given.encode(), expected.encode())


def check_admin(request: Request, token: str | None) -> Response | None:
    """None when the request may use the admin API, else the rejection response."""
    client = request.client
    if client is None or not client.host:
        return JSONResponse({"error": "connect info unavailable"}, 500)
    if token is not None:
        given = bearer_token(request.headers.get("authorization"))
        if given is None or not tokens_match(given, token):
            return JSONResponse({"error": "admin token required"}, 401)
        return None
    if not is_loopback(client.host):
        return JSONResponse({"error": "admin access restricted"}, 403)
    return None
