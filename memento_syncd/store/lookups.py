"""Twin look-ups over the index tables for many texts at once.

A look-up reads three things: the rows with the same content hash, the postings of the
text's prefix tokens, and the rows those postings name. Done one text at a time that is
three or four statements per text; here each is one statement (or one per 500 values)
for a whole batch, and a candidate row shared by several texts of the batch is read and
unpacked once.
The answers are exactly those of looking each text up alone (``SimilarityIndex`` checks
so in the test suite: it compares every prepared answer with a fresh single look-up).
"""

from __future__ import annotations

import sqlite3
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from memento_syncd.core import similarity
from memento_syncd.store.db import chunks
from memento_syncd.store.postings import Postings


@dataclass(frozen=True, slots=True)
class Query:
    """One text to look up, analysed: where it lives, its tokens, prefix and content hash."""

    project: str
    scope: str
    topic_key: str | None
    tokens: frozenset[int]
    prefix: Sequence[int]
    digest: str


def exact(conn: sqlite3.Connection, queries: Sequence[Query], exclude: int) -> list[list[int]]:
    """Per query, ascending, the rows holding the same content, topic_key, project and
    scope (row ``exclude`` left out)."""
    wanted: dict[tuple[str, str], list[int]] = {}  # (project, digest) -> query positions
    for position, query in enumerate(queries):
        wanted.setdefault((query.project, query.digest), []).append(position)
    by_project: dict[str, list[str]] = {}
    for project, digest in wanted:
        by_project.setdefault(project, []).append(digest)
    found: list[list[int]] = [[] for _ in queries]
    for project, digests in by_project.items():
        for chunk in chunks(digests):
            rows = conn.execute(
                "SELECT obs_id, content_hash, topic_key, scope FROM sync_sets"  # noqa: S608
                f" WHERE project = ? AND content_hash IN ({','.join('?' * len(chunk))})",
                (project, *chunk),
            )
            for obs_id, digest, topic_key, scope in rows:
                for position in wanted[(project, digest)]:
                    query = queries[position]
                    if obs_id != exclude and topic_key == query.topic_key and scope == query.scope:
                        found[position].append(obs_id)
    for ids in found:
        ids.sort()
    return found


def similar(
    conn: sqlite3.Connection,
    postings: Postings,
    queries: Sequence[Query],
    *,
    threshold: similarity.Threshold,
    ell: int,
    exclude: int,
    bulk: bool = False,
) -> list[list[tuple[float, int]]]:
    """Per query, ``(-jaccard, obs_id)`` ascending of the rows similar to it: same project
    and scope, topic_keys not both set and different, Jaccard above ``threshold``.

    Candidates are the rows whose indexed prefix holds at least ``shared_needed`` of the
    query's prefix tokens (prefix filter), of a size within ``length_bounds`` (length
    filter); each is then checked exactly. ``bulk``: see ``Postings.shared_many``.
    """
    bounds = [similarity.length_bounds(len(query.tokens), threshold) for query in queries]
    wants = [
        (query.prefix, similarity.shared_needed(len(query.tokens), threshold, ell))
        for query in queries
    ]
    sizes = [len(query.tokens) for query in queries]
    candidates = postings.shared_many(wants, bulk=bulk, positional=(sizes, threshold))
    rows = _rows(conn, candidates, bounds)
    unpacked: dict[int, frozenset[int]] = {}
    found: list[list[tuple[float, int]]] = []
    for query, (low, high), ids in zip(queries, bounds, candidates, strict=True):
        scored: list[tuple[float, int]] = []
        for obs_id in ids:
            row = rows.get(obs_id)
            if row is None or obs_id == exclude:
                continue
            project, scope, size, topic_key, blob = row
            if project != query.project or scope != query.scope or not low <= size <= high:
                continue
            if topic_key not in (None, query.topic_key) and query.topic_key is not None:
                continue  # both set, and different
            other = unpacked.get(obs_id)
            if other is None:
                other = unpacked[obs_id] = unpack_tokens(blob)
            if similarity.is_similar(query.tokens, other, threshold):
                scored.append((-similarity.jaccard(query.tokens, other), obs_id))
        scored.sort()
        found.append(scored)
    return found


Row = tuple[str, str, int, str | None, bytes]


def _rows(
    conn: sqlite3.Connection, candidates: list[list[int]], bounds: list[tuple[int, int]]
) -> dict[int, Row]:
    """The index rows of every candidate whose size some query could accept."""
    ids = sorted(set().union(*candidates)) if candidates else []
    if not ids:
        return {}
    low = min(b[0] for b in bounds)
    high = max(b[1] for b in bounds)
    rows: dict[int, Row] = {}
    for chunk in chunks(ids):
        for obs_id, *row in conn.execute(
            "SELECT obs_id, project, scope, size, topic_key, tokens FROM sync_sets"  # noqa: S608
            f" WHERE obs_id IN ({','.join('?' * len(chunk))}) AND size BETWEEN ? AND ?",
            (*chunk, low, high),
        ):
            rows[obs_id] = (row[0], row[1], row[2], row[3], row[4])
    return rows


def pack_tokens(tokens: Iterable[int]) -> bytes:
    """A token set as ``sync_sets.tokens`` holds it: 8-byte integers in native byte order,
    in no particular order (it is read back as a set)."""
    return array("q", tokens).tobytes()


def unpack_tokens(blob: bytes) -> frozenset[int]:
    """The token set ``pack_tokens`` stored."""
    values = array("q")
    values.frombytes(blob)
    return frozenset(values)
