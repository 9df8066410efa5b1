"""Observation values as they travel between devices and the server."""

from __future__ import annotations

from dataclasses import dataclass, replace

from memento_syncd.core.hashing import content_hash

SCOPES = ("project", "personal")


@dataclass(frozen=True, slots=True)
class Observation:
    """The synced fields of one observation; timestamps in canonical RFC 3339 UTC."""

    sync_id: str
    project: str
    type: str
    title: str
    content: str
    topic_key: str | None
    scope: str
    content_hash: str
    created_at: str
    updated_at: str
    deleted_at: str | None


@dataclass(frozen=True, slots=True)
class IncomingChange:
    """An observation a device pushes, with the server version its edit was based on.

    ``created_at_sent`` is False when the device left ``created_at`` out: an insert then
    takes ``updated_at`` and an update keeps the stored creation time.
    """

    observation: Observation
    base_version: int | None
    created_at_sent: bool = True


@dataclass(frozen=True, slots=True)
class StoredObservation:
    """An observation as the server holds it: content plus version bookkeeping.

    ``writer`` names the member and device that wrote the current version and
    ``based_on`` the version that write was based on; together they let a device
    resend an edit whose acknowledgement it never received without a false conflict.
    """

    observation: Observation
    version: int
    owner_member_id: int
    author: str
    writer: str
    based_on: int | None
    # Sent to a member who is not its owner as a withdrawal (``withdrawn``): the owner
    # made this once shared observation personal.
    withdrawn: bool = False


def same_content(a: Observation, b: Observation) -> bool:
    """Tell whether two observations say the same thing (timestamps aside)."""
    return (
        a.project == b.project
        and a.type == b.type
        and a.title == b.title
        and a.content == b.content
        and a.topic_key == b.topic_key
        and a.scope == b.scope
        and (a.deleted_at is None) == (b.deleted_at is None)
    )


def withdrawn(obs: Observation) -> Observation:
    """What a teammate gets of a shared observation its owner has made personal: a
    tombstone of the shared observation they knew (scope project: a personal observation
    goes only to its owner), without title, content or topic_key."""
    return replace(
        obs, title="", content="", topic_key=None, scope="project",
        content_hash=content_hash(""), deleted_at=obs.deleted_at or obs.updated_at,
    )  # fmt: skip


def deleted_outright(obs: Observation, now: str) -> Observation:
    """A row the application deleted outright (the last version known of it is ``obs``):
    a tombstone stamped ``now``, as the device learns of it, since when the deletion was
    made went with the row. Already a tombstone, it stays as it is. The push, a pull's
    conflict and a manual conflict all read such a row so, and so settle it alike."""
    if obs.deleted_at is not None:
        return obs
    return replace(obs, deleted_at=now, updated_at=now)
