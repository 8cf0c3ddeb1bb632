"""Admin API (spec §9.3): pack status, reload from the configured source, load on demand.

Every route is guarded by :func:`.auth.check_admin`. Bodies keep the reference's flat
``{"error": "<message>"}`` shape, which admin tooling written for the reference parses.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..errors import ConfigError, FlowError, PackError, RunnerError
from ..reload import reload_all
from ..runtime import RuntimeKey, TenantRuntime
from ..runtime_loader import PackRef
from .auth import check_admin
from .context import context
from .errors import HttpError, JSONResponse, status_for
from .limits import read_json

log = logging.getLogger(__name__)


def _flat_error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status)


def _runtime_status(key: RuntimeKey, runtime: TenantRuntime) -> dict[str, Any]:
    main = runtime.main_pack
    entry: dict[str, Any] = {
        "tenant": key.tenant,
        "pack_id": main.pack_id,
        "version": main.version,
        "digest": runtime.digest,
        "overlays": [
            {"pack_id": pack.pack_id, "version": pack.version, "digest": digest}
            for pack, digest in zip(runtime.overlays, runtime.overlay_digests, strict=True)
        ],
    }
    return entry | key.rollout_fields()


async def status(request: Request) -> Response:
    ctx = context(request)
    if (denied := check_admin(request, ctx.settings.admin_token)) is not None:
        return denied
    snapshot = ctx.host.active.snapshot()
    keys = sorted(snapshot, key=lambda k: (k.is_revision, k.tenant, str(k.revision_id)))
    health = ctx.host.health
    return JSONResponse(
        {
            "tenants": [_runtime_status(key, snapshot[key]) for key in keys],
            "active": len(snapshot),
            "last_reload": health.last_reload,
            "last_error": health.last_error,
        }
    )


async def reload(request: Request) -> Response:
    """202 after a successful reload; 500 with the error (running packs kept); 501 no source."""
    ctx = context(request)
    if (denied := check_admin(request, ctx.settings.admin_token)) is not None:
        return denied
    if ctx.reloader is None and ctx.reload_source is None:
        return _flat_error(501, "reload handle unavailable")
    try:
        if ctx.reloader is not None:
            await ctx.reloader()
        else:
            assert ctx.reload_source is not None
            async with ctx.reload_lock:
                await reload_all(ctx.host, ctx.reload_source)
    except RunnerError as exc:
        return _flat_error(500, str(exc))
    log.info("pack.reload.requested")
    return JSONResponse({"status": "reload requested"}, 202)


def _str_field(body: dict[str, Any], name: str, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise HttpError(400, "bad_request", f"field `{name}` must be a non-empty string")
    return value


def _pinned_refs(value: Any) -> list[PackRef]:
    if not isinstance(value, list) or not value:
        raise HttpError(400, "bad_request", "field `packs` must be a non-empty list")
    refs = []
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise HttpError(400, "bad_request", f"packs[{index}] must be an object")
        path = _str_field(item, "path")
        digest = item.get("digest")
        if not isinstance(digest, str) or not digest:
            raise HttpError(400, "bad_request", f"packs[{index}] needs a `digest` (sha256:<hex>)")
        refs.append(PackRef(Path(str(path)), digest))
    return refs


def _overlays(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise HttpError(400, "bad_request", "field `overlays` must be a list of paths")
    return list(value)


async def _load(request: Request, body: Any) -> dict[str, Any]:
    ctx = context(request)
    if not isinstance(body, dict):
        raise HttpError(400, "bad_request", "load request must be a JSON object")
    tenant = str(_str_field(body, "tenant"))
    revision = [body.get(k) for k in ("deployment_id", "bundle_id", "revision_id")]
    if any(v is not None for v in revision):
        deployment, bundle, revision_id = (
            str(_str_field(body, k)) for k in ("deployment_id", "bundle_id", "revision_id")
        )
        refs = _pinned_refs(body.get("packs"))
        await ctx.host.load_revision(tenant, deployment, bundle, revision_id, refs)
        runtime = ctx.host.active.load_revision(tenant, deployment, bundle, revision_id)
        key = RuntimeKey.revision(tenant, deployment, bundle, revision_id)
    else:
        path = str(_str_field(body, "path"))
        await ctx.host.load_pack(tenant, path, _overlays(body.get("overlays")))
        runtime = ctx.host.active.load_pack(tenant)
        key = RuntimeKey(tenant)
    assert runtime is not None
    return {"status": "loaded", **_runtime_status(key, runtime)}


async def load(request: Request) -> Response:
    """Load a tenant's pack (``tenant``, ``path``, ``overlays``) or a pinned revision
    (``tenant``, ``deployment_id``, ``bundle_id``, ``revision_id``, ``packs[{path, digest}]``)."""
    ctx = context(request)
    if (denied := check_admin(request, ctx.settings.admin_token)) is not None:
        return denied
    try:
        body = await read_json(request, ctx.settings.limits, "load request")
        return JSONResponse(await _load(request, body))
    except HttpError as exc:
        return _flat_error(exc.status, exc.message)
    except (PackError, ConfigError, FlowError) as exc:
        return _flat_error(422, str(exc))
    except RunnerError as exc:
        return _flat_error(status_for(exc), str(exc))


def routes() -> list[BaseRoute]:
    return [
        Route("/admin/packs/status", status, methods=["GET"]),
        Route("/admin/packs/reload", reload, methods=["POST"]),
        Route("/admin/packs/load", load, methods=["POST"]),
    ]
