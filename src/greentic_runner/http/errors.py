"""HTTP errors: one JSON shape, ``{"error": {"code": ..., "message": ...}}``, for every route.

:class:`HttpError` is raised by handlers for HTTP-level problems (bad JSON, body too large,
bad signature); :class:`~greentic_runner.errors.RunnerError` subclasses coming out of the host
are mapped to a status by :func:`status_for`. Admin routes keep the reference's flat
``{"error": "<message>"}`` bodies (spec §9.2, §9.3) and build them in ``admin.py``.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import (
    ActivityError,
    RoutingError,
    RunnerError,
    StoreError,
    TenantError,
)

log = logging.getLogger(__name__)


class JSONResponse(Response):
    """A JSON response serialised with orjson (non-str keys and numpy-free values only)."""

    media_type = "application/json"

    def __init__(
        self,
        content: Any,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        if headers is not None or background is not None or status_code in (204, 304):
            super().__init__(content, status_code, headers, self.media_type, background)
            return
        # The common case without Starlette's general header assembly (every reply).
        self.status_code = status_code
        self.background = None
        self.body = orjson.dumps(content)
        self.raw_headers = [
            (b"content-length", str(len(self.body)).encode()),
            (b"content-type", b"application/json"),
        ]

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class HttpError(Exception):
    """An HTTP-level failure with a status, a stable machine code and a human message."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message), status, headers)


# Most specific first: SessionError is a StoreError, so it must not fall through to 500.
_STATUS: tuple[tuple[type[RunnerError], int], ...] = (
    (ActivityError, 422),
    (TenantError, 404),
    (RoutingError, 404),
    (StoreError, 503),
)


def status_for(exc: RunnerError) -> int:
    """The HTTP status of a host error: 422 activity, 404 tenant/routing, 503 store, else 500."""
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def runner_error_response(exc: RunnerError) -> JSONResponse:
    status = status_for(exc)
    if status >= 500:
        log.warning("request failed: %s", exc, extra={"code": exc.code})
    return error_response(status, exc.code, str(exc))


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 (unknown route, wrong method) in the JSON error shape."""
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else code
    if exc.status_code == 404:
        message = f"no route for {request.method} {request.url.path}"
    return error_response(exc.status_code, code, message, dict(exc.headers or {}))


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HttpError)
    return error_response(exc.status, exc.code, exc.message, exc.headers)


async def runner_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RunnerError)
    return runner_error_response(exc)


class InternalErrorMiddleware:
    """Turns any unexpected exception into a JSON 500 without a traceback in the body.

    The traceback goes to the log. Unlike Starlette's ServerErrorMiddleware the exception is
    not re-raised, so the server logs it once and a test client sees the real response.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            response = error_response(500, "internal_error", "internal server error")
            await response(scope, receive, send)
