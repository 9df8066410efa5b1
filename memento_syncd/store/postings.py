"""The similarity index's prefix postings held in memory, read from ``sync_postings`` lazily.

A near-twin probe counts, for each row, how many of the probe's prefix tokens the row's
indexed prefix holds. In SQL that is a ``GROUP BY`` over a few thousand postings per
probe; over arrays in memory it is a ``Counter``, or for big probes one numpy sort
(``similarity.in_at_least``). A token's postings are read the first time a
probe needs them, so a small pull loads little; the owner keeps them in step with its
own changes and empties them when another connection changed the index.
"""

from __future__ import annotations

import sqlite3
from array import array
from collections.abc import Iterable

from memento_syncd.core import similarity
from memento_syncd.store.posting_rows import stored, unpack

# 4 bytes a posting (8 for row ids past 2**31): 4 million postings, what 180,000 rows of
# ~1 KB hold, take ~16 MB (6 million left a 100,000 pull's client at 97 MB with numpy
# loaded; a token read again costs one short query). Once full, a token not loaded yet
# is read for the probe that needs it but not kept, and a kept token that would grow
# past the limit is dropped: what is kept is always complete, and emptying everything
# at once made big pulls reload the same tokens over and over.
POSTINGS_LIMIT = 4_000_000


class Postings:
    """Per token, the ids of the rows whose indexed prefix holds it, as far as loaded."""

    def __init__(self, conn: sqlite3.Connection, limit: int = POSTINGS_LIMIT) -> None:
        self._conn = conn
        self._limit = limit
        self._lists: dict[int, array[int]] = {}
        self._size = 0

    def __bool__(self) -> bool:
        """Whether anything is loaded (an empty cache agrees with any database)."""
        return bool(self._lists)

    def clear(self) -> None:
        """Forget everything loaded."""
        self._lists.clear()
        self._size = 0

    def shared(self, tokens: Iterable[int], needed: int) -> list[int]:
        """The rows whose indexed prefix holds at least ``needed`` of ``tokens``."""
        tokens = list(tokens)
        lists = self._lists
        missing = [token for token in tokens if token not in lists]
        read = self._read(missing) if missing else {}
        return similarity.in_at_least([read[t] if t in read else lists[t] for t in tokens], needed)

    def added(self, obs_id: int, tokens: Iterable[int]) -> None:
        """A row was indexed under these prefix tokens."""
        for token in tokens:
            found = self._lists.get(token)
            if found is None:
                continue
            if self._size >= self._limit:  # full: forget this token rather than grow
                del self._lists[token]
                self._size -= len(found)
                continue
            try:
                found.append(obs_id)
            except OverflowError:  # a row id past 2**31: this token's ids go 8 bytes wide
                found = self._lists[token] = array("q", found)
                found.append(obs_id)
            self._size += 1

    def removed(self, obs_id: int, tokens: Iterable[int]) -> None:
        """A row indexed under these prefix tokens was forgotten."""
        for token in tokens:
            found = self._lists.get(token)
            if found is not None:
                try:
                    found.remove(obs_id)
                except ValueError:  # out of step with the database: start again
                    self.clear()
                    return
                self._size -= 1

    def _read(self, tokens: list[int]) -> dict[int, array[int]]:
        """Read the postings of ``tokens`` (none loaded), keeping them while they fit."""
        read = {token: _narrow(b"".join(blobs)) for token, blobs in stored(self._conn, tokens)}
        for token, found in read.items():
            if self._size + len(found) <= self._limit:  # else read for this probe only
                self._lists[token] = found
                self._size += len(found)
        return read


def _narrow(blob: bytes) -> array[int]:
    """The row ids of stored blobs as 4-byte integers, or 8-byte ones if any needs it."""
    values = unpack(blob)
    try:
        return array("i", values)
    except OverflowError:
        return values
