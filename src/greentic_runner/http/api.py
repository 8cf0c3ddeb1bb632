"""The activities API: ``POST /tenants/{tenant}/activities`` and ``GET /tenants``."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..activity import Activity
from ..errors import ActivityError, TenantError
from ..ids import is_valid_id
from ..runtime import RuntimeKey, TenantRuntime
from .context import context
from .errors import JSONResponse
from .limits import read_json


async def post_activity(request: Request) -> Response:
    """Run one turn: Activity JSON in, ``{"activities": [reply activities]}`` out."""
    ctx = context(request)
    tenant = request.path_params["tenant"]
    if not is_valid_id(tenant):
        raise TenantError(f"tenant `{tenant}` is not a valid tenant id")
    body = await read_json(request, ctx.settings.limits, "activity")
    activity = Activity.from_dict(body)
    if activity.tenant is not None and activity.tenant != tenant:
        raise ActivityError(
            f"activity tenant `{activity.tenant}` does not match tenant `{tenant}` in the path"
        )
    replies = await ctx.turns.run(tenant, activity.ensure_tenant(tenant), channel="api")
    return JSONResponse({"activities": [reply.to_dict() for reply in replies]})


def _pack_entry(runtime: TenantRuntime) -> list[dict[str, Any]]:
    digests = [runtime.digest, *runtime.overlay_digests]
    return [
        {
            "pack_id": pack.pack_id,
            "version": pack.version,
            "digest": digest,
            "role": "main" if index == 0 else "overlay",
            "flows": [
                {"id": d.id, "type": d.flow_type, "entry": d.entry} for d in pack.descriptors()
            ],
        }
        for index, (pack, digest) in enumerate(zip(runtime.packs, digests, strict=True))
    ]


def _tenant_entry(key: RuntimeKey, runtime: TenantRuntime) -> dict[str, Any]:
    entry: dict[str, Any] = {"tenant": key.tenant, "packs": _pack_entry(runtime)}
    return entry | key.rollout_fields()


async def list_tenants(request: Request) -> Response:
    """Loaded tenants (legacy runtimes first, then revisions) and their packs and flows."""
    snapshot = context(request).host.active.snapshot()
    keys = sorted(snapshot, key=lambda k: (k.is_revision, k.tenant, str(k.revision_id)))
    return JSONResponse({"tenants": [_tenant_entry(key, snapshot[key]) for key in keys]})


def routes() -> list[BaseRoute]:
    return [
        Route("/tenants", list_tenants, methods=["GET"]),
        Route("/tenants/{tenant}/activities", post_activity, methods=["POST"]),
    ]
