"""``GET /openapi.json``: an OpenAPI 3.1 description of every route (kept by hand; a test
checks that it names exactly the routes the app serves)."""

from __future__ import annotations

from functools import cache
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .. import __version__
from .errors import JSONResponse


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERROR = _json(_ref("Error"), "Error")
_ADMIN_ERROR = _json(_ref("AdminError"), "Admin error (reference shape)")
_ANY = {"type": "object", "additionalProperties": True}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(code): _ERROR for code in codes}


def _admin(operation: dict[str, Any]) -> dict[str, Any]:
    responses = operation.setdefault("responses", {})
    for code in ("401", "403", "500"):
        responses.setdefault(code, _ADMIN_ERROR)
    operation["security"] = [{"adminToken": []}, {}]
    operation["tags"] = ["admin"]
    return operation


def _channel(summary: str, request: dict[str, Any], ok: str, *errors: int) -> dict[str, Any]:
    return {
        "summary": summary,
        "tags": ["channels"],
        "requestBody": request,
        "responses": {
            "200": _json(_ANY, ok),
            **_errors(400, 401, 404, 413, 422, 500, 503, *errors),
        },
    }


_BODY_JSON = {"required": True, "content": {"application/json": {"schema": _ANY}}}
_BODY_FORM = {
    "required": True,
    "content": {
        "application/x-www-form-urlencoded": {
            "schema": {"type": "object", "properties": {"payload": {"type": "string"}}}
        }
    },
}

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            }
        },
    },
    "AdminError": {"type": "object", "properties": {"error": {"type": "string"}}},
    "ActivityKind": {
        "type": "object",
        "required": ["kind"],
        "properties": {
            "kind": {"enum": ["message", "custom"]},
            "action": {"type": "string"},
            "flow_type": {"type": "string"},
        },
    },
    "Activity": {
        "type": "object",
        "description": "Spec §3; unknown fields are ignored, a missing kind means message.",
        "properties": {
            "kind": _ref("ActivityKind"),
            **{
                name: {"type": "string"}
                for name in (
                    "tenant",
                    "pack_id",
                    "flow_id",
                    "flow_type",
                    "session_id",
                    "provider_id",
                    "messaging_endpoint_id",
                    "user_id",
                    "channel_id",
                    "conversation_id",
                )
            },
            "welcome_flow_hint": {
                "type": "object",
                "properties": {"pack_id": {"type": "string"}, "flow_id": {"type": "string"}},
            },
            "payload": {},
        },
    },
    "Replies": {
        "type": "object",
        "properties": {"activities": {"type": "array", "items": _ref("Activity")}},
    },
    "Health": {
        "type": "object",
        "properties": {
            "status": {"enum": ["ok", "degraded"]},
            "telemetry_ready": {"type": "boolean"},
            "secrets_ready": {"type": "boolean"},
            "active_packs": {"type": "integer"},
            "last_reload": {"type": ["string", "null"]},
            "last_error": {"type": ["string", "null"]},
        },
    },
}


@cache
def openapi_document() -> dict[str, Any]:
    tenant = {"name": "tenant", "in": "path", "required": True, "schema": {"type": "string"}}
    flow = {"name": "flow_id", "in": "path", "required": True, "schema": {"type": "string"}}
    webhook_op = {
        "summary": "Run a webhook flow with the whole request",
        "tags": ["channels"],
        "parameters": [
            flow,
            {"name": "Idempotency-Key", "in": "header", "schema": {"type": "string"}},
        ],
        "responses": {
            "200": {"description": "The flow's response (status, headers and body it chose)"},
            **_errors(400, 403, 404, 409, 413, 500, 503),
        },
    }
    paths: dict[str, Any] = {
        "/tenants/{tenant}/activities": {
            "post": {
                "summary": "Run one turn for a tenant",
                "tags": ["activities"],
                "parameters": [tenant],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("Activity")}},
                },
                "responses": {
                    "200": _json(_ref("Replies"), "Reply activities"),
                    **_errors(400, 404, 413, 422, 500, 503),
                },
            }
        },
        "/tenants": {
            "get": {
                "summary": "Loaded tenants, their packs and flows",
                "tags": ["activities"],
                "responses": {"200": _json(_ANY, "Tenants")},
            }
        },
        "/healthz": {
            "get": {
                "summary": "Health (spec §9.1)",
                "tags": ["ops"],
                "responses": {"200": _json(_ref("Health"), "Health")},
            }
        },
        "/readyz": {
            "get": {
                "summary": "Readiness for traffic",
                "tags": ["ops"],
                "responses": {"200": _json(_ANY, "Ready"), "503": _json(_ANY, "Not ready")},
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "tags": ["ops"],
                "responses": {"200": {"description": "Prometheus text format"}},
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "tags": ["ops"],
                "responses": {"200": _json(_ANY, "OpenAPI")},
            }
        },
        "/chat": {
            "get": {
                "summary": "Browser chat page",
                "tags": ["ops"],
                "responses": {"200": {"description": "HTML page"}},
            }
        },
        "/admin/packs/status": {
            "get": _admin({"summary": "Loaded packs", "responses": {"200": _json(_ANY, "Status")}})
        },
        "/admin/packs/reload": {
            "post": _admin(
                {
                    "summary": "Reload every tenant from the configured source",
                    "responses": {
                        "202": _json(_ANY, "Reloaded"),
                        "501": _ADMIN_ERROR,
                    },
                }
            )
        },
        "/admin/packs/load": {
            "post": _admin(
                {
                    "summary": "Load a tenant's pack or a pinned revision",
                    "requestBody": _BODY_JSON,
                    "responses": {
                        "200": _json(_ANY, "Loaded"),
                        "400": _ADMIN_ERROR,
                        "404": _ADMIN_ERROR,
                        "422": _ADMIN_ERROR,
                    },
                }
            )
        },
        "/messaging/telegram/webhook": {
            "post": _channel("Telegram update", _BODY_JSON, "sendMessage webhook reply")
        },
        "/webchat/activities": {
            "post": _channel("WebChat / Direct Line activity", _BODY_JSON, "ExpectedReplies")
        },
        "/teams/activities": {
            "post": _channel("Microsoft Teams activity", _BODY_JSON, "ExpectedReplies")
        },
        "/slack/events": {"post": _channel("Slack Events API", _BODY_JSON, "Slack messages")},
        "/slack/interactive": {
            "post": _channel("Slack interactivity", _BODY_FORM, "Slack messages")
        },
        "/whatsapp/webhook": {
            "get": {
                "summary": "WhatsApp subscription verification",
                "tags": ["channels"],
                "responses": {"200": {"description": "hub.challenge"}, "403": _ERROR},
            },
            "post": _channel("WhatsApp Cloud API webhook", _BODY_JSON, "Cloud API messages"),
        },
        "/webex/webhook": {"post": _channel("Webex webhook", _BODY_JSON, "Webex messages")},
        "/webhook/{flow_id}": {
            method: dict(webhook_op)
            for method in ("get", "post", "put", "patch", "delete", "head", "options")
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "greentic-runner", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {"adminToken": {"type": "http", "scheme": "bearer"}},
        },
    }


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document())


def routes() -> list[BaseRoute]:
    return [Route("/openapi.json", openapi, methods=["GET"])]
