"""Row sizes held for the positional filter follow the index, and say "unknown" when unsure."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from memento_syncd.store.db import connect, write
from memento_syncd.store.index import SimilarityIndex, Text
from memento_syncd.store.row_sizes import RowSizes
from tests.store.app import app_rows


def _of(sizes: RowSizes, ids: list[int]) -> list[int]:
    """What the positional filter reads for ``ids``: past the end (or negative) is 0."""
    held = sizes.view()
    return [held[i] if 0 <= i < len(held) else 0 for i in ids]


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """A device database with three indexed rows of 3, 5 and 2 words."""
    with closing(connect(tmp_path / "memento.db")) as db:
        index = SimilarityIndex(db, 0.85)
        ids = app_rows(db, 3)
        with write(db):
            for obs_id, words in zip(ids, ["a b c", "a b c d e", "x y"], strict=True):
                index.put(obs_id, Text("p", "project", None, "", words))
        yield db


def test_sizes_are_read_from_the_index(conn: sqlite3.Connection) -> None:
    """The first look-up reads every indexed row's size; ids not indexed are unknown (0)."""
    sizes = RowSizes(conn)
    assert sizes.nbytes() == 0  # nothing read before it is needed
    assert _of(sizes, [1, 2, 3, 4, -1]) == [3, 5, 2, 0, 0]


def test_sizes_follow_changes_once_read(conn: sqlite3.Connection) -> None:
    """A row indexed again or forgotten after the read is seen as such; before the read,
    changes cost nothing and the read finds them in the table."""
    sizes = RowSizes(conn)
    sizes.set(1, 9)  # not read yet: ignored, the table will say
    assert _of(sizes, [1]) == [3]
    sizes.set(4, 7)
    sizes.forget(2)
    assert _of(sizes, [1, 2, 4]) == [3, 0, 7]


def test_far_ids_and_huge_sizes_are_unknown(conn: sqlite3.Connection) -> None:
    """An id far past the others is not held densely, and a size past 65,535 not at all:
    both read as unknown, which the positional filter never uses to drop a row."""
    sizes = RowSizes(conn)
    _of(sizes, [1])
    sizes.set(10**9, 4)
    sizes.set(3, 70_000)
    assert _of(sizes, [10**9, 3]) == [0, 0]
    assert sizes.nbytes() < 100_000
