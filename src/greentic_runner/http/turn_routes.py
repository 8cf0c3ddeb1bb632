"""The channel routes' short path: exact-path ``POST`` turn routes served without Starlette's
router and exception layers.

Channel webhooks are the server's hot path: every chat message is one. Starlette would try
the routes in order, wrap the endpoint in its request/response adapter and pass the request
through two exception middlewares; for a short turn that costs about as much as the turn.
:class:`RunnerApp` asks :class:`TurnRoutes` first, before any middleware: it looks the path
up in a dict and calls the same endpoint with the same :class:`~starlette.requests.Request`,
mapping errors with the app's own exception handlers. Anything else (other methods, paths with
parameters, unknown paths) goes down the stack unchanged, so behaviour is identical.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from .context import ServerContext
from .errors import error_response

log = logging.getLogger(__name__)

Endpoint = Callable[[Request], Awaitable[Response]]
Handler = Callable[[Request, Exception], Awaitable[Response]]


def exact_post_routes(routes: Sequence[BaseRoute]) -> dict[str, Endpoint]:
    """``path → endpoint`` of the routes that only take ``POST`` on a parameterless path."""
    found: dict[str, Endpoint] = {}
    for route in routes:
        if isinstance(route, Route) and "{" not in route.path and route.methods == {"POST"}:
            found.setdefault(route.path, route.endpoint)
    return found


class TurnRoutes:
    """The short path's table: ``path → endpoint`` and the app's exception handlers."""

    def __init__(
        self, routes: Mapping[str, Endpoint], handlers: Mapping[type[Exception], Handler]
    ) -> None:
        self.routes = dict(routes)
        self.handlers = tuple(handlers.items())

    async def handled(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """Answer the request when it is one of ours; False to let the app have it."""
        if scope["type"] != "http" or scope["method"] != "POST" or scope.get("root_path"):
            return False
        endpoint = self.routes.get(scope["path"])
        if endpoint is None:
            return False
        request = Request(scope, receive)
        try:
            response = await endpoint(request)
        except Exception as exc:
            response = await self._error_response(request, exc)
        await response(scope, receive, send)
        return True

    async def _error_response(self, request: Request, exc: Exception) -> Response:
        for kind, handler in self.handlers:
            if isinstance(exc, kind):
                return await handler(request, exc)
        log.exception("unhandled error on POST %s", request.url.path)
        return error_response(500, "internal_error", "internal server error")


class RunnerApp(Starlette):
    """Starlette that answers the turn routes before its own middleware stack (whose
    outermost layer, ServerErrorMiddleware, would wrap every reply's send). ``ctx`` is
    the ServerContext every handler reads (:func:`~.context.context`)."""

    def __init__(self, *, ctx: ServerContext, turn_routes: TurnRoutes, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ctx = ctx
        self.turn_routes = turn_routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self  # what Starlette sets first; endpoints read it
        if not await self.turn_routes.handled(scope, receive, send):
            await super().__call__(scope, receive, send)
