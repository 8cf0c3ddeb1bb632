"""Microsoft Teams: ``POST /teams/activities`` (Bot Framework activities).

Session anchor ``replyToId``, else ``conversation.id``, else the Teams channel id (spec §9.4);
team and channel ids come from ``channelData``. Deduped by the activity ``id``.
Bot Framework JWTs are not verified here (that needs Microsoft's signing keys, fetched over
the network): terminate Teams traffic at an authenticating gateway.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from . import botframework
from .common import inbound


async def activities(request: Request) -> Response:
    return await botframework.handle(await inbound(request, "teams"), thread_from_reply=True)
