"""The similarity index's prefix postings held in memory, read from ``sync_postings`` lazily.

A near-twin probe counts, for each row, how many of the probe's prefix tokens the row's
indexed prefix holds. In SQL that is a ``GROUP BY`` over a few thousand postings per
probe; over arrays in memory it is a ``Counter``, or for big probes one numpy sort
(``similarity.in_at_least``). A token's postings are read the first time a
probe needs them, so a small pull loads little; once look-ups made outside the write lock
have read a good share of the table that way, the rest is read in one scan
(``BULK_SHARE``), after which a token not loaded has no postings. The owner keeps them in
step with its own changes and empties them when another connection changed the index.
"""

from __future__ import annotations

import itertools
import sqlite3
import sys
from array import array
from collections.abc import Iterable, Sequence

from memento_syncd.core import similarity, speedups
from memento_syncd.store.posting_rows import stored, unpack
from memento_syncd.store.row_sizes import RowSizes

# 4 bytes a posting (8 for row ids past 2**31): 4 million postings, what 180,000 rows of
# ~1 KB hold, take ~16 MB (6 million left a 100,000 pull's client at 97 MB with numpy
# loaded; a token read again costs one short query). Once full, a token not loaded yet
# is read for the probe that needs it but not kept, and a kept token that would grow
# past the limit is dropped: what is kept is always complete, and emptying everything
# at once made big pulls reload the same tokens over and over.
POSTINGS_LIMIT = 4_000_000


# Reading a token's postings costs one index seek per stored row; reading the whole table
# in its own order costs a fraction of that per row. Once the rows read one token at a
# time reach 1/BULK_SHARE of the table, the rest is read in one go, if it fits (a
# ski-rental rule: at most about twice the better choice's cost, whatever the probes).
BULK_SHARE = 4
# Before this many rows were read token by token, the table is not even counted.
BULK_MIN_ROWS = 500
# A probe with more candidates than this has them checked by the positional filter
# (``similarity.in_at_least_positional``) before their rows are read: templated texts, whose
# common words fill each other's prefixes, would otherwise make every row a candidate.
POSITIONAL_FROM = 32


