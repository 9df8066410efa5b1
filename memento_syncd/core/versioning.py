"""Decide what a pushed change does to the server's copy: the heart of conflict detection."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from memento_syncd.core.observation import IncomingChange, StoredObservation, same_content


class Verdict(enum.Enum):
    """What happens to one pushed change."""

    INSERT = "inserted"
    UPDATE = "updated"
    UNCHANGED = "unchanged"
    CONFLICT = "conflict"
    FORBIDDEN = "forbidden"


@dataclass(frozen=True, slots=True)
class Decision:
    """A verdict and, for FORBIDDEN, the reason to tell the client."""

    verdict: Verdict
    reason: str = ""


def decide(
    existing: StoredObservation | None, change: IncomingChange, member_id: int, writer: str | None
) -> Decision:
    """Decide one pushed change against what the server holds.

    - nothing stored: insert (whatever base the device names);
    - another member's personal observation, or making a teammate's one personal: forbidden;
    - same content as stored: unchanged, so a replayed push is harmless;
    - based on the current version: update;
    - the same writer resending over its own unacknowledged write: update (only a writer
      that names its device can be recognised; ``writer`` None never matches);
    - anything else, including a stale edit of a tombstone: conflict.
    """
    if existing is None:
        return Decision(Verdict.INSERT)
    if existing.owner_member_id != member_id:
        if existing.observation.scope == "personal":
            return Decision(Verdict.FORBIDDEN, "personal observation of another member")
        if change.observation.scope == "personal":
            return Decision(
                Verdict.FORBIDDEN, "only the member who created it can make it personal"
            )
    if same_content(existing.observation, change.observation):
        return Decision(Verdict.UNCHANGED)
    if change.base_version == existing.version:
        return Decision(Verdict.UPDATE)
    if (
        writer is not None
        and existing.writer == writer
        and change.base_version == existing.based_on
    ):
        return Decision(Verdict.UPDATE)
    return Decision(Verdict.CONFLICT)
