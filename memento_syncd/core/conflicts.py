"""Resolve a local unpushed edit against a remote edit of the same observation.

Every device that resolves the same pair must reach the same result whatever the
argument order, so every choice here is made by a total order on whole observations
(see ``newer``), never by which side is "local".

A pairwise MERGE is symmetric but not associative: folding three or more concurrent
edits that change the same field can depend on the order of the fold. LWW folds to the
globally newest edit in any order.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from memento_syncd.core.hashing import content_hash
from memento_syncd.core.observation import Observation
from memento_syncd.core.timestamps import parse_timestamp

MERGED_FIELDS = ("project", "type", "title", "content", "topic_key", "scope", "deleted_at")


class Strategy(enum.StrEnum):
    """How a conflict between a local and a remote edit is settled."""

    LAST_WRITE_WINS = "last_write_wins"
    MERGE = "merge"
    MANUAL = "manual"


@dataclass(frozen=True)
class MergeResult:
    """A merged observation and, per field, the value the merge discarded."""

    merged: Observation
    lost: dict[str, object]


@dataclass(frozen=True)
class Resolution:
    """What to keep, the record that lost (if any), and whether to ask the user."""

    kept: Observation
    loser: Observation | None
    manual: bool


_Key = tuple[datetime, tuple[tuple[int, str], ...], str, datetime, str, str, str]


def _field_key(value: str | None) -> tuple[int, str]:
    """Order optional strings totally: None below every string, including the empty one."""
    return (0, "") if value is None else (1, value)


def _order_key(obs: Observation) -> _Key:
    """The total order behind ``newer``: the instant of ``updated_at`` first, then content.

    Two observations with equal keys are equal in every field.
    """
    return (
        parse_timestamp(obs.updated_at),
        tuple(_field_key(getattr(obs, name)) for name in MERGED_FIELDS),
        obs.content_hash,
        parse_timestamp(obs.created_at),
        obs.updated_at,
        obs.created_at,
        obs.sync_id,
    )


def newer(a: Observation, b: Observation) -> Observation:
    """Return the last-write-wins choice between ``a`` and ``b``, independent of their order.

    The later ``updated_at`` instant wins. On equal instants the larger tuple of
    ``MERGED_FIELDS`` wins (None sorts below any string, so a tombstone beats a live
    record and a topic key beats none), then the larger ``content_hash``, then the later
    ``created_at`` and the larger raw timestamp strings and ``sync_id``, so that
    ``newer(a, b) == newer(b, a)`` always holds. Returns ``a`` when they are equal.
    """
    return b if _order_key(b) > _order_key(a) else a


def same_record(a: Observation, b: Observation) -> bool:
    """Tell whether two observations are equal in every merged field (``deleted_at`` exactly)."""
    return all(getattr(a, name) == getattr(b, name) for name in MERGED_FIELDS)


def _later(a: str, b: str) -> str:
    """The later of two timestamps as instants; the larger string on equal instants."""
    return max(a, b, key=lambda text: (parse_timestamp(text), text))


def _earlier(a: str, b: str) -> str:
    """The earlier of two timestamps as instants; the smaller string on equal instants."""
    return min(a, b, key=lambda text: (parse_timestamp(text), text))


def _check_same_id(*observations: Observation | None) -> None:
    """Raise ``ValueError`` unless all given observations share one ``sync_id``."""
    ids = {obs.sync_id for obs in observations if obs is not None}
    if len(ids) > 1:
        raise ValueError(f"cannot resolve different observations: {sorted(ids)!r}")


def merge3(base: Observation | None, local: Observation, remote: Observation) -> MergeResult:
    """Three-way merge of ``local`` and ``remote`` edits of ``base``, field by field.

    A field changed on one side only takes that side's value; a field both sides changed
    to different values takes the value of ``newer(local, remote)`` and the other value
    goes into ``lost``. Without a base (never synced) the whole newer record wins and
    ``lost`` holds every differing field of the other. The result's ``updated_at`` is the
    later and ``created_at`` the earlier of the two; ``content_hash`` follows the merged
    content. Symmetric: swapping ``local`` and ``remote`` gives the same result.
    Raises ``ValueError`` if the ``sync_id`` values differ.
    """
    _check_same_id(base, local, remote)
    winner = newer(local, remote)
    loser = remote if winner is local else local
    values: dict[str, Any] = {}
    lost: dict[str, object] = {}
    for name in MERGED_FIELDS:
        mine, theirs = getattr(winner, name), getattr(loser, name)
        if mine == theirs:
            values[name] = mine
        elif base is not None and getattr(base, name) == mine:
            values[name] = theirs
        elif base is not None and getattr(base, name) == theirs:
            values[name] = mine
        else:
            values[name] = mine
            lost[name] = theirs
    merged = replace(
        winner,
        **values,
        content_hash=content_hash(values["content"]),
        created_at=_earlier(local.created_at, remote.created_at),
        updated_at=_later(local.updated_at, remote.updated_at),
    )
    return MergeResult(merged=merged, lost=lost)


def resolve(
    strategy: Strategy, base: Observation | None, local: Observation, remote: Observation
) -> Resolution:
    """Settle a conflict between a local unpushed edit and a remote edit of one observation.

    - LAST_WRITE_WINS: keep ``newer(local, remote)``; the loser is the other one, or None
      when both are the same record;
    - MERGE: keep ``merge3(base, local, remote).merged``; when the merge discarded a value
      the loser is the record that is not ``newer`` (every discarded value comes from it:
      a field both sides changed always takes the newer record's value), else None;
    - MANUAL: keep ``local``, with ``remote`` as loser and ``manual`` set: the caller keeps
      both and asks the user.

    LWW and MERGE give the same result when ``local`` and ``remote`` are swapped.
    """
    if strategy is Strategy.MANUAL:
        _check_same_id(base, local, remote)
        return Resolution(kept=local, loser=remote, manual=True)
    if strategy is Strategy.LAST_WRITE_WINS:
        _check_same_id(base, local, remote)
        winner = newer(local, remote)
        other = remote if winner is local else local
        loser = None if same_record(winner, other) else other
        return Resolution(kept=winner, loser=loser, manual=False)
    result = merge3(base, local, remote)
    other = remote if newer(local, remote) is local else local
    return Resolution(kept=result.merged, loser=other if result.lost else None, manual=False)
