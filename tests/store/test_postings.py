"""Prefix postings held in memory stay in step with the database, whoever changes it."""

from __future__ import annotations

import itertools
import random
import sqlite3
import tempfile
from collections import Counter
from contextlib import closing
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from memento_syncd.core import similarity, speedups
from memento_syncd.core.hashing import content_hash
from memento_syncd.core.token_order import FrozenOrder
from memento_syncd.store import postings as postings_module
from memento_syncd.store import reset
from memento_syncd.store.db import connect, write
from memento_syncd.store.index import ELL, SimilarityIndex, Text, Twin
from memento_syncd.store.posting_rows import (
    MIDDLE,
    SEALED,
    compact,
    pack,
    store_added,
    store_removed,
    unpack,
)
from memento_syncd.store.postings import Postings
from tests.store.app import app_rows

THRESHOLD = 0.5
WORDS = [f"w{n}" for n in range(10)]
contents = st.lists(st.sampled_from(WORDS), min_size=1, max_size=8).map(" ".join)
# (device connection 0 or 1, action, row 0-5, content, committed or rolled back)
steps = st.lists(
    st.tuples(
        st.integers(0, 1),
        st.sampled_from(["put", "remove", "probe", "rebuild"]),
        st.integers(0, 5),
        contents,
        st.booleans(),
    ),
    min_size=1,
    max_size=25,
)


def _text(content: str) -> Text:
    return Text("p", "project", None, "", content)


def _expected(model: dict[int, str], content: str) -> Twin | None:
    """What find_twin must answer, by comparing with every committed row."""
    exact = sorted(i for i, c in model.items() if content_hash(c) == content_hash(content))
    if exact:
        return Twin(exact[0], "exact")
    probe = similarity.token_ids(similarity.word_set("", content))
    scored = []
    for obs_id, other in model.items():
        tokens = similarity.token_ids(similarity.word_set("", other))
        if similarity.is_similar(probe, tokens, THRESHOLD):
            scored.append((-similarity.jaccard(probe, tokens), obs_id))
    return Twin(min(scored)[1], "similar") if scored else None


def _change(
    conn: sqlite3.Connection, index: SimilarityIndex, action: str, row: int, content: str,
    commit: bool,
) -> bool:  # fmt: skip
    """Index or forget ``row`` in a write transaction, then commit it or roll it back."""
    conn.execute("BEGIN IMMEDIATE")
    if action == "put":
        index.put(row, _text(content))
    elif action == "rebuild":  # a new token order, from the rows' frequencies
        index.rebuild()
    else:
        index.remove(row)
    conn.execute("COMMIT" if commit else "ROLLBACK")
    return commit


