"""The channel routes' short path: exact-path ``POST`` turn routes served without Starlette's
router and exception layers.

Channel webhooks are the server's hot path: every chat message is one. Starlette would try
the routes in order, wrap the endpoint in its request/response adapter and pass the request
through two exception middlewares; for a short turn that costs about as much as the turn.
:class:`TurnRoutes` sits first in the middleware stack, looks the path up in a dict and
calls the same endpoint with the same :class:`~starlette.requests.Request`, mapping errors
with the app's own exception handlers. Anything else (other methods, paths with
parameters, unknown paths) goes down the stack unchanged, so behaviour is identical.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

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
    """ASGI middleware serving ``routes`` directly (see the module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        routes: Mapping[str, Endpoint],
        handlers: Mapping[type[Exception], Handler],
    ) -> None:
        self.app = app
        self.routes = dict(routes)
        self.handlers = tuple(handlers.items())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            endpoint = self.routes.get(scope["path"])
            if endpoint is not None:
                request = Request(scope, receive)
                response = await self._respond(endpoint, request)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _respond(self, endpoint: Endpoint, request: Request) -> Response:
        try:
            return await endpoint(request)
        except Exception as exc:
            for kind, handler in self.handlers:
                if isinstance(exc, kind):
                    return await handler(request, exc)
            log.exception("unhandled error on POST %s", request.url.path)
            return error_response(500, "internal_error", "internal server error")