class Postings:
    """Per token, the ids of the rows whose indexed prefix holds it, as far as loaded."""

    def __init__(
        self, conn: sqlite3.Connection, limit: int = POSTINGS_LIMIT, bulk_min: int = BULK_MIN_ROWS
    ) -> None:
        self._conn = conn
        self._limit = limit
        self._bulk_min = bulk_min
        self._lists: dict[int, array[int]] = {}
        self._size = 0
        self._complete = False  # every token is loaded: one missing has no postings
        self._rows_read = 0  # stored rows read token by token since the last clear
        self._table_rows: int | None = None  # rows in sync_postings, once counted
        self._bulk_tried = False
        self.sizes = RowSizes(conn)  # read only for the positional filter

    def __bool__(self) -> bool:
        """Whether it holds anything the database could contradict: loaded postings, or
        the knowledge that there are none but these."""
        return bool(self._lists) or self._complete

    def clear(self) -> None:
        """Forget everything loaded."""
        self._lists.clear()
        self._size = 0
        self._complete = self._bulk_tried = False
        self._rows_read = 0
        self._table_rows = None
        self.sizes.clear()

    def shared(self, tokens: Iterable[int], needed: int, *, bulk: bool = False) -> list[int]:
        """The rows whose indexed prefix holds at least ``needed`` of ``tokens``."""
        return self.shared_many([(list(tokens), needed)], bulk=bulk)[0]

    def shared_many(
        self,
        wants: Sequence[tuple[Sequence[int], int]],
        *,
        bulk: bool = False,
        positional: tuple[Sequence[int], similarity.Threshold] | None = None,
    ) -> list[list[int]]:
        """``shared(tokens, needed)`` for each pair, the missing postings read at once.

        With ``bulk``, the whole table may be read instead (``BULK_SHARE``): a scan of a
        few hundred milliseconds at 100,000 rows, so only where no write lock is held.
        With ``positional`` (each probe's size, and the threshold; a probe's tokens are
        its prefix, rare first), rows that the positional filter rules out may be left
        out when a probe has more than ``POSITIONAL_FROM`` of them.
        """
        read: dict[int, array[int]] = {}
        if not self._complete and self._missing(wants):
            if bulk and self._bulk_due():
                self._load_all()  # replaces self._lists, or empties them if all is too big
            if not self._complete:
                read = self._read(self._missing(wants))
        lists = self._lists
        empty = array("i")
        answers = []
        for n, (tokens, needed) in enumerate(wants):
            if read:
                held = [read[t] if t in read else lists.get(t, empty) for t in tokens]
            else:  # everything needed was loaded: dict look-ups at C speed
                held = list(map(lists.get, tokens, itertools.repeat(empty)))
            found = similarity.in_at_least(held, needed)
            if positional is not None and len(found) > POSITIONAL_FROM:
                sizes, threshold = positional
                found = similarity.in_at_least_positional(
                    held, needed, sizes[n], threshold, self.sizes.view()
                )
            answers.append(found)
        return answers

    def _missing(self, wants: Sequence[tuple[Sequence[int], int]]) -> list[int]:
        """The tokens of ``wants`` not loaded, each once."""
        lists = self._lists
        return list({token for tokens, _ in wants for token in tokens if token not in lists})

    def added(self, obs_id: int, tokens: Iterable[int], size: int = 0) -> None:
        """A row of ``size`` tokens (0: not said) was indexed under these prefix tokens."""
        if size:
            self.sizes.set(obs_id, size)
        else:
            self.sizes.forget(obs_id)
        for token in tokens:
            found = self._lists.get(token)
            if found is None:
                if not self._complete:
                    continue
                found = self._lists[token] = array("i")  # a token new to the index
            if self._size >= self._limit:  # full: forget this token rather than grow
                del self._lists[token]
                self._size -= len(found)
                self._complete = False
                continue
            try:
                found.append(obs_id)
            except OverflowError:  # a row id past 2**31: this token's ids go 8 bytes wide
                found = self._lists[token] = array("q", found)
                found.append(obs_id)
            self._size += 1

    def removed(self, obs_id: int, tokens: Iterable[int]) -> None:
        """A row indexed under these prefix tokens was forgotten."""
        self.sizes.forget(obs_id)
        for token in tokens:
            found = self._lists.get(token)
            if found is None:
                if self._complete:  # out of step with the database: start again
                    self.clear()
                    return
                continue
            try:
                found.remove(obs_id)
            except ValueError:  # out of step with the database: start again
                self.clear()
                return
            self._size -= 1

    def _read(self, tokens: list[int]) -> dict[int, array[int]]:
        """Read the postings of ``tokens`` (none loaded), keeping them while they fit."""
        read = {}
        for token, blobs in stored(self._conn, tokens):
            read[token] = _narrow(b"".join(blobs))
            self._rows_read += len(blobs)
        for token, found in read.items():
            if self._size + len(found) <= self._limit:  # else read for this probe only
                self._lists[token] = found
                self._size += len(found)
        return read

    def _bulk_due(self) -> bool:
        """Whether to read the whole table now (see ``BULK_SHARE``); at most once a clear."""
        if self._bulk_tried or self._rows_read < self._bulk_min:
            return False
        if self._table_rows is None:  # counted once a clear: an estimate is enough
            (self._table_rows,) = self._conn.execute(
                "SELECT count(*) FROM sync_postings"
            ).fetchone()
        if self._rows_read * BULK_SHARE < self._table_rows:
            return False
        self._bulk_tried = True
        return True

    def _load_all(self) -> None:
        """Load every token's postings, if they fit the limit (else none: token by token
        they are read again). What was loaded is let go first, to keep the peak low."""
        self._lists, self._size = {}, 0
        lists: dict[int, array[int]] = {}
        size = 0
        for token, blob in self._conn.execute("SELECT token, ids FROM sync_postings"):
            ids = _narrow(blob)
            size += len(ids)
            if size > self._limit:
                return
            found = lists.get(token)
            if found is None:
                lists[token] = ids
            elif found.typecode == ids.typecode:
                found.extend(ids)
            else:  # one of them holds ids past 2**31
                lists[token] = array("q", found)
                lists[token].extend(array("q", ids))
        self._lists, self._size, self._complete = lists, size, True


def _narrow(blob: bytes) -> array[int]:
    """The row ids of stored blobs as 4-byte integers, or 8-byte ones if any needs it."""
    if speedups.narrow is not None and len(blob) % 8 == 0:
        packed = speedups.narrow(blob)
        if packed is not None:
            narrow = array("i")
            narrow.frombytes(packed)
            return narrow
        return _wide(blob)
    if sys.byteorder == "little" and len(blob) % 8 == 0:
        # Each id is 8 little-endian bytes: it fits 4 when its upper 4 are zero and the
        # lower 4 read as a non-negative int32 (top bit, in the 4th byte, clear). Then
        # the lower halves are the answer, copied at C speed.
        words = memoryview(blob).cast("I")
        upper = words[1::2].tobytes()
        if upper.count(0) == len(upper) and blob[3::8].isascii():
            narrow = array("i")
            narrow.frombytes(words[::2].tobytes())
            return narrow
    return _wide(blob)


def _wide(blob: bytes) -> array[int]:
    """The row ids of stored blobs, 4 bytes each if they fit, else 8."""
    values = unpack(blob)
    try:
        return array("i", values)
    except OverflowError:
        return values
