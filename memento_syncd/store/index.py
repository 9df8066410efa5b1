"""The persistent similarity index: word sets and their prefixes for exact near-twin search.

Each live observation has its token set in ``sync_sets`` and the prefix of that set
(under the frozen order of ``sync_vocab``: rarer tokens first) in ``sync_prefix``. Any
pair whose Jaccard similarity reaches the threshold shares prefix tokens, so a probe
looks only at rows sharing enough of its own prefix tokens, of a compatible size, then
checks each candidate exactly. Tokens first seen after the order was frozen rank as
rarest, which keeps the order total and fixed; the order is learnt once from document
frequencies and rebuilt only if the threshold or prefix scheme changes.
"""

from __future__ import annotations

import sqlite3
import time
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from memento_syncd.core import similarity
from memento_syncd.core.hashing import content_hash

# Prefixes are "l-prefixes" (see core.similarity.prefix_length): a candidate must share
# ELL prefix tokens with the probe, not just one, which cuts candidates by orders of
# magnitude on real text for ELL - 1 more index rows per observation.
ELL = 3
# The order is learnt once, from the first thousand rows or more: for text, the words
# that are common then stay common, and words first seen later rank as rare, which
# they mostly are. Only a change of threshold or prefix scheme rebuilds it.
_FREEZE_MIN_ROWS = 1000


@dataclass(frozen=True, slots=True)
class Text:
    """What the index knows of a row: where it lives and the words it holds."""

    project: str
    scope: str
    topic_key: str | None
    title: str
    content: str


@dataclass(frozen=True, slots=True)
class Twin:
    """A local row that a pulled observation duplicates: ``kind`` is exact or similar."""

    obs_id: int
    kind: str


def _pack(tokens: Iterable[int]) -> bytes:
    return array("q", sorted(tokens)).tobytes()


def _unpack(blob: bytes) -> frozenset[int]:
    values = array("q")
    values.frombytes(blob)
    return frozenset(values)


