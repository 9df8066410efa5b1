"""The size (distinct words) of every indexed row, held compactly for the positional filter.

``Postings`` turns to these when a probe has many candidates (templated observations
that share their common words): knowing each candidate's size there rules most of them
out without reading their rows (``core.similarity.in_at_least_positional``). Sizes are read
in one scan of ``sync_sets`` the first time they are needed and kept in step by the
owner. Two bytes a row id, indexed by id: rows are the application's rowids, dense in
practice; an id far past the others, or a size past 65,535, is held as 0, "unknown",
which filters nothing.
"""

from __future__ import annotations

import sqlite3
from array import array

_UNKNOWN = 0
_MAX_SIZE = 0xFFFF
_SLACK = 4096  # ids up to 2 x the sizes set plus this are held densely


class RowSizes:
    """``obs_id -> size`` of the indexed rows, read lazily, 0 where unknown."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._sizes: array[int] | None = None
        self._seen = 0

    def clear(self) -> None:
        """Forget what is held; read again when next needed."""
        self._sizes = None
        self._seen = 0

    def nbytes(self) -> int:
        """Memory held by the sizes."""
        return 0 if self._sizes is None else len(self._sizes) * self._sizes.itemsize

    def view(self) -> array[int]:
        """The sizes by row id (read first if need be): 0 where unknown; ids past the end
        are unknown too. Valid until the next change."""
        return self._load()

    def set(self, obs_id: int, size: int) -> None:
        """Row ``obs_id`` was indexed with ``size`` distinct words."""
        if self._sizes is not None:
            self._put(self._sizes, obs_id, size)

    def forget(self, obs_id: int) -> None:
        """Row ``obs_id`` is no longer indexed."""
        sizes = self._sizes
        if sizes is not None and 0 <= obs_id < len(sizes):
            sizes[obs_id] = _UNKNOWN

    def _load(self) -> array[int]:
        if self._sizes is None:
            sizes: array[int] = array("H")
            self._sizes, self._seen = sizes, 0
            for obs_id, size in self._conn.execute("SELECT obs_id, size FROM sync_sets"):
                self._put(sizes, obs_id, size)
        return self._sizes

    def _put(self, sizes: array[int], obs_id: int, size: int) -> None:
        self._seen += 1
        if obs_id < 0 or obs_id >= 2 * self._seen + _SLACK:
            if 0 <= obs_id < len(sizes):
                sizes[obs_id] = _UNKNOWN
            return
        if obs_id >= len(sizes):
            sizes.extend(array("H", bytes(2 * (obs_id + 1 - len(sizes)))))
        sizes[obs_id] = size if 0 < size <= _MAX_SIZE else _UNKNOWN
