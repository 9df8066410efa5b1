"""Wire messages of the sync API: strict parsing of requests, plain dicts for responses.

Parsing never trusts a type: every field is checked and every error names the field.
Unknown fields are ignored so that newer clients can talk to this server.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from memento_syncd.core.errors import InvalidInput
from memento_syncd.core.hashing import content_hash
from memento_syncd.core.limits import Limits
from memento_syncd.core.observation import SCOPES, IncomingChange, Observation
from memento_syncd.core.timestamps import normalize_timestamp

WIRE_FIELDS = (
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
)


# Unicode category Cc exactly: C0 controls, DEL and C1 controls.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True, slots=True)
class PushRequest:
    """A validated push: the changes of one project from one device."""

    cursor: str | None
    project_id: str
    device_id: str
    changes: tuple[IncomingChange, ...]


@dataclass(frozen=True, slots=True)
class PullRequest:
    """A validated pull: a page of one project after ``cursor`` (None = from the start)."""

    cursor: str | None
    project_id: str
    limit: int


def _require_object(value: object, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(field, f"must be a JSON object, not {_json_type(value)}")
    return value


def _json_type(value: object) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer"}
    if value is None:
        return "null"
    if isinstance(value, bytes):  # an application row's BLOB (JSON has none)
        return "a BLOB"
    return names.get(type(value), "number")


def _text(value: object, field: str, max_chars: int) -> str:
    """A string that encodes as UTF-8 (no lone surrogates) within ``max_chars``."""
    if not isinstance(value, str):
        raise InvalidInput(field, f"must be a string, not {_json_type(value)}")
    if len(value) > max_chars:
        raise InvalidInput(field, f"is longer than {max_chars} characters", too_large=True)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(
            field, "contains characters that are not valid Unicode (or bytes that are not UTF-8)"
        ) from exc
    return value


def utf8_text(values: tuple[object, ...]) -> bool:
    """True if every value is None or text that is UTF-8: an application row may hold a
    BLOB, or bytes that are not UTF-8 (``store.db`` reads those as lone surrogates)."""
    for value in values:
        if value is None or (isinstance(value, str) and value.isascii()):
            continue
        if not isinstance(value, str):
            return False
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
    return True


def utf8_size(*texts: str) -> int:
    """How many bytes ``texts`` take in UTF-8 (what a JSON answer written without ASCII
    escapes holds of them, escapes of quotes and control characters aside)."""
    return sum(len(text) if text.isascii() else len(text.encode("utf-8")) for text in texts)


def _identifier(value: object, field: str, max_chars: int) -> str:
    """A non-empty one-line name: no control characters, no surrounding blanks."""
    text = _text(value, field, max_chars)
    if not text or text.strip() != text:
        raise InvalidInput(field, "must be non-empty and have no leading or trailing blanks")
    if _CONTROL.search(text):
        raise InvalidInput(field, "must not contain control characters")
    return text


def check_identifier(value: object, field: str, max_chars: int = 200) -> str:
    """Validate a name (project, team, member) by the same rules as the API."""
    return _identifier(value, field, max_chars)


def _optional_text(value: object, field: str, max_chars: int) -> str | None:
    return None if value is None else _text(value, field, max_chars)


def _timestamp(value: object, field: str) -> str:
    text = _text(value, field, 64)
    try:
        return normalize_timestamp(text)
    except ValueError as exc:
        raise InvalidInput(
            field, "must be an RFC 3339 timestamp such as 2025-01-15T10:30:00Z"
        ) from exc


def _optional_int(value: object, field: str, minimum: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(field, f"must be an integer, not {_json_type(value)}")
    if value < minimum or value > 2**62:
        raise InvalidInput(field, f"must be between {minimum} and 2**62")
    return value


def _cursor(value: object, field: str) -> str | None:
    return None if value is None else _text(value, field, 200)


def parse_change(raw: object, field: str, project_id: str, limits: Limits) -> IncomingChange:
    """Validate one pushed observation; ``project`` defaults to the request's project."""
    obj = _require_object(raw, field)
    for required in ("sync_id", "type", "title", "content", "updated_at"):
        if required not in obj:
            raise InvalidInput(f"{field}.{required}", "is required")
    ident = limits.max_identifier_chars
    # A field with a default may be absent or null alike (clients that write every field).
    sent_project = obj.get("project")
    project = _identifier(
        project_id if sent_project is None else sent_project, f"{field}.project", ident
    )
    if project != project_id:
        raise InvalidInput(f"{field}.project", "must equal the request's project_id")
    content = _text(obj["content"], f"{field}.content", limits.max_observation_bytes)
    title = _text(obj["title"], f"{field}.title", limits.max_title_chars)
    topic_key = _optional_text(
        obj.get("topic_key"), f"{field}.topic_key", limits.max_topic_key_chars
    )
    size = (
        len(content.encode("utf-8"))
        + len(title.encode("utf-8"))
        + len((topic_key or "").encode("utf-8"))
    )
    if size > limits.max_observation_bytes:
        raise InvalidInput(
            field,
            f"observation is larger than {limits.max_observation_bytes} bytes",
            too_large=True,
        )
    digest = content_hash(content)
    sent_hash = obj.get("content_hash")
    if sent_hash is not None and sent_hash != digest:
        raise InvalidInput(f"{field}.content_hash", "does not match the SHA-256 of content")
    sent_scope = obj.get("scope")
    scope = "project" if sent_scope is None else sent_scope
    if scope not in SCOPES:
        raise InvalidInput(f"{field}.scope", "must be 'project' or 'personal'")
    updated_at = _timestamp(obj["updated_at"], f"{field}.updated_at")
    created = obj.get("created_at")
    deleted = obj.get("deleted_at")
    observation = Observation(
        sync_id=_identifier(obj["sync_id"], f"{field}.sync_id", ident),
        project=project,
        type=_identifier(obj["type"], f"{field}.type", ident),
        title=title,
        content=content,
        topic_key=topic_key,
        scope=str(scope),
        content_hash=digest,
        created_at=updated_at if created is None else _timestamp(created, f"{field}.created_at"),
        updated_at=updated_at,
        deleted_at=None if deleted is None else _timestamp(deleted, f"{field}.deleted_at"),
    )
    base = _optional_int(obj.get("base_version"), f"{field}.base_version", 1)
    return IncomingChange(
        observation=observation, base_version=base, created_at_sent=created is not None
    )


