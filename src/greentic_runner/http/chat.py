"""``GET /chat``: the browser chat page (static, dependency-free HTML + JS)."""

from __future__ import annotations

from functools import cache
from importlib import resources

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

# The page only talks to this origin; no inline content comes from elsewhere.
_CSP = (
    "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src * data:; connect-src 'self'"
)


@cache
def chat_page() -> str:
    return resources.files("greentic_runner.http").joinpath("static/chat.html").read_text("utf-8")


async def chat(request: Request) -> Response:
    return HTMLResponse(
        chat_page(), headers={"content-security-policy": _CSP, "cache-control": "no-cache"}
    )


def routes() -> list[BaseRoute]:
    return [Route("/chat", chat, methods=["GET"])]
