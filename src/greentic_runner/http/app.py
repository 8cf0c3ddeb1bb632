"""The Starlette application factory of the runner's HTTP server.

``create_app(host)`` serves an already started host; the caller owns the host and its
stores. On shutdown the app stops reporting ready and waits (up to
``settings.shutdown_timeout_secs``) for running turns before the caller tears the host down.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..clock import SYSTEM_CLOCK, Clock
from ..errors import RunnerError
from ..host import RunnerHost
from ..reload import PackSource
from . import admin, api, chat, health, ingress, openapi
from .context import ServerContext, context
from .dedupe import DedupeStore, MemoryDedupe
from .errors import (
    HttpError,
    InternalErrorMiddleware,
    http_error_handler,
    http_exception_handler,
    runner_error_handler,
)
from .metrics import CONTENT_TYPE, Metrics
from .settings import HttpSettings
from .turn_routes import RunnerApp, TurnRoutes, exact_post_routes
from .turns import TurnRunner

log = logging.getLogger(__name__)


async def metrics_endpoint(request: Request) -> Response:
    return Response(context(request).metrics.render(), media_type=CONTENT_TYPE)


async def shutdown(ctx: ServerContext) -> None:
    """Stop reporting ready, then wait for in-flight turns (bounded by the settings)."""
    ctx.draining = True
    if ctx.turns.in_flight:
        log.info("shutdown: waiting for %d running turn(s)", ctx.turns.in_flight)
    await ctx.turns.drain(ctx.settings.shutdown_timeout_secs)


def create_app(
    host: RunnerHost,
    settings: HttpSettings | None = None,
    *,
    metrics: Metrics | None = None,
    dedupe: DedupeStore | None = None,
    reload_source: PackSource | None = None,
    reloader: Callable[[], Awaitable[Any]] | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> RunnerApp:
    """An ASGI app serving ``host``: activities API, channel adapters, health, admin,
    metrics, OpenAPI and the chat page. ``reload_source`` enables ``/admin/packs/reload``
    (``reload_all`` under the context's reload lock); ``reloader``, when given, is awaited
    instead (e.g. a pack-index watcher's ``reload``, which takes that lock itself)."""
    settings = settings or HttpSettings()
    metrics = metrics or Metrics()
    metrics.watch(host.active)
    ctx = ServerContext(
        host=host,
        settings=settings,
        metrics=metrics,
        dedupe=dedupe or MemoryDedupe(settings.dedupe_max_entries, settings.dedupe_ttl_secs, clock),
        turns=TurnRunner(host, metrics, settings.limits.turn_timeout_secs),
        reload_source=reload_source,
        reloader=reloader,
        clock=clock,
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await shutdown(ctx)

    routes = [  # turn routes first: Starlette tries routes in order on every request
        *api.routes(),
        *ingress.routes(),
        *health.routes(),
        *admin.routes(),
        *openapi.routes(),
        *chat.routes(),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
    ]
    handlers: dict[Any, Any] = {
        HTTPException: http_exception_handler,
        HttpError: http_error_handler,
        RunnerError: runner_error_handler,
    }
    return RunnerApp(
        ctx=ctx,
        turn_routes=TurnRoutes(exact_post_routes(routes), handlers),
        routes=routes,
        middleware=[Middleware(InternalErrorMiddleware)],
        exception_handlers=handlers,
        lifespan=lifespan,
    )
