"""The OpenAPI 3.1 document of the sync API, built from the limits actually enforced."""

from __future__ import annotations

from typing import Any

import memento_syncd
from memento_syncd.core.limits import Limits

_TS = {"type": "string", "format": "date-time", "description": "RFC 3339, UTC on output"}
_NULLABLE_TS = {"type": ["string", "null"], "format": "date-time"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _schemas(limits: Limits) -> dict[str, Any]:
    ident = {"type": "string", "minLength": 1, "maxLength": limits.max_identifier_chars}
    cursor = {
        "type": ["string", "null"],
        "description": "Opaque cursor from an earlier response; null or absent = the beginning.",
    }
    return {
        "Observation": {
            "type": "object",
            "required": [
                "sync_id",
                "project",
                "type",
                "title",
                "content",
                "topic_key",
                "scope",
                "content_hash",
                "created_at",
                "updated_at",
                "deleted_at",
                "version",
                "author",
            ],
            "properties": {
                "sync_id": ident,
                "project": ident,
                "type": ident,
                "title": {"type": "string"},
                "content": {"type": "string"},
                "topic_key": {"type": ["string", "null"]},
                "scope": {"enum": ["project", "personal"]},
                "content_hash": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                "created_at": _TS,
                "updated_at": _TS,
                "deleted_at": _NULLABLE_TS,
                "version": {"type": "integer", "minimum": 1},
                "author": {"type": "string", "description": "member who created it"},
                "withdrawn": {
                    "type": "boolean",
                    "description": "present (true) when its owner made this once shared"
                    " observation personal: a tombstone without its text",
                },
            },
        },
        "PushedObservation": {
            "type": "object",
            "required": ["sync_id", "type", "title", "content", "updated_at"],
            "properties": {
                "sync_id": ident,
                "project": {
                    **ident,
                    "type": ["string", "null"],
                    "description": "absent or null: project_id; else must equal it",
                },
                "type": ident,
                "title": {"type": "string", "maxLength": limits.max_title_chars},
                "content": {"type": "string"},
                "topic_key": {"type": ["string", "null"], "maxLength": limits.max_topic_key_chars},
                "scope": {
                    "enum": ["project", "personal", None],
                    "default": "project",
                    "description": "absent or null: project",
                },
                "content_hash": {
                    "type": ["string", "null"],
                    "description": "if sent, must be the hex SHA-256 of content's UTF-8",
                },
                "created_at": {**_NULLABLE_TS, "description": "defaults to updated_at"},
                "updated_at": _TS,
                "deleted_at": _NULLABLE_TS,
                "base_version": {
                    "type": ["integer", "null"],
                    "minimum": 1,
                    "description": "server version this edit is based on; null or absent = new",
                },
            },
        },
        "PushRequest": {
            "type": "object",
            "required": ["project_id", "observations"],
            "properties": {
                "cursor": cursor,
                "project_id": ident,
                "device_id": {**ident, "description": "stable id of the sending device"},
                "observations": {
                    "type": "array",
                    "maxItems": limits.max_batch,
                    "items": _ref("PushedObservation"),
                },
            },
        },
        "PushResult": {
            "type": "object",
            "required": ["sync_id", "status", "version"],
            "properties": {
                "sync_id": {"type": "string"},
                "status": {"enum": ["inserted", "updated", "unchanged", "conflict"]},
                "version": {"type": "integer", "minimum": 1},
                "server": {**_ref("Observation"), "description": "present for conflicts"},
            },
        },
        "PushResponse": {
            "type": "object",
            "required": ["cursor", "synced", "conflicts", "results"],
            "properties": {
                "cursor": {"type": "string", "description": "log position after this push"},
                "synced": {"type": "integer", "minimum": 0},
                "conflicts": {"type": "integer", "minimum": 0},
                "results": {"type": "array", "items": _ref("PushResult")},
            },
        },
        "PullRequest": {
            "type": "object",
            "required": ["project_id"],
            "properties": {
                "cursor": cursor,
                "project_id": ident,
                "limit": {
                    "type": ["integer", "null"],
                    "minimum": 1,
                    "description": f"page size; default {limits.default_page},"
                    f" at most {limits.max_page}",
                },
            },
        },
        "PullResponse": {
            "type": "object",
            "required": ["cursor", "observations", "has_more"],
            "properties": {
                "cursor": {"type": "string"},
                "observations": {"type": "array", "items": _ref("Observation")},
                "has_more": {"type": "boolean"},
            },
        },
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "details": {"type": "object"},
                    },
                }
            },
        },
        "Projects": {
            "type": "object",
            "required": ["projects"],
            "properties": {"projects": {"type": "array", "items": {"type": "string"}}},
        },
        "Health": {
            "type": "object",
            "required": ["status", "version"],
            "properties": {"status": {"const": "ok"}, "version": {"type": "string"}},
        },
    }


def _json(schema: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(status): _json("Error", "error") for status in statuses}


def _operation(summary: str, request: str, response: str) -> dict[str, Any]:
    return {
        "summary": summary,
        "security": [{"bearer": []}],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _ref(request)}},
        },
        "responses": {
            "200": _json(response, "ok"),
            **_errors(400, 401, 403, 409, 413, 415, 422),
        },
    }


def openapi_document(limits: Limits) -> dict[str, Any]:
    """The OpenAPI 3.1 description of every route the server serves."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "memento-syncd sync API", "version": memento_syncd.__version__},
        "components": {
            "schemas": _schemas(limits),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "paths": {
            "/api/sync/push": {
                "post": _operation(
                    "Push a batch of changes of one project", "PushRequest", "PushResponse"
                )
            },
            "/api/sync/pull": {
                "post": _operation(
                    "Pull a page of a project's changes after a cursor",
                    "PullRequest",
                    "PullResponse",
                )
            },
            "/api/sync/projects": {
                "get": {
                    "summary": "The team's projects visible to the caller",
                    "security": [{"bearer": []}],
                    "responses": {"200": _json("Projects", "ok"), **_errors(401)},
                }
            },
            "/api/sync/stream": {
                "get": {
                    "summary": "WebSocket of {project, seq} messages after each commit of the"
                    " caller's team (upgrade required)",
                    "security": [{"bearer": []}],
                    "responses": {
                        "101": {"description": "switching to WebSocket"},
                        **_errors(401),
                    },
                }
            },
            "/api/health": {
                "get": {"summary": "Liveness", "responses": {"200": _json("Health", "ok")}}
            },
            "/api/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {
                        "200": {"description": "ok", "content": {"application/json": {}}}
                    },
                }
            },
        },
    }
