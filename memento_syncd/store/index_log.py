"""The similarity index's own changes since it prepared look-ups, indexed by what they hold.

A prepared answer (``index.Probe``) is brought up to date with every change the index
object made after it: rows changed since are dropped from it, and the rows indexed since
are checked against the probe. Checking every change since would cost each probe of a
page as many checks as rows applied before it in that page (quadratic in the page);
here the log keeps, per prefix token and per content hash, the positions of the changes
holding them, so a probe looks only at the changes that share its content hash or enough
of its prefix tokens, the only ones that can be its twins. Pure: no I/O.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Entry:
    """What ``put`` indexed for a row: enough to re-check a probe against it."""

    project: str
    scope: str
    topic_key: str | None
    digest: str
    tokens: frozenset[int]
    prefix: frozenset[int]


class ChangeLog:
    """Changes in the order made: ``(obs_id, Entry)`` for a row indexed, ``None`` for one
    forgotten; each change has a position (0, 1, ...)."""

    def __init__(self) -> None:
        """An empty log."""
        self._changes: list[tuple[int, Entry | None]] = []
        self._last: dict[int, int] = {}  # obs_id -> position of its latest change
        # Per prefix token, the positions of the changes holding it, ascending: the first
        # one, then any later ones (a list for every token would cost a list a token).
        self._first: dict[int, int] = {}
        self._more: dict[int, list[int]] = {}
        self._by_digest: dict[str, list[int]] = {}  # content hash -> positions, ascending

    def __len__(self) -> int:
        """How many changes are logged: the position the next one gets."""
        return len(self._changes)

    def record(self, obs_id: int, entry: Entry | None) -> None:
        """Log that row ``obs_id`` was indexed as ``entry`` (None: forgotten)."""
        position = len(self._changes)
        self._changes.append((obs_id, entry))
        self._last[obs_id] = position
        if entry is not None:
            first, more = self._first, self._more
            for token in entry.prefix:  # most prefix tokens are rare: new to the log
                if first.setdefault(token, position) != position:
                    more.setdefault(token, []).append(position)
            self._by_digest.setdefault(entry.digest, []).append(position)

    def changed_since(self, obs_id: int, mark: int) -> bool:
        """Whether row ``obs_id`` changed at position ``mark`` or later."""
        return self._last.get(obs_id, -1) >= mark

    def latest_since(
        self, mark: int, prefix: Iterable[int], needed: int, digest: str
    ) -> list[tuple[int, Entry]]:
        """Rows indexed at ``mark`` or later, as their latest change left them, whose entry
        holds content hash ``digest`` or at least ``needed`` of the ``prefix`` tokens.

        Every other row changed since is either forgotten now or shares neither with the
        probe, so it is neither its exact nor its near twin. In position order.
        """
        counts: dict[int, int] = {}
        first, more = self._first, self._more
        for token in prefix:
            position = first.get(token)
            if position is None:
                continue
            if position >= mark:
                counts[position] = counts.get(position, 0) + 1
            later = more.get(token)
            if later:
                for position in later[bisect.bisect_left(later, mark) :]:
                    counts[position] = counts.get(position, 0) + 1
        found = {position for position, count in counts.items() if count >= needed}
        same = self._by_digest.get(digest)
        if same:
            found.update(same[bisect.bisect_left(same, mark) :])
        latest: list[tuple[int, Entry]] = []
        for position in sorted(found):
            obs_id, entry = self._changes[position]
            if entry is not None and self._last[obs_id] == position:
                latest.append((obs_id, entry))
        return latest
