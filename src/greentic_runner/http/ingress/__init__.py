"""Channel adapters: one module per channel, each mapping the channel's request to the
canonical adapter payload (:mod:`.canonical`) and the turn's replies back to its format."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from . import slack, teams, telegram, webchat, webex, webhook, whatsapp

WEBHOOK_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def routes() -> list[BaseRoute]:
    return [
        Route("/messaging/telegram/webhook", telegram.webhook, methods=["POST"]),
        Route("/webchat/activities", webchat.activities, methods=["POST"]),
        Route("/teams/activities", teams.activities, methods=["POST"]),
        Route("/slack/events", slack.events, methods=["POST"]),
        Route("/slack/interactive", slack.interactive, methods=["POST"]),
        Route("/whatsapp/webhook", whatsapp.verify, methods=["GET"]),
        Route("/whatsapp/webhook", whatsapp.webhook, methods=["POST"]),
        Route("/webex/webhook", webex.webhook, methods=["POST"]),
        Route("/webhook/{flow_id}", webhook.dispatch, methods=WEBHOOK_METHODS),
    ]