@settings(max_examples=400, deadline=None)
@given(steps, st.sampled_from([3, 40, 10_000]), st.sampled_from([0, 1, 4, 500]))
def test_probes_see_every_committed_change_of_either_connection(
    plan: list[tuple[int, str, int, str, bool]], limit: int, bulk_min: int
) -> None:
    """Two connections change, re-order and probe the index in turn: each probe answers as
    brute force, whether postings are read token by token or all at once, and capped."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "memento.db"
        with closing(connect(path)) as first, closing(connect(path)) as second:
            conns = (first, second)
            indexes = [SimilarityIndex(conn, THRESHOLD) for conn in conns]
            for index, conn in zip(indexes, conns, strict=True):
                index._postings = Postings(conn, limit=limit, bulk_min=bulk_min)
            ids = app_rows(first, 6)
            model: dict[int, str] = {}
            for device, action, row, content, commit in plan:
                index, conn = indexes[device], conns[device]
                if action == "probe":  # fresh, then prepared (which may read all postings)
                    assert index.find_twin(_text(content)) == _expected(model, content)
                    (probe,) = index.prepare([_text(content)], seconds=1.0)
                    assert probe is not None
                    with write(conn):
                        index.validate()
                        twin = index.find_twin(_text(content), probe=probe)
                    index.release()
                    assert twin == _expected(model, content)
                    continue
                if not _change(conn, index, action, ids[row], content, commit):
                    continue
                if action == "put":
                    model[ids[row]] = content
                elif action == "remove":
                    model.pop(ids[row], None)


def test_a_removal_rolled_back_is_not_forgotten(tmp_path: Path) -> None:
    """A row whose removal was rolled back is still found from warm postings."""
    with closing(connect(tmp_path / "memento.db")) as conn:
        index = SimilarityIndex(conn, 0.5)
        (row, *_) = app_rows(conn, 6)
        text = _text("alpha beta gamma delta epsilon")
        near = _text("alpha beta gamma delta zeta")
        with write(conn):
            index.put(row, text)
        assert index.find_twin(near) == Twin(row, "similar")  # loads the postings
        assert not _change(conn, index, "remove", row, "", commit=False)
        assert index.find_twin(near) == Twin(row, "similar")


def test_a_full_cache_keeps_what_it_holds_complete(tmp_path: Path) -> None:
    """Full: a new token is read but not kept, and a kept one that would grow is dropped."""
    with closing(connect(tmp_path / "memento.db")) as conn:
        index = SimilarityIndex(conn, 0.5)
        rows = app_rows(conn, 6)
        with write(conn):
            for n, row in enumerate(rows):
                index.put(row, _text(f"shared words here row{n}"))
        counts = Counter(
            t for (p,) in conn.execute("SELECT prefix FROM sync_sets") for t in unpack(p)
        )
        by_size = sorted(counts.items(), key=lambda found: (-found[1], found[0]))
        (big, big_count), (small, small_count) = by_size[0], by_size[-1]
        assert big_count == len(rows)
        assert small_count == 1
        postings = Postings(conn, limit=len(rows))
        assert sorted(postings.shared([big], 1)) == rows
        assert postings._size == len(rows)
        assert len(postings.shared([small], 1)) == 1  # read, not kept: it would not fit
        assert list(postings._lists) == [big]
        assert sorted(postings.shared([big, small], 2)) == sorted(postings.shared([small], 1))
        postings.added(999, [big])  # would pass the limit: the token is dropped, not cut
        assert big not in postings._lists
        assert postings._size == 0


def test_row_ids_past_two_to_the_31_are_kept_exactly(tmp_path: Path) -> None:
    """Postings start 4 bytes wide and widen for a row id that does not fit."""
    with closing(connect(tmp_path / "memento.db")) as conn:
        postings = Postings(conn)
        token = 7
        store_added(conn, 1, [token])
        assert postings.shared([token], 1) == [1]
        postings.added(2**40, [token])
        assert sorted(postings.shared([token], 1)) == [1, 2**40]
        store_added(conn, 2**40, [8])
        store_added(conn, 3, [8])
        assert postings.shared([8], 1) == [3, 2**40]


def test_a_connection_follows_an_order_rebuilt_by_another(tmp_path: Path) -> None:
    """Rows one connection indexes after another rebuilt the token order stay findable there."""
    words = [f"w{n}" for n in range(400)]
    rng = random.Random(7)  # noqa: S311 - reproducible test data, not a secret
    path = tmp_path / "memento.db"
    with closing(connect(path)) as old, closing(connect(path)) as new:
        stale = SimilarityIndex(old, 0.85)  # reads the order before the rebuild below
        fresh = SimilarityIndex(new, 0.85)
        with write(new):
            for obs_id in range(1, 300):
                fresh.put(obs_id, _text(" ".join(rng.sample(words, 40))))
            fresh.rebuild()
        missed = []
        for obs_id in range(1000, 1040):
            content = rng.sample(words, 60)
            with write(old):
                stale.put(obs_id, _text(" ".join(content)))
            near = _text(" ".join([*content[:59], "other"]))  # Jaccard 59/61
            if fresh.find_twin(near) != Twin(obs_id, "similar"):
                missed.append(obs_id)
            with write(old):
                stale.remove(obs_id)
        assert missed == []


stored_changes = st.lists(
    st.tuples(
        st.sampled_from(["add", "remove", "compact", "merge_batch"]),
        st.sampled_from([1, 2, 4095, 4096, 4097, 9000, 30_000, 2**31 + 5, 2**40]),  # buckets
        st.sets(st.sampled_from([3, 7, 11, -(2**63), 2**63 - 1]), max_size=4),
    ),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(stored_changes, st.sampled_from(["UTF-8", "UTF-16le", "UTF-16be"]))
def test_stored_postings_follow_adds_and_removes(
    changes: list[tuple[str, int, set[int]]], encoding: str
) -> None:
    """sync_postings holds, per token, exactly the rows added and not removed since, byte
    for byte in any database encoding (the application chooses it), compacted, half
    compacted or not."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "memento.db"
        with closing(sqlite3.connect(path)) as app:
            app.execute(f"PRAGMA encoding = '{encoding}'")
            app.execute("CREATE TABLE made (x)")
        with closing(connect(path)) as conn, write(conn):
            model: dict[int, set[int]] = {}
            for action, obs_id, tokens in changes:
                if action == "compact":
                    while compact(conn, 0.0):
                        pass
                    continue
                if action == "merge_batch":  # one batch: a merge or a seal left half done
                    compact(conn, 0.0)
                    continue
                for token in tokens:
                    if action == "add":
                        model.setdefault(token, set()).add(obs_id)
                    else:
                        model.get(token, set()).discard(obs_id)
                if action == "add":  # as the index does: a row is added only where it is not yet
                    new = {t for t in tokens if obs_id not in _stored(conn, t)}
                    store_added(conn, obs_id, new)
                else:
                    store_removed(conn, obs_id, tokens)
            for token in (3, 7, 11, -(2**63), 2**63 - 1):
                assert sorted(_stored(conn, token)) == sorted(model.get(token, ()))
                assert Postings(conn).shared([token], 1) == sorted(model.get(token, ()))


