"""WebChat / Direct Line: ``POST /webchat/activities`` (Bot Framework activities).

Session anchor ``conversation.id``, user ``from.id``; deduped by the activity ``id``. No
signature: put the route behind the Direct Line service or an authenticating proxy.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from . import botframework
from .common import inbound


async def activities(request: Request) -> Response:
    return await botframework.handle(await inbound(request, "webchat"), thread_from_reply=False)
