"""Twin look-ups prepared outside the write lock give the answer a fresh look-up gives."""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from memento_syncd.store import index as index_module
from memento_syncd.store.db import connect, write
from memento_syncd.store.index import SimilarityIndex, Text, Twin
from tests.store.app import app_rows

WORDS = [f"w{n}" for n in range(12)]
words = st.lists(st.sampled_from(WORDS), min_size=1, max_size=10).map(" ".join)
texts = st.builds(
    lambda content, key, scope: Text("p", scope, key, "", content),
    words,
    st.sampled_from([None, None, "k1", "k2"]),
    st.sampled_from(["project", "project", "personal"]),
)
# A change made after the look-up: ("put", row, text) re-indexes or adds a row, ("remove",
# row, None) forgets one; rows 0-9 are among those indexed before.
changes = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.integers(0, 14), texts),
        st.tuples(st.just("remove"), st.integers(0, 14), st.none()),
    ),
    max_size=8,
)


@contextmanager
def _device() -> Iterator[tuple[sqlite3.Connection, SimilarityIndex]]:
    with tempfile.TemporaryDirectory() as tmp, closing(connect(Path(tmp) / "memento.db")) as conn:
        yield conn, SimilarityIndex(conn, 0.5)


def _answers(index: SimilarityIndex, text: Text, exclude: int) -> list[Twin | None]:
    """find_twin with no filter, and with a filter refusing odd rows (the next is taken)."""
    return [
        index.find_twin(text, exclude=exclude),
        index.find_twin(text, exclude=exclude, accept=lambda obs_id, _: obs_id % 2 == 0),
    ]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(texts, min_size=10, max_size=10),
    st.lists(texts, min_size=1, max_size=4),
    changes,
    st.integers(0, 14),
)
def test_prepared_answer_follows_changes_made_since(
    local: list[Text], incoming: list[Text], made: list[tuple[str, int, Text | None]], skip: int
) -> None:
    """Rows indexed, replaced or removed after the look-up count as a fresh look-up counts them."""
    with _device() as (conn, index):
        ids = app_rows(conn, 15)
        with write(conn):
            for obs_id, text in zip(ids, local, strict=False):
                index.put(obs_id, text)
        probes = index.prepare(incoming, seconds=10.0)
        assert len(probes) == len(incoming)
        with write(conn):
            index.validate()
            for _action, row, changed in made:
                if changed is not None:
                    index.put(ids[row], changed)
                else:
                    index.remove(ids[row])
            for text, probe in zip(incoming, probes, strict=True):
                assert probe is not None
                fresh = _answers(index, text, ids[skip])
                twin = index.find_twin(text, exclude=ids[skip], probe=probe)
                odd = index.find_twin(
                    text, exclude=ids[skip], accept=lambda obs_id, _: obs_id % 2 == 0, probe=probe
                )
                assert [twin, odd] == fresh
        index.release()


def test_a_change_by_another_connection_voids_prepared_answers(tmp_path: Path) -> None:
    """A twin indexed by another process between look-up and use is still found."""
    with closing(connect(tmp_path / "memento.db")) as conn:
        index = SimilarityIndex(conn, 0.85)
        row = app_rows(conn, 1)[0]
        text = Text("p", "project", None, "", "alpha beta gamma delta")
        (probe,) = index.prepare([text], seconds=1.0)
        assert probe is not None
        assert probe.exact == ()
        with closing(connect(tmp_path / "memento.db")) as other, write(other):
            SimilarityIndex(other, 0.85).put(row, text)
        with write(conn):
            index.validate()
            assert index.find_twin(text, probe=probe) == Twin(row, "exact")


def test_rows_indexed_since_are_twins_by_content_or_by_words(tmp_path: Path) -> None:
    """Rows this index indexes after the look-up count: one with the same content but
    other words (its title) as an exact twin, one with nearly the same words as a near
    twin, and one re-indexed with other words, or forgotten, no longer."""
    with closing(connect(tmp_path / "memento.db")) as conn:
        index = SimilarityIndex(conn, 0.85)
        same, near, moved, gone = app_rows(conn, 4)
        short = Text("p", "project", None, "", "w0 w1 w2 w3")
        long = Text("p", "project", None, "", " ".join(f"w{n}" for n in range(40)))
        with write(conn):
            index.put(moved, short)
            index.put(gone, short)
        probe, long_probe = index.prepare([short, long], seconds=1.0)
        assert probe is not None
        assert long_probe is not None
        assert probe.exact == (moved, gone)
        titled = Text("p", "project", None, " ".join(f"t{n}" for n in range(200)), short.content)
        _, prefix = index._analyse(titled)
        assert len(set(probe.prefix) & set(prefix)) < probe.needed  # no twin by its words
        with write(conn):
            index.validate()
            index.put(moved, Text("p", "project", None, "", "something else entirely"))
            index.remove(gone)
            index.put(same, titled)
            assert index.find_twin(short, probe=probe) == Twin(same, "exact")
            index.put(near, Text("p", "project", None, "", long.content + " w40"))
            assert index.find_twin(long, probe=long_probe) == Twin(near, "similar")
            index.remove(same)
            assert index.find_twin(short, probe=probe) is None


