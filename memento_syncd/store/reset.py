"""Forgetting a similarity index in short transactions, so that a new order can be learnt.

Every indexed prefix depends on the frozen token order and on the threshold, so changing
either means indexing every row again. Rebuilding in place holds the write lock for the
whole index (9.7 s for 100,000 rows measured; the application's writes wait all along).
Instead the index is forgotten a slice at a time, in short transactions: first its stored
postings (a prefix filter with fewer postings finds fewer candidates, never wrong ones),
then its rows, which move from ``sync_sets`` to ``sync_dirty``; once none is left the
order is unfrozen. What follows is a first sync's path: the order
is learnt from the waiting rows (``SimilarityIndex.frequencies_to_come``), which are then
indexed in short transactions.

A reset under way is marked in ``sync_meta`` and finished by whichever process syncs next,
whatever its threshold: a stop half-way leaves rows in ``sync_sets`` without postings.
"""

from __future__ import annotations

import sqlite3
import time

from memento_syncd.store import posting_rows

_KEY = "index_reset"
# A step runs batches of statements for this long. Its commit then takes about twice as
# long again (the pages it frees are zeroed: SQLite's secure_delete, on in common builds):
# on a 100,000-row index, 10 ms steps made transactions of 33.5 ms (median; 30 ms steps:
# 68 ms), the whole reset 3.3 s in 97 of them.
STEP_SECONDS = 0.01
ROWS_BATCH = 50  # about 0.5 ms a batch there
POSTINGS_BATCH = 100  # about 0.3 ms
TOKENS_BATCH = 1000


def underway(conn: sqlite3.Connection) -> bool:
    """Whether a reset was started and not finished."""
    row = conn.execute("SELECT 1 FROM sync_meta WHERE key = ?", (_KEY,)).fetchone()
    return row is not None


def start(conn: sqlite3.Connection) -> None:
    """Begin forgetting the index (inside a write transaction)."""
    conn.execute("INSERT OR REPLACE INTO sync_meta (key, value) VALUES (?, '1')", (_KEY,))
    _moved(conn)


def step(conn: sqlite3.Connection, seconds: float) -> bool:
    """Forget a part of the index for about ``seconds`` (at least one batch), inside a write
    transaction: first the stored postings, then the rows, which move to ``sync_dirty``,
    then the order's tokens; when none is left, finish. Returns whether more is left."""
    started = time.monotonic()
    while _drop_postings(conn) or _move_rows(conn) or _drop_tokens(conn):
        if time.monotonic() - started >= seconds:
            return True
    _finish(conn)
    return False


def _drop_postings(conn: sqlite3.Connection) -> bool:
    """Delete a batch of stored postings rows; False if there were none."""
    keys = conn.execute("SELECT bucket, token FROM sync_postings LIMIT ?", (POSTINGS_BATCH,))
    found = keys.fetchall()
    conn.executemany("DELETE FROM sync_postings WHERE bucket = ? AND token = ?", found)
    if found:
        _moved(conn)
    return bool(found)


def _move_rows(conn: sqlite3.Connection) -> bool:
    """Move a batch of indexed rows to ``sync_dirty``; False if there were none."""
    query = "SELECT obs_id FROM sync_sets ORDER BY obs_id LIMIT ?"
    ids = [(row[0],) for row in conn.execute(query, (ROWS_BATCH,))]
    conn.executemany("INSERT OR IGNORE INTO sync_dirty (obs_id) VALUES (?)", ids)
    conn.executemany("DELETE FROM sync_sets WHERE obs_id = ?", ids)
    return bool(ids)


def _drop_tokens(conn: sqlite3.Connection) -> bool:
    """Delete a batch of the order's tokens (once no row is indexed under it); False if
    there were none."""
    query = "SELECT token FROM sync_vocab LIMIT ?"
    tokens = [(row[0],) for row in conn.execute(query, (TOKENS_BATCH,))]
    conn.executemany("DELETE FROM sync_vocab WHERE token = ?", tokens)
    return bool(tokens)


def _finish(conn: sqlite3.Connection) -> None:
    """Nothing is indexed and no token ranked: the order is unfrozen."""
    conn.execute(
        "DELETE FROM sync_meta WHERE key IN ('index_threshold', 'index_order', ?)", (_KEY,)
    )
    posting_rows.forget_levels(conn)  # no stored postings are left
    _moved(conn)


def _moved(conn: sqlite3.Connection) -> None:
    """Tell every index object (this process's included) that what it holds is stale."""
    conn.execute("UPDATE sync_index_gen SET n = random() WHERE id = 1")
