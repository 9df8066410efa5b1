"""A new threshold forgets the index in short transactions, then dedup is exact under it."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from memento_syncd.core import similarity
from memento_syncd.store import reset
from memento_syncd.store.db import connect, write
from memento_syncd.store.index import SimilarityIndex, Text, learn_order

WORDS = [f"w{n}" for n in range(2500)]  # more than one batch of tokens
ROWS = 1200  # above the 1,000 rows an order is learnt from


def _texts(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not a secret
    return [" ".join(rng.sample(WORDS, rng.randint(6, 14))) for _ in range(count)]


def _near(text: str, seed: int) -> str:
    """``text`` with one word swapped: similar at 0.6, often not at 0.85."""
    words = text.split()
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not a secret
    words[rng.randrange(len(words))] = f"new{seed}"
    return " ".join(words)


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """A device database whose application wrote ``ROWS`` observations."""
    with closing(connect(tmp_path / "memento.db")) as db:
        with write(db):
            for content in _texts(1, ROWS):
                db.execute(
                    "INSERT INTO observations (project, type, title, content, created_at,"
                    " updated_at) VALUES ('p', 'note', '', ?, 'x', 'x')",
                    (content,),
                )
        yield db


def _refresh(conn: sqlite3.Connection, index: SimilarityIndex) -> None:
    """What a sync does first (client.engine._refresh_index), without the pauses."""
    if reset.underway(conn) or index.order_stale():
        with write(conn):
            reset.start(conn)
        while True:
            with write(conn):
                if not reset.step(conn, 0.03):
                    break
    learn_order(conn, index)
    while True:
        with write(conn):
            if index.refresh_dirty(limit=500) == 0:
                break


def _count(conn: sqlite3.Connection, table: str) -> int:
    return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608


def _setting(conn: sqlite3.Connection) -> str | None:
    row = conn.execute("SELECT value FROM sync_meta WHERE key = 'index_threshold'").fetchone()
    return None if row is None else str(row[0])


def _brute(conn: sqlite3.Connection, content: str, threshold: float) -> int | None:
    """The near twin brute force finds among the live rows (highest Jaccard, lowest id)."""
    probe = similarity.token_ids(similarity.word_set("", content))
    best: tuple[float, int] | None = None
    for obs_id, other_content in conn.execute(
        "SELECT id, content FROM observations WHERE deleted_at IS NULL ORDER BY id"
    ):
        other = similarity.token_ids(similarity.word_set("", other_content))
        if similarity.is_similar(probe, other, threshold):
            score = similarity.jaccard(probe, other)
            if best is None or score > best[0]:
                best = (score, obs_id)
    return None if best is None else best[1]


def _probes() -> list[str]:
    local = _texts(1, ROWS)
    return [_near(local[n], n) for n in range(0, ROWS, 40)] + _texts(2, 20)


def _find(index: SimilarityIndex, content: str) -> int | None:
    twin = index.find_twin(Text("p", "project", None, "", content))
    return None if twin is None else twin.obs_id


def test_a_new_threshold_forgets_the_index_a_batch_per_transaction(
    conn: sqlite3.Connection,
) -> None:
    """Each step drops one batch of postings, then of rows (which wait to be indexed again),
    then of the order's tokens; the last leaves no posting, row or token, and no order."""
    _refresh(conn, SimilarityIndex(conn, 0.85))
    assert _setting(conn) == "0.85/3"
    assert _count(conn, "sync_sets") == ROWS
    index = SimilarityIndex(conn, 0.6)
    assert index.order_stale()
    with write(conn):
        reset.start(conn)
    postings, rows, tokens = _count(conn, "sync_postings"), ROWS, _count(conn, "sync_vocab")
    assert postings > reset.POSTINGS_BATCH
    assert tokens > reset.TOKENS_BATCH
    more = True
    while more:
        with write(conn):
            more = reset.step(conn, 0)  # no time: one batch
        done = (
            postings - _count(conn, "sync_postings"),
            rows - _count(conn, "sync_sets"),
            tokens - _count(conn, "sync_vocab"),
        )
        if postings:
            assert done == (min(postings, reset.POSTINGS_BATCH), 0, 0)
        elif rows:
            assert done == (0, min(rows, reset.ROWS_BATCH), 0)
        else:
            assert done == (0, 0, min(tokens, reset.TOKENS_BATCH))
        postings, rows, tokens = postings - done[0], rows - done[1], tokens - done[2]
        assert more or not (postings or rows or tokens)
    assert not reset.underway(conn)
    assert _setting(conn) is None
    assert _count(conn, "sync_vocab") == _count(conn, "sync_postings") == 0
    assert _count(conn, "sync_sets") == 0
    assert _count(conn, "sync_dirty") == ROWS
    assert not index.order_stale()


def _step_until(conn: sqlite3.Connection, moved: int) -> None:
    """Start a reset and step until at least ``moved`` rows left the index (0: one step)."""
    with write(conn):
        reset.start(conn)
        reset.step(conn, 0)
    while _count(conn, "sync_sets") > ROWS - moved:
        with write(conn):
            reset.step(conn, 0)