def parse_push_request(raw: object, limits: Limits) -> PushRequest:
    """Validate a push request body; raises ``InvalidInput`` naming the first bad field."""
    obj = _require_object(raw, "body")
    if "project_id" not in obj:
        raise InvalidInput("project_id", "is required")
    project_id = _identifier(obj["project_id"], "project_id", limits.max_identifier_chars)
    items = obj.get("observations")
    if not isinstance(items, list):
        raise InvalidInput("observations", "is required and must be an array")
    if len(items) > limits.max_batch:
        raise InvalidInput(
            "observations", f"holds more than {limits.max_batch} observations", too_large=True
        )
    device = obj.get("device_id")
    device_id = (
        "" if device is None else _identifier(device, "device_id", limits.max_identifier_chars)
    )
    changes = tuple(
        parse_change(item, f"observations[{index}]", project_id, limits)
        for index, item in enumerate(items)
    )
    seen: set[str] = set()
    for index, change in enumerate(changes):
        if change.observation.sync_id in seen:
            raise InvalidInput(f"observations[{index}].sync_id", "appears twice in one push")
        seen.add(change.observation.sync_id)
    return PushRequest(
        cursor=_cursor(obj.get("cursor"), "cursor"),
        project_id=project_id,
        device_id=device_id,
        changes=changes,
    )


def parse_pull_request(raw: object, limits: Limits) -> PullRequest:
    """Validate a pull request body; ``limit`` above the server's page size is lowered to it."""
    obj = _require_object(raw, "body")
    if "project_id" not in obj:
        raise InvalidInput("project_id", "is required")
    project_id = _identifier(obj["project_id"], "project_id", limits.max_identifier_chars)
    limit = _optional_int(obj.get("limit"), "limit", 1)
    return PullRequest(
        cursor=_cursor(obj.get("cursor"), "cursor"),
        project_id=project_id,
        limit=limits.default_page if limit is None else min(limit, limits.max_page),
    )


def observation_to_wire(observation: Observation) -> dict[str, Any]:
    """The JSON object of an observation as the API sends it."""
    return {name: getattr(observation, name) for name in WIRE_FIELDS}
