"""Plan a push against what the server holds: which changes write, at which sequence.

Pure: the store loads the stored copies, calls ``plan_push`` and writes what it says,
all inside one transaction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from memento_syncd.core.observation import IncomingChange, StoredObservation
from memento_syncd.core.versioning import Verdict, decide


@dataclass(frozen=True, slots=True)
class Pusher:
    """Who pushes: member id and name, and the writer id of the device (None if unnamed)."""

    member_id: int
    member: str
    writer: str | None


@dataclass(frozen=True, slots=True)
class Write:
    """One new version to store at ``seq``; ``insert`` when nothing was stored before."""

    stored: StoredObservation
    seq: int
    insert: bool


@dataclass(frozen=True, slots=True)
class PushPlan:
    """Per-change verdicts with the server's copy after the push, and the writes to make."""

    results: tuple[tuple[str, Verdict, StoredObservation], ...]
    writes: tuple[Write, ...]
    last_seq: int
    forbidden: tuple[str, str] | None = None


def plan_push(
    existing: Mapping[str, StoredObservation],
    changes: Sequence[IncomingChange],
    pusher: Pusher,
    head_seq: int,
) -> PushPlan:
    """Decide every change; new versions take consecutive sequence numbers after ``head_seq``.

    If any change is forbidden the plan names it and holds no writes: nothing of the
    batch may be applied.
    """
    results: list[tuple[str, Verdict, StoredObservation]] = []
    writes: list[Write] = []
    seq = head_seq
    for change in changes:
        sync_id = change.observation.sync_id
        old = existing.get(sync_id)
        decision = decide(old, change, pusher.member_id, pusher.writer)
        if decision.verdict is Verdict.FORBIDDEN:
            return PushPlan((), (), head_seq, (sync_id, decision.reason))
        if old is not None and decision.verdict in (Verdict.UNCHANGED, Verdict.CONFLICT):
            results.append((sync_id, decision.verdict, old))
            continue
        seq += 1
        stored = _new_version(old, change, pusher)
        writes.append(Write(stored, seq, insert=old is None))
        results.append((sync_id, decision.verdict, stored))
    return PushPlan(tuple(results), tuple(writes), seq)


def _new_version(
    old: StoredObservation | None, change: IncomingChange, pusher: Pusher
) -> StoredObservation:
    """The stored form of an applied change; an update keeps owner, author and creation time."""
    observation = change.observation
    if old is None:
        return StoredObservation(
            observation,
            1,
            pusher.member_id,
            pusher.member,
            pusher.writer or "",
            change.base_version,
        )
    if not change.created_at_sent:
        observation = dataclasses.replace(observation, created_at=old.observation.created_at)
    return StoredObservation(
        observation,
        old.version + 1,
        old.owner_member_id,
        old.author,
        pusher.writer or "",
        change.base_version,
    )