def test_after_a_new_threshold_dedup_is_brute_force_under_it(conn: sqlite3.Connection) -> None:
    """Rows indexed under 0.85 are found as near twins at 0.6 once the sync has run."""
    _refresh(conn, SimilarityIndex(conn, 0.85))
    index = SimilarityIndex(conn, 0.6)
    _refresh(conn, index)
    assert _setting(conn) == "0.6/3"
    found = [_find(index, content) for content in _probes()]
    assert found == [_brute(conn, content, 0.6) for content in _probes()]
    assert sum(twin is not None for twin in found) >= ROWS // 40  # the near ones, at least


@pytest.mark.parametrize("moved", [0, 200])
def test_look_ups_during_a_reset_name_no_wrong_twin(conn: sqlite3.Connection, moved: int) -> None:
    """Half-way (postings half dropped, or rows half moved), a look-up misses rows
    waiting to be indexed again but names no wrong one."""
    _refresh(conn, SimilarityIndex(conn, 0.6))
    _step_until(conn, moved)
    index = SimilarityIndex(conn, 0.6)
    for content in _probes():
        found = _find(index, content)
        assert found is None or similarity.is_similar(
            similarity.token_ids(similarity.word_set("", content)),
            similarity.token_ids(similarity.word_set("", _content(conn, found))),
            0.6,
        )
    exact = _texts(1, ROWS)[-1]  # the last row: still indexed
    twin = index.find_twin(Text("p", "project", None, "", exact))
    assert twin is not None
    assert twin.kind == "exact"


def test_a_reset_stopped_half_way_is_finished_by_the_next_sync(conn: sqlite3.Connection) -> None:
    """A sync with the old threshold still finishes a reset it finds under way."""
    _refresh(conn, SimilarityIndex(conn, 0.6))
    _step_until(conn, 200)
    index = SimilarityIndex(conn, 0.6)
    assert not index.order_stale()  # the order matches: only the mark says to go on
    _refresh(conn, index)
    assert not reset.underway(conn)
    assert _setting(conn) == "0.6/3"
    assert _count(conn, "sync_sets") == ROWS
    assert [_find(index, c) for c in _probes()] == [_brute(conn, c, 0.6) for c in _probes()]


def test_another_connection_follows_a_reset(conn: sqlite3.Connection, tmp_path: Path) -> None:
    """An index object on another connection, holding postings, answers as brute force after."""
    _refresh(conn, SimilarityIndex(conn, 0.85))
    with closing(connect(tmp_path / "memento.db")) as other_conn:
        other = SimilarityIndex(other_conn, 0.6)
        _find(other, _probes()[0])  # loads postings and the 0.85 order
        _refresh(conn, SimilarityIndex(conn, 0.6))
        found = [_find(other, content) for content in _probes()]
    assert found == [_brute(conn, content, 0.6) for content in _probes()]


def test_rows_another_process_indexes_mid_reset_are_forgotten_too(
    conn: sqlite3.Connection, tmp_path: Path
) -> None:
    """A process still on the old threshold re-indexes moved rows; the reset moves them
    again, drops their postings, and the index ends exact with no posting twice."""
    _refresh(conn, SimilarityIndex(conn, 0.85))
    _step_until(conn, 200)
    with closing(connect(tmp_path / "memento.db")) as other_conn:
        old = SimilarityIndex(other_conn, 0.85)
        with write(other_conn):
            assert old.refresh_dirty(limit=100) == 100  # under the old order, with postings
    assert _count(conn, "sync_postings") > 0
    while True:
        with write(conn):
            if not reset.step(conn, 0.03):
                break
    assert _count(conn, "sync_sets") == _count(conn, "sync_postings") == 0
    index = SimilarityIndex(conn, 0.6)
    _refresh(conn, index)
    assert _setting(conn) == "0.6/3"
    assert _count(conn, "sync_sets") == ROWS
    assert [_find(index, c) for c in _probes()] == [_brute(conn, c, 0.6) for c in _probes()]
    for token, count in conn.execute("SELECT token, count(*) FROM sync_postings GROUP BY token"):
        ids = b"".join(
            blob
            for (blob,) in conn.execute("SELECT ids FROM sync_postings WHERE token = ?", (token,))
        )
        assert len({ids[i : i + 8] for i in range(0, len(ids), 8)}) == len(ids) // 8, count


def test_an_index_holding_rows_learns_no_order_in_place(conn: sqlite3.Connection) -> None:
    """With rows indexed under no order yet, the order is stale rather than learnt over them."""
    index = SimilarityIndex(conn, 0.85)
    with write(conn):
        assert index.refresh_dirty(limit=10) == 10  # indexed before any order was learnt
    assert index.frequencies_to_come() is None
    assert index.order_stale()
    _refresh(conn, index)
    assert _setting(conn) == "0.85/3"
    assert _count(conn, "sync_sets") == ROWS
    assert not index.order_stale()


def _content(conn: sqlite3.Connection, obs_id: int) -> str:
    return str(
        conn.execute("SELECT content FROM observations WHERE id = ?", (obs_id,)).fetchone()[0]
    )