class SimilarityIndex:
    """Index maintenance and probes on one connection (inside the caller's transactions)."""

    def __init__(self, conn: sqlite3.Connection, threshold: float) -> None:
        self._conn = conn
        self.threshold = threshold
        self._rank = similarity.Ranks(conn.execute("SELECT token, rank FROM sync_vocab"))

    def size(self) -> int:
        """How many rows are indexed."""
        return int(self._conn.execute("SELECT count(*) FROM sync_sets").fetchone()[0])

    def needs_rebuild(self) -> bool:
        """True when the order is not frozen yet (and there is enough to learn it from), or
        the threshold or prefix scheme changed since it was frozen."""
        frozen = self._meta("index_threshold")
        if frozen is None:
            return self.size() >= _FREEZE_MIN_ROWS
        return frozen != self._setting()

    def _setting(self) -> str:
        return f"{self.threshold!r}/{ELL}"

    def _meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM sync_meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def frequencies_to_come(self) -> dict[int, int] | None:
        """Before a first bulk indexing: token frequencies of the rows waiting to be indexed.

        Read-only (no write lock). Returns None unless the order is still unfrozen and
        enough rows wait, so the caller can freeze the order first and index each row
        once, in short transactions, instead of rebuilding a big index afterwards.
        """
        if self._meta("index_threshold") is not None:
            return None
        waiting = self._conn.execute("SELECT count(*) FROM sync_dirty").fetchone()[0]
        if waiting + self.size() < _FREEZE_MIN_ROWS:
            return None
        frequency: dict[int, int] = {}
        query = (
            "SELECT o.title, o.content FROM sync_dirty d JOIN observations o ON o.id = d.obs_id"
            " WHERE o.deleted_at IS NULL"
        )
        for title, content in self._conn.execute(query):
            for token in similarity.token_ids(similarity.word_set(title, content)):
                frequency[token] = frequency.get(token, 0) + 1
        return frequency

    def rebuild(self, extra: dict[int, int] | None = None) -> None:
        """Freeze a new token order from document frequencies and recompute every prefix.

        ``extra`` adds frequencies of rows about to be indexed (see ``frequencies_to_come``).
        """
        conn = self._conn
        frequency: dict[int, int] = dict(extra or {})
        sets = conn.execute("SELECT obs_id, tokens FROM sync_sets").fetchall()
        for _, blob in sets:
            for token in _unpack(blob):
                frequency[token] = frequency.get(token, 0) + 1
        conn.execute("DELETE FROM sync_vocab")
        conn.executemany("INSERT INTO sync_vocab (token, rank) VALUES (?, ?)", frequency.items())
        self._rank = similarity.Ranks(frequency)
        conn.execute("DELETE FROM sync_prefix")
        conn.executemany(
            "INSERT INTO sync_prefix (token, obs_id) VALUES (?, ?)",
            (
                (token, obs_id)
                for obs_id, blob in sets
                for token in similarity.prefix(_unpack(blob), self._rank, self.threshold, ELL)
            ),
        )
        conn.execute(
            "INSERT OR REPLACE INTO sync_meta (key, value) VALUES ('index_threshold', ?)",
            (self._setting(),),
        )

    def refresh_dirty(self, limit: int | None = None, seconds: float | None = None) -> int:
        """Re-index rows the application changed; returns how many were handled.

        At most ``limit`` rows, and none started after ``seconds`` (at least one is done).
        """
        query = "SELECT obs_id FROM sync_dirty LIMIT ?"
        ids = [row[0] for row in self._conn.execute(query, (-1 if limit is None else limit,))]
        started = time.monotonic()
        for n, obs_id in enumerate(ids):
            if seconds is not None and n and time.monotonic() - started >= seconds:
                ids = ids[:n]
                break
            self._reindex_row(obs_id)
        self._conn.executemany("DELETE FROM sync_dirty WHERE obs_id = ?", ((i,) for i in ids))
        return len(ids)

    def _reindex_row(self, obs_id: int) -> None:
        row = self._conn.execute(
            "SELECT project, scope, topic_key, title, content, deleted_at FROM observations"
            " WHERE id = ?",
            (obs_id,),
        ).fetchone()
        if row is None or row[5] is not None:
            self.remove(obs_id)
        else:
            self.put(obs_id, Text(*row[:5]))

    def remove(self, obs_id: int) -> None:
        """Forget a row (deleted or gone)."""
        self._conn.execute("DELETE FROM sync_sets WHERE obs_id = ?", (obs_id,))
        self._conn.execute("DELETE FROM sync_prefix WHERE obs_id = ?", (obs_id,))

    def put(self, obs_id: int, text: Text) -> None:
        """Index a live row's current title and content."""
        tokens = similarity.token_ids(similarity.word_set(text.title, text.content))
        self.remove(obs_id)
        self._conn.execute(
            "INSERT INTO sync_sets (obs_id, project, scope, topic_key, content_hash, size, tokens)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (obs_id, text.project, text.scope, text.topic_key, content_hash(text.content),
             len(tokens), _pack(tokens)),
        )  # fmt: skip
        new = [t for t in tokens if t not in self._rank]
        if new:
            self._conn.executemany(
                "INSERT OR IGNORE INTO sync_vocab (token, rank) VALUES (?, 0)",
                ((t,) for t in new),
            )
            self._rank.update(dict.fromkeys(new, 0))
        self._conn.executemany(
            "INSERT INTO sync_prefix (token, obs_id) VALUES (?, ?)",
            ((t, obs_id) for t in similarity.prefix(tokens, self._rank, self.threshold, ELL)),
        )

    def find_twin(
        self, text: Text, exclude: int = 0, accept: Callable[[int, str], bool] | None = None
    ) -> Twin | None:
        """The local live row a pulled observation duplicates, if any (exact first).

        Twins share project and scope: dedup never folds a shared observation into a
        personal one or the other way round. Row ``exclude`` (the probe's own) is skipped,
        and so is any row for which ``accept(obs_id, kind)`` is false (the next best is
        taken then).
        """
        exact = self._conn.execute(
            "SELECT obs_id FROM sync_sets WHERE project = ? AND content_hash = ?"
            " AND topic_key IS ? AND scope = ? AND obs_id != ? ORDER BY obs_id",
            (text.project, content_hash(text.content), text.topic_key, text.scope, exclude),
        ).fetchall()
        for (obs_id,) in exact:
            if accept is None or accept(obs_id, "exact"):
                return Twin(obs_id, "exact")
        tokens = similarity.token_ids(similarity.word_set(text.title, text.content))
        for obs_id in self._similar(text, tokens, exclude):
            if accept is None or accept(obs_id, "similar"):
                return Twin(obs_id, "similar")
        return None

    def _similar(self, text: Text, tokens: frozenset[int], exclude: int) -> list[int]:
        """Rows similar to ``text``, most similar first (lower id first on equal scores)."""
        topic_key = text.topic_key
        probe = similarity.prefix(tokens, self._rank, self.threshold, ELL)
        if not probe:
            return []
        low, high = similarity.length_bounds(len(tokens), self.threshold)
        needed = similarity.shared_needed(len(tokens), self.threshold, ELL)
        marks = ",".join("?" * len(probe))
        rows = self._conn.execute(
            "SELECT s.obs_id, s.topic_key, s.tokens FROM ("  # noqa: S608 - only '?' marks
            f" SELECT obs_id FROM sync_prefix WHERE token IN ({marks})"
            " GROUP BY obs_id HAVING count(*) >= ?) c"
            " CROSS JOIN sync_sets s ON s.obs_id = c.obs_id"
            " WHERE s.project = ? AND s.scope = ? AND s.size BETWEEN ? AND ?",
            (*probe, needed, text.project, text.scope, low, high),
        ).fetchall()
        found: list[tuple[float, int]] = []
        for obs_id, other_key, blob in rows:
            if obs_id == exclude:
                continue
            if topic_key is not None and other_key is not None and topic_key != other_key:
                continue
            other = _unpack(blob)
            if similarity.is_similar(tokens, other, self.threshold):
                found.append((-similarity.jaccard(tokens, other), obs_id))
        return [obs_id for _, obs_id in sorted(found)]
