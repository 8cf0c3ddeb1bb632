"""Plumbing shared by the channel adapters: reading, verifying, dedupe, running the turn."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from ..context import ServerContext, context
from ..dedupe import Claim
from ..errors import HttpError, error_response
from ..limits import parse_json, read_body
from ..outbound import Outbound, outbound
from .canonical import ChannelMessage, request_metadata, unix_rfc3339


@dataclass(slots=True)
class Inbound:
    """A channel request after tenant resolution and the size-capped body read."""

    ctx: ServerContext
    request: Request
    channel: str
    tenant: str
    body: bytes

    def verify(self, check: Callable[[], None]) -> None:
        """Run a signature check; a failure is counted and re-raised (HTTP 401)."""
        try:
            check()
        except HttpError:
            self.ctx.metrics.signature_failures.labels(self.channel).inc()
            raise

    def json(self) -> object:
        return parse_json(self.body, self.ctx.settings.limits, f"{self.channel} payload")

    def now(self) -> str:
        """The server's time, as a canonical payload timestamp."""
        return unix_rfc3339(self.ctx.clock.now())

    def metadata(self) -> dict[str, object]:
        """The canonical payload's ``metadata``: visible request headers and the peer IP."""
        scope = self.request.scope
        client = scope.get("client")
        return request_metadata(scope["headers"], client[0] if client else None)

    async def converse(self, message: ChannelMessage) -> Outbound:
        """Run the message's turn; the replies as channel-neutral messages."""
        replies = await self.ctx.turns.run(self.tenant, message.activity(), self.channel)
        return outbound(replies)

    async def once(
        self,
        event_id: str | None,
        run: Callable[[], Awaitable[Response]],
        duplicate: Callable[[Claim], Response] | None = None,
    ) -> Response:
        """Run ``run`` once per ``event_id`` (per tenant and channel).

        A redelivery of a finished event gets the remembered response; one that arrives while
        the first is still running gets ``duplicate(claim)`` (default: 503 with
        ``Retry-After``, so the channel delivers it again later — by then it either gets the
        remembered response or, if the process running it died, runs it: acknowledging an
        in-flight duplicate would lose the event in that case). A failed or 5xx run is
        forgotten so a retry runs again.
        """
        if event_id is None:
            return await run()
        key = f"{self.tenant}:{self.channel}:{event_id}"
        dedupe = self.ctx.dedupe
        claim = await dedupe.claim(key)
        if claim.state != "new":
            self.ctx.metrics.dedupe_hits.labels(self.channel).inc()
            if claim.state == "done":
                return restore_response(claim.value)
            return duplicate(claim) if duplicate else in_progress(event_id)
        try:
            response = await run()
        except BaseException:
            await dedupe.release(key)
            raise
        if response.status_code >= 500:
            await dedupe.release(key)
        else:
            await dedupe.complete(key, snapshot_response(response))
        return response


IN_PROGRESS_RETRY_SECS = 5


def in_progress(event_id: str) -> Response:
    """The answer to a redelivery whose first delivery is still running."""
    return error_response(
        503,
        "in_progress",
        f"event {event_id} is being processed; deliver it again later",
        {"Retry-After": str(IN_PROGRESS_RETRY_SECS)},
    )


async def inbound(request: Request, channel: str) -> Inbound:
    ctx = context(request)
    tenant = ctx.settings.routing.resolve(request)
    body = await read_body(request, ctx.settings.limits)
    return Inbound(ctx, request, channel, tenant, body)


_DERIVED_HEADERS = (b"content-length", b"content-type")


def snapshot_response(response: Response) -> dict[str, object]:
    """A JSON-compatible copy of a response, for the dedupe store: the body as ``text``
    when it is UTF-8 (JSON replies always are), else base64 as ``body``."""
    headers = {}
    for name, value in response.raw_headers:
        if name not in _DERIVED_HEADERS:  # JSON replies have no others
            headers[name.decode("latin-1")] = value.decode("latin-1")
    snapshot: dict[str, object] = {
        "status": response.status_code,
        "media_type": response.media_type,
        "headers": headers,
    }
    body = bytes(response.body)  # the same object when it already is bytes
    try:
        snapshot["text"] = body.decode()
    except UnicodeDecodeError:
        snapshot["body"] = base64.b64encode(body).decode()
    return snapshot


def restore_response(value: object) -> Response:
    assert isinstance(value, dict)
    text = value.get("text")
    return Response(
        text.encode() if isinstance(text, str) else base64.b64decode(value["body"]),
        status_code=int(value["status"]),
        headers=dict(value["headers"]),
        media_type=value["media_type"],
    )
