"""The bare echo app ``http-webchat`` compares against: Starlette, one route, no runner.

``python -m bench.servers.bare_echo --port N`` serves ``POST /webchat/activities``: it reads
the Bot Framework activity and answers the ExpectedReplies shape the runner's WebChat
ingress answers, ``{"activities": [{"type": "message", "text": "You said: <text>", …}]}``,
under the same uvicorn settings as ``greentic-runner serve`` (uvloop, httptools, no access
log, one worker).
"""

from __future__ import annotations

import argparse

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


async def activities(request: Request) -> Response:
    activity = await request.json()
    reply = {
        "type": "message",
        "text": f"You said: {activity.get('text', '')}",
        "inputHint": "acceptingInput",
    }
    return JSONResponse({"activities": [reply]})


app = Starlette(routes=[Route("/webchat/activities", activities, methods=["POST"])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
