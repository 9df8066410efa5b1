"""The persistent similarity index finds exactly the near twin brute force finds."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from memento_syncd.core import similarity
from memento_syncd.store.db import connect, write
from memento_syncd.store.index import SimilarityIndex, Text, plan_order

WORDS = [f"w{n}" for n in range(30)]
docs = st.lists(st.sampled_from(WORDS), min_size=1, max_size=25)


def _brute(query: list[str], local: dict[int, list[str]], threshold: float) -> int | None:
    q = similarity.token_ids(similarity.word_set("", " ".join(query)))
    best: tuple[float, int] | None = None
    for obs_id, words in local.items():
        other = similarity.token_ids(similarity.word_set("", " ".join(words)))
        if similarity.is_similar(q, other, threshold):
            score = similarity.jaccard(q, other)
            if best is None or (score, -obs_id) > (best[0], -best[1]):
                best = (score, obs_id)
    return None if best is None else best[1]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(docs, min_size=1, max_size=25),
    st.lists(docs, min_size=1, max_size=10),
    st.sampled_from([0.5, 0.7, 0.85]),
    st.booleans(),
)
def test_find_twin_matches_brute_force(
    local: list[list[str]], incoming: list[list[str]], threshold: float, rebuild: bool
) -> None:
    """With or without a frozen order, the index's near twin is brute force's."""
    with tempfile.TemporaryDirectory() as tmp:
        conn = connect(Path(tmp) / "memento.db")
        index = SimilarityIndex(conn, threshold)
        ids: dict[int, list[str]] = {}
        with write(conn):
            for n, words in enumerate(local):
                content = " ".join(words) + f" unique{n}"  # never an exact twin
                obs_id = _insert(conn, content)
                index.put(obs_id, Text("p", "project", None, "", content))
                ids[obs_id] = [*words, f"unique{n}"]
            if rebuild:
                index.rebuild()
        for words in incoming:
            twin = index.find_twin(Text("p", "project", None, "", " ".join(words)))
            expected = _brute(words, ids, threshold)
            assert (twin.obs_id if twin else None) == expected
        conn.close()


def _insert(conn: sqlite3.Connection, content: str) -> int:
    cur = conn.execute(
        "INSERT INTO observations (project, type, title, content, created_at, updated_at)"
        " VALUES ('p', 'note', '', ?, 'x', 'x')",
        (content,),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


def _vocabulary(conn: sqlite3.Connection) -> list[tuple[int, int]]:
    return [(int(t), int(r)) for t, r in conn.execute("SELECT token, rank FROM sync_vocab")]


@settings(max_examples=40, deadline=None)
@given(st.lists(docs, max_size=8), st.lists(docs, min_size=1, max_size=8))
def test_a_planned_rebuild_freezes_the_order_counting_would(
    indexed: list[list[str]], waiting: list[list[str]]
) -> None:
    """A rebuild given a plan (its order sorted before the write lock) stores the same
    vocabulary and probes in the same order as one given the frequencies: the plan's as
    they are when nothing is indexed, the indexed rows' counted in when some are."""
    frequency: dict[int, int] = {}
    for words in waiting:
        for token in similarity.token_ids(similarity.word_set("", " ".join(words))):
            frequency[token] = frequency.get(token, 0) + 1
    with tempfile.TemporaryDirectory() as tmp:
        found = []
        for planned in (False, True):
            conn = connect(Path(tmp) / f"{planned}.db")
            index = SimilarityIndex(conn, 0.5)
            with write(conn):
                for words in indexed:
                    content = " ".join(words)
                    index.put(_insert(conn, content), Text("p", "project", None, "", content))
                if planned:
                    index.rebuild(plan=plan_order(frequency))
                else:
                    index.rebuild(extra=frequency)
            probe = Text("p", "project", None, "", " ".join(waiting[0]))
            found.append((_vocabulary(conn), index._analyse(probe), index.find_twin(probe)))
            conn.close()
        assert found[0] == found[1]
