"""``GET /healthz`` (spec §9.1, exact JSON) and ``GET /readyz`` (ready for traffic)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..host import RunnerHost
from .context import context
from .errors import JSONResponse


def health_body(host: RunnerHost) -> dict[str, Any]:
    """``status`` is ``ok`` iff telemetry and secrets are ready and a pack is active."""
    health = host.health
    active = len(host.active)
    ok = health.telemetry_ready and health.secrets_ready and active > 0
    return {
        "status": "ok" if ok else "degraded",
        "telemetry_ready": health.telemetry_ready,
        "secrets_ready": health.secrets_ready,
        "active_packs": active,
        "last_reload": health.last_reload,
        "last_error": health.last_error,
    }


async def healthz(request: Request) -> Response:
    """Always 200: liveness plus the host's health flags."""
    return JSONResponse(health_body(context(request).host))


async def readyz(request: Request) -> Response:
    """200 when healthy and not shutting down, else 503 with the reason."""
    ctx = context(request)
    body = health_body(ctx.host)
    if ctx.draining:
        return JSONResponse({"status": "not_ready", "reason": "shutting down"}, 503)
    if body["status"] != "ok":
        reason = "no packs loaded" if body["active_packs"] == 0 else "host not started"
        return JSONResponse({"status": "not_ready", "reason": reason}, 503)
    return JSONResponse({"status": "ready", "active_packs": body["active_packs"]})


def routes() -> list[BaseRoute]:
    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]