def test_many_changes_since_void_prepared_answers(tmp_path: Path) -> None:
    """Past the log's limit, prepared answers are dropped and looked up afresh."""
    with closing(connect(tmp_path / "memento.db")) as conn:
        index = SimilarityIndex(conn, 0.85)
        ids = app_rows(conn, index_module._LOG_LIMIT + 2)
        text = Text("p", "project", None, "", "alpha beta gamma delta")
        (probe,) = index.prepare([text], seconds=1.0)
        with write(conn):
            index.validate()
            for obs_id in ids[1:]:
                index.put(obs_id, Text("p", "project", None, "", f"other {obs_id}"))
            index.put(ids[0], text)
            assert probe is not None
            assert index._from_probe(probe, text, 0) is None  # stale: not used
            assert index.find_twin(text, probe=probe) == Twin(ids[0], "exact")


def test_prepared_answers_outlive_a_commit_but_not_a_rollback_or_release(
    tmp_path: Path,
) -> None:
    """Own committed changes are in the log; a rolled-back one is not, so answers go."""
    with closing(connect(tmp_path / "memento.db")) as conn:
        index = SimilarityIndex(conn, 0.85)
        first, second = app_rows(conn, 2)
        text = Text("p", "project", None, "", "alpha beta gamma delta")
        (probe,) = index.prepare([text], seconds=1.0)
        assert probe is not None
        with write(conn):
            index.validate()
            index.put(first, text)
        with write(conn):
            index.validate()
            assert index._from_probe(probe, text, 0) == ([first], [first])
        conn.execute("BEGIN IMMEDIATE")
        index.put(second, text)
        conn.execute("ROLLBACK")
        with write(conn):
            index.validate()
            assert index._from_probe(probe, text, 0) is None
            assert index.find_twin(text, probe=probe) == Twin(first, "exact")
        (probe,) = index.prepare([text], seconds=1.0)
        index.release()
        assert probe is not None
        assert index._from_probe(probe, text, 0) is None


def test_prepare_stops_after_its_time(tmp_path: Path) -> None:
    """With no time left, prepare still looks one batch of texts up and leaves the rest."""
    with closing(connect(tmp_path / "memento.db")) as conn:
        index = SimilarityIndex(conn, 0.85)
        text = Text("p", "project", None, "", "alpha beta")
        texts = [None, text] * index_module._PREPARE_BATCH
        probes = index.prepare(texts, seconds=0.0)
        assert len(probes) == index_module._PREPARE_BATCH
        assert probes[::2] == [None] * (index_module._PREPARE_BATCH // 2)
        assert all(probe is not None for probe in probes[1::2])
        assert len(index.prepare(texts, seconds=60.0)) == len(texts)
        assert not conn.in_transaction


def test_a_change_by_another_index_on_the_same_connection_voids_prepared_answers(
    tmp_path: Path,
) -> None:
    """A second index object writing in the same transaction is not in the first one's log."""
    with closing(connect(tmp_path / "memento.db")) as conn:
        first, second = SimilarityIndex(conn, 0.85), SimilarityIndex(conn, 0.85)
        row = app_rows(conn, 1)[0]
        text = Text("p", "project", None, "", "alpha beta gamma delta")
        (probe,) = first.prepare([text], seconds=1.0)
        with write(conn):
            first.validate()
            second.put(row, text)
            assert probe is not None
            assert first._from_probe(probe, text, 0) is None  # stale: not used
            assert first.find_twin(text, probe=probe) == Twin(row, "exact")


def test_a_rebuild_elsewhere_voids_prepared_answers_and_loaded_postings(tmp_path: Path) -> None:
    """Another connection's rebuild rewrites every prefix: answers and postings are dropped."""
    with closing(connect(tmp_path / "memento.db")) as conn:
        index = SimilarityIndex(conn, 0.85)
        rows = app_rows(conn, 3)
        with write(conn):
            for n, row in enumerate(rows):
                index.put(row, Text("p", "project", None, "", f"alpha beta gamma delta {n}"))
        text = Text("p", "project", None, "", "alpha beta gamma delta 9")
        (probe,) = index.prepare([text], seconds=1.0)
        assert index._postings  # the look-up loaded some
        with closing(connect(tmp_path / "memento.db")) as other, write(other):
            SimilarityIndex(other, 0.85).rebuild()
        with write(conn):
            index.validate()
            assert probe is not None
            assert index._from_probe(probe, text, 0) is None
        index._sync()
        assert not index._postings


def test_a_twin_the_application_writes_between_look_up_and_lock_is_found(tmp_path: Path) -> None:
    """The app's row, written after the look-up and indexed when the slice starts, is found."""
    with closing(connect(tmp_path / "memento.db")) as conn:
        index = SimilarityIndex(conn, 0.85)
        text = Text("p", "project", None, "", "alpha beta gamma delta")
        (probe,) = index.prepare([text], seconds=1.0)
        with closing(sqlite3.connect(tmp_path / "memento.db")) as app, app:
            app_row = app.execute(
                "INSERT INTO observations (project, type, title, content, created_at, updated_at)"
                " VALUES ('p', 'note', '', 'alpha beta gamma delta', 'x', 'x')"
            ).lastrowid
        with write(conn):
            index.validate()
            index.refresh_dirty()  # as apply_page does at the start of each slice
            assert index.find_twin(text, probe=probe) == Twin(app_row or 0, "exact")
