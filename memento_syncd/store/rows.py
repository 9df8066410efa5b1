"""The application's rows as wire observations, and pulled observations written back."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from memento_syncd.core.errors import InvalidInput
from memento_syncd.core.limits import Limits
from memento_syncd.core.observation import Observation
from memento_syncd.core.wire import WIRE_FIELDS, observation_to_wire, parse_change
from memento_syncd.store.db import applying
from memento_syncd.store.schema import APP_COLUMNS

_LIMITS = Limits()


def read_row(conn: sqlite3.Connection, obs_id: int) -> dict[str, Any] | None:
    """The application's row ``obs_id`` as a dict of its columns, or None if it is gone."""
    row = conn.execute(
        f"SELECT {', '.join(APP_COLUMNS)} FROM observations WHERE id = ?",  # noqa: S608
        (obs_id,),
    ).fetchone()
    return None if row is None else dict(zip(APP_COLUMNS, row, strict=True))


def to_observation(sync_id: str, row: dict[str, Any]) -> Observation:
    """Validate an application row by the server's own rules; ``InvalidInput`` says why not."""
    wire = {**row, "sync_id": sync_id}
    return parse_change(wire, "observation", str(row.get("project")), _LIMITS).observation


def write_row(conn: sqlite3.Connection, obs_id: int, obs: Observation) -> None:
    """Overwrite the application's row with a pulled or resolved version."""
    conn.execute(
        "UPDATE observations SET project = ?, type = ?, title = ?, content = ?, topic_key = ?,"
        " scope = ?, created_at = ?, updated_at = ?, deleted_at = ? WHERE id = ?",
        (*_values(obs), obs_id),
    )


def insert_row(conn: sqlite3.Connection, obs: Observation) -> int:
    """Insert a pulled observation as a new application row; returns its local id."""
    cur = conn.execute(
        "INSERT INTO observations (project, type, title, content, topic_key, scope, created_at,"
        " updated_at, deleted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        _values(obs),
    )
    assert cur.lastrowid is not None  # noqa: S101 - an INSERT always sets it
    return cur.lastrowid


def _values(obs: Observation) -> Sequence[Any]:
    return (
        obs.project, obs.type, obs.title, obs.content, obs.topic_key, obs.scope,
        obs.created_at, obs.updated_at, obs.deleted_at,
    )  # fmt: skip


def encode(obs: Observation) -> str:
    """JSON text of an observation, for the ``base`` and history columns."""
    return json.dumps(observation_to_wire(obs), ensure_ascii=False)


def encode_raw(row: dict[str, Any], sync_id: str) -> str:
    """JSON text of an application row that is not a valid observation, for the history:
    bytes that are not UTF-8 (and a BLOB's) as ``\\udcXX`` escapes, the rest as read."""
    shown = {
        key: value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value
        for key, value in row.items()
    }
    return json.dumps({**shown, "sync_id": sync_id})  # ASCII: lone surrogates escaped


def decode(text: str | None) -> Observation | None:
    """The observation of a stored JSON text (None stays None)."""
    if text is None:
        return None
    data = json.loads(text)
    return Observation(**{name: data[name] for name in WIRE_FIELDS})


def from_wire(data: dict[str, Any]) -> tuple[Observation, int]:
    """A pulled observation and its server version; ``InvalidInput`` if the server sent junk."""
    try:
        version = int(data["version"])
        change = parse_change(data, "observation", str(data.get("project")), _LIMITS)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput("observation", f"malformed observation from server: {exc}") from exc
    return change.observation, version


def unhide(conn: sqlite3.Connection, obs_id: int, hidden_at: str) -> None:
    """Bring a row a fold hid (``store.twins.join``) back to life, unless the application
    deleted it itself; it is indexed again."""
    with applying(conn):
        conn.execute(
            "UPDATE observations SET deleted_at = NULL WHERE id = ? AND deleted_at = ?",
            (obs_id, hidden_at),
        )
    conn.execute("INSERT OR IGNORE INTO sync_dirty (obs_id) VALUES (?)", (obs_id,))