held_changes = st.lists(
    st.tuples(
        st.sampled_from(["add", "remove", "probe", "probe", "compact", "merge_batch"]),
        st.sampled_from([1, 2, 4097, 9000, 2**31 + 5, 2**40]),  # row ids in several buckets
        st.sets(st.sampled_from([3, 7, 11, 13]), max_size=4),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(
    held_changes,
    st.sampled_from([0, 1, 3, 10_000]),
    st.sampled_from([2, 5, 1000]),
    st.sampled_from([True, True, False]),
)
def test_postings_held_across_changes_answer_as_stored(
    changes: list[tuple[str, int, set[int]]], bulk_min: int, limit: int, bulk: bool
) -> None:
    """Postings kept in step with adds and removes, read token by token or all at once
    (4- and 8-byte ids in several stored rows), capped or not, answer as the model."""
    with tempfile.TemporaryDirectory() as tmp, closing(connect(Path(tmp) / "m.db")) as conn:
        held = Postings(conn, limit=limit, bulk_min=bulk_min)
        model: dict[int, set[int]] = {}
        with write(conn):
            for action, obs_id, tokens in changes:
                if action == "compact":
                    while compact(conn, 0.0):
                        pass
                elif action == "merge_batch":  # one batch: a merge or a seal left half done
                    compact(conn, 0.0)
                elif action == "probe":
                    for needed in (1, 2):
                        counts = Counter(i for t in tokens for i in model.get(t, ()))
                        expected = sorted(i for i, n in counts.items() if n >= needed)
                        assert held.shared(sorted(tokens), needed, bulk=bulk) == expected
                elif action == "add":
                    new = {t for t in tokens if obs_id not in model.get(t, set())}
                    store_added(conn, obs_id, new)
                    held.added(obs_id, new)
                    for token in new:
                        model.setdefault(token, set()).add(obs_id)
                else:
                    gone = {t for t in tokens if obs_id in model.get(t, set())}
                    store_removed(conn, obs_id, gone)
                    held.removed(obs_id, gone)
                    for token in gone:
                        model[token].discard(obs_id)


def _stored(conn: sqlite3.Connection, token: int) -> list[int]:
    blobs = conn.execute("SELECT ids FROM sync_postings WHERE token = ?", (token,))
    return [obs_id for (blob,) in blobs for obs_id in unpack(blob)]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.frozensets(st.integers(0, 2**63 - 1), max_size=40), min_size=1, max_size=5),
    st.dictionaries(st.integers(0, 2**63 - 1), st.integers(-3, 10**6), max_size=30),
)
def test_the_index_prefix_is_the_prefix_of_the_order(
    sets: list[frozenset[int]], ranks: dict[int, int]
) -> None:
    """The index's prefix of a token set is similarity.prefix under its ranks, for tokens
    ranked, ranked 0 or below, and missing from the ranks."""
    with tempfile.TemporaryDirectory() as tmp, closing(connect(Path(tmp) / "m.db")) as conn:
        index = SimilarityIndex(conn, 0.85)
        index._order = FrozenOrder(ranks)  # as a rebuild would leave it
        for tokens in sets + sets:
            assert index._prefix(tokens) == similarity.prefix(tokens, ranks, 0.85, ELL)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from([*WORDS, "Ünïcode", "x_y", "W1"]), max_size=12), max_size=6),
    st.dictionaries(st.sampled_from(WORDS), st.integers(-1, 50), max_size=8),
)
def test_a_texts_tokens_and_prefix_from_memoised_word_keys(
    texts: list[list[str]], ranks: dict[str, int]
) -> None:
    """_analyse gives the token ids of the word set and their prefix under the ranks,
    from a fresh memo and from one filled by earlier texts."""
    with tempfile.TemporaryDirectory() as tmp, closing(connect(Path(tmp) / "m.db")) as conn:
        index = SimilarityIndex(conn, 0.85)
        by_token = {similarity.token_id(word): rank for word, rank in ranks.items()}
        index._order = FrozenOrder(by_token)
        for words in texts + texts:
            text = Text("p", "project", None, "", " ".join(words))
            tokens = similarity.token_ids(similarity.word_set("", text.content))
            expected = similarity.prefix(tokens, by_token, 0.85, ELL)
            assert index._analyse(text) == (tokens, expected)


