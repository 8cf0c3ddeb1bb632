"""RunnerApp / TurnRoutes: the short path for POST channel routes answers exactly as Starlette would."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from greentic_runner.errors import RoutingError, RunnerError
from greentic_runner.http.errors import (
    HttpError,
    http_error_handler,
    http_exception_handler,
    runner_error_handler,
)
from greentic_runner.http.turn_routes import RunnerApp, TurnRoutes, exact_post_routes


async def ok(request: Request) -> Response:
    return PlainTextResponse("ok")


async def bad_request(request: Request) -> Response:
    raise HttpError(400, "bad_request", "nope")


async def no_flow(request: Request) -> Response:
    raise RoutingError("flow x not registered for pack p")


async def broken(request: Request) -> Response:
    raise ValueError("bug")


ROUTES = [
    Route("/ok", ok, methods=["POST"]),
    Route("/bad", bad_request, methods=["POST"]),
    Route("/no-flow", no_flow, methods=["POST"]),
    Route("/broken", broken, methods=["POST"]),
    Route("/hook/{flow}", ok, methods=["POST"]),
    Route("/both", ok, methods=["GET", "POST"]),
]
HANDLERS: dict[Any, Any] = {
    HTTPException: http_exception_handler,
    HttpError: http_error_handler,
    RunnerError: runner_error_handler,
}


def test_only_parameterless_post_only_routes_take_the_short_path() -> None:
    assert sorted(exact_post_routes(ROUTES)) == ["/bad", "/broken", "/no-flow", "/ok"]


@pytest.fixture
def client() -> httpx.AsyncClient:
    app = RunnerApp(
        ctx=None,  # these routes never read the server context
        turn_routes=TurnRoutes(exact_post_routes(ROUTES), HANDLERS),
        routes=ROUTES,
        exception_handlers=HANDLERS,
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def test_errors_map_like_the_app_handlers(client: httpx.AsyncClient) -> None:
    async with client:
        assert (await client.post("/ok")).text == "ok"
        bad = await client.post("/bad")
        assert (bad.status_code, bad.json()["error"]["code"]) == (400, "bad_request")
        missing = await client.post("/no-flow")
        assert missing.status_code == 404
        assert "flow x not registered" in missing.json()["error"]["message"]
        broken = await client.post("/broken")
        assert broken.status_code == 500
        assert broken.json() == {
            "error": {"code": "internal_error", "message": "internal server error"}
        }
        assert "bug" not in broken.text


async def test_other_methods_and_paths_go_through_starlette(client: httpx.AsyncClient) -> None:
    async with client:
        assert (await client.get("/ok")).status_code == 405
        assert (await client.post("/hook/abc")).text == "ok"
        assert (await client.get("/both")).text == "ok"
        assert (await client.post("/unknown")).status_code == 404