@given(
    st.lists(st.integers(-(2**63), 2**63 - 1) | st.integers(0, 2**33), max_size=40),
    st.booleans(),
)
@example([2**31 - 1, 0, 2**31], False)  # the first id past int32
@example([2**31 - 1, 0, 2**31], True)
def test_narrowed_postings_keep_every_id(ids: list[int], compiled: bool) -> None:
    """Stored ids come back exactly, 4 bytes each when every id is a non-negative int32,
    with the compiled narrowing (core.speedups) and with the pure-Python one."""
    saved = speedups.narrow
    if not compiled:
        speedups.narrow = None
    try:
        narrow = postings_module._narrow(pack(ids))
    finally:
        speedups.narrow = saved
    assert narrow.tolist() == ids
    if all(0 <= i < 2**31 for i in ids):
        assert narrow.itemsize == 4


def test_a_table_too_big_to_load_at_once_is_still_read_token_by_token(tmp_path: Path) -> None:
    """When reading everything would pass the limit, what was loaded is let go and every
    token is read again as needed: no probe misses a row."""
    with closing(connect(tmp_path / "m.db")) as conn, write(conn):
        for obs_id, token in ((1, 3), (2, 7), (3, 11)):
            store_added(conn, obs_id, [token])
        held = Postings(conn, limit=2, bulk_min=1)
        assert held.shared([3], 1, bulk=True) == [1]  # read token by token, kept
        assert held.shared([7, 3], 1, bulk=True) == [1, 2]  # due: three postings do not fit
        assert not held._complete
        assert held.shared([3, 7, 11], 1, bulk=True) == [1, 2, 3]


def test_a_bulk_read_joins_a_tokens_rows_of_4_and_8_byte_ids(tmp_path: Path) -> None:
    """Read all at once, a token stored in several rows, one of them with ids past
    2**31, comes back whole."""
    with closing(connect(tmp_path / "m.db")) as conn, write(conn):
        for obs_id in (1, 2**40, 5):
            store_added(conn, obs_id, [3])
        store_added(conn, 2, [7])
        held = Postings(conn, bulk_min=1)
        assert held.shared([7], 1, bulk=True) == [2]  # token by token: 1 row of 3
        assert held.shared([11], 1, bulk=True) == []  # due now: everything is read
        assert held._complete
        assert held.shared([3], 1, bulk=True) == [1, 5, 2**40]


def test_keyed_statements_on_stored_postings_never_scan_the_table(tmp_path: Path) -> None:
    """Every statement that reads or changes chosen rows of sync_postings (adding, removing,
    merging buckets, reading a token) seeks by its (bucket, token) key: none scans it."""
    with closing(connect(tmp_path / "memento.db")) as conn:
        statements: list[str] = []
        conn.set_trace_callback(statements.append)
        with write(conn):
            for obs_id in (1, 2, 4097, 9000, 20_000, 30_000):  # buckets 0 to 7, then merged
                store_added(conn, obs_id, {3, 7, 11})
            store_removed(conn, 2, {3, 7})
            while compact(conn, 0.0):
                pass
            store_removed(conn, 1, {3})  # from the sealed row
            assert Postings(conn).shared([3, 7, 11, 13], 3) == [4097, 9000, 20_000, 30_000]
            assert Postings(conn).shared([3, 7], 1) == [1, 4097, 9000, 20_000, 30_000]
        conn.set_trace_callback(None)
        keyed = [sql for sql in statements if "sync_postings" in sql and "WHERE" in sql]
        for kind in ("SELECT token, ids", "DELETE", "UPDATE", "bucket IN"):
            assert any(kind in sql for sql in keyed), kind
        for sql in keyed:
            plan = " | ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
            assert "SCAN sync_postings" not in plan, (sql, plan)


def test_rows_with_negative_ids_are_found_in_their_buckets(tmp_path: Path) -> None:
    """An application may insert rows with negative ids: their postings, in buckets at or
    below the sealed one, are read like any others, token by token or all at once."""
    with closing(connect(tmp_path / "memento.db")) as conn, write(conn):
        ids = [-(2**40), -10_000, -5, 3, 9000]
        for obs_id in ids:
            store_added(conn, obs_id, {7, 11})
        assert Postings(conn).shared([7, 11], 2) == ids
        assert Postings(conn, bulk_min=0).shared([7], 1, bulk=True) == ids


def test_merges_go_through_a_middle_level_sealed_once_it_holds_half_as_much(
    tmp_path: Path,
) -> None:
    """Older buckets are merged into the middle level; the sealed level is rewritten only
    when the middle one holds half as many bytes as it, so it is not rewritten at every
    merge; a token reads the same wherever its ids are stored, and a row is taken out of
    whichever level holds it."""

    def levels(conn: sqlite3.Connection) -> dict[int, int]:
        query = "SELECT bucket, length(ids) FROM sync_postings WHERE token = 7 AND bucket < 0"
        return dict(conn.execute(query).fetchall())

    with closing(connect(tmp_path / "memento.db")) as conn, write(conn):
        added: list[int] = []
        seen: list[dict[int, int]] = []
        for bucket in range(40):  # 10 ids a bucket; a merge every 4 filled buckets
            for obs_id in range(bucket << 12, (bucket << 12) + 10):
                store_added(conn, obs_id, {7})
                added.append(obs_id)
            while compact(conn, 0.0):
                pass
            seen.append(levels(conn))
            assert Postings(conn).shared([7], 1) == added
        sealed_sizes = [level.get(SEALED, 0) for level in seen]
        rewrites = sum(1 for a, b in itertools.pairwise(sealed_sizes) if b != a)
        assert any(MIDDLE in level for level in seen)  # ids wait in the middle level
        # 40 buckets make 9 merges; the sealed row is rewritten at the 1st, 2nd, 3rd, 5th
        # and 8th (each time the middle level holds half of it), not at all 9.
        assert rewrites == 5
        assert MIDDLE in seen[-1]  # the last merge waits in the middle level
        query = "SELECT ids FROM sync_postings WHERE bucket = ? AND token = 7"
        in_middle = unpack(conn.execute(query, (MIDDLE,)).fetchone()[0])[0]
        store_removed(conn, 5, {7})  # from the sealed level
        store_removed(conn, in_middle, {7})  # from the middle level
        assert Postings(conn).shared([7], 1) == [i for i in added if i not in (5, in_middle)]


def test_forgetting_every_stored_posting_forgets_the_merged_levels_byte_counts(
    tmp_path: Path,
) -> None:
    """A rebuild, or a finished reset, deletes every stored posting, and with them the
    byte counts that decide when the middle level is sealed."""

    def counts(conn: sqlite3.Connection) -> list[str]:
        keys = conn.execute("SELECT key FROM sync_meta WHERE key LIKE 'postings_%'")
        return sorted(key for (key,) in keys)

    with closing(connect(tmp_path / "memento.db")) as conn:
        for forget in ("rebuild", "reset"):
            with write(conn):
                for bucket in range(6):
                    store_added(conn, bucket << 12, {7})
                while compact(conn, 0.0):
                    pass
                assert counts(conn)  # the merges counted what they moved
                if forget == "rebuild":
                    SimilarityIndex(conn, 0.5).rebuild()
                else:
                    reset.start(conn)
                    while reset.step(conn, 1.0):
                        pass
                assert counts(conn) == []
                assert conn.execute("SELECT count(*) FROM sync_postings").fetchone()[0] == 0
