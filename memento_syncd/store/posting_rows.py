"""The similarity index's prefix postings as stored: blobs of row ids in ``sync_postings``.

A token's postings are blobs of 8-byte little-endian row ids, one table row per token and
bucket of 4,096 consecutive row ids, keyed ``(bucket, token)``. Indexing new rows, whose
ids grow, appends to the rows of the newest bucket, which sit together: a short
transaction rewrites a few hundred pages, not one random page per posting as a row per
(token, row id) did. Reading a token back reads one row per bucket it occurs in, so the
rows of older buckets are merged, a slice at a time, into one row per token (bucket
``SEALED``) once a few buckets have filled (``compact``).
"""

from __future__ import annotations

import sqlite3
import sys
import time
from array import array
from collections.abc import Iterable, Iterator

from memento_syncd.store.db import chunks

# A stored postings row holds the ids of one token among 4,096 consecutive row ids.
BUCKET_BITS = 12
# The bucket of a token's merged postings, older buckets' ids together.
SEALED = -1
# Older buckets are merged once at least this many have filled.
COMPACT_AFTER = 4
# Tokens merged per statement batch of a compaction slice.
_COMPACT_BATCH = 200
_SWAP = sys.byteorder != "little"  # blobs are little-endian on every machine


def stored(conn: sqlite3.Connection, tokens: list[int]) -> Iterator[tuple[int, list[bytes]]]:
    """Each of ``tokens`` with the stored blobs of its postings (sealed and per bucket).

    Read by key: one seek per token and bucket holding postings (the sealed one and the
    few that ``compact`` has not merged yet).
    """
    buckets = live_buckets(conn)
    for chunk in chunks(tokens):
        blobs: dict[int, list[bytes]] = {token: [] for token in chunk}
        rows = conn.execute(
            "SELECT token, ids FROM sync_postings"  # noqa: S608 - only '?' marks
            f" WHERE bucket IN ({','.join('?' * len(buckets))})"
            f" AND token IN ({','.join('?' * len(chunk))})",
            (*buckets, *chunk),
        )
        for token, blob in rows:
            blobs[token].append(blob)
        yield from blobs.items()


def live_buckets(conn: sqlite3.Connection) -> list[int]:
    """The buckets that hold postings, ascending: one seek each.

    From the lowest there is: an application may give rows negative ids, whose buckets
    are below ``SEALED`` (or are it: those ids are then stored with the sealed ones).
    """
    buckets: list[int] = []
    query = "SELECT min(bucket) FROM sync_postings WHERE bucket > ?"
    (bucket,) = conn.execute("SELECT min(bucket) FROM sync_postings").fetchone()
    while bucket is not None:
        buckets.append(bucket)
        (bucket,) = conn.execute(query, (bucket,)).fetchone()
    return buckets


def pack(values: Iterable[int]) -> bytes:
    """Integers (row ids, token ids) as a blob of 8-byte little-endian signed integers."""
    packed = array("q", values)
    if _SWAP:
        packed.byteswap()
    return packed.tobytes()


def unpack(blob: bytes | None) -> array[int]:
    """The integers of a ``pack`` blob (none for NULL)."""
    values = array("q")
    if blob:
        values.frombytes(blob)
        if _SWAP:
            values.byteswap()
    return values


def store_added(conn: sqlite3.Connection, obs_id: int, tokens: Iterable[int]) -> None:
    """Record in ``sync_postings`` that row ``obs_id`` is indexed under ``tokens``."""
    blob, bucket = pack((obs_id,)), obs_id >> BUCKET_BITS
    conn.executemany(
        # ``||`` joins two blobs byte for byte (as text, whatever the database encoding);
        # the cast makes the result a blob again. An update in place leaves the token
        # index alone.
        "INSERT INTO sync_postings (bucket, token, ids) VALUES (?, ?, ?)"
        " ON CONFLICT (bucket, token) DO UPDATE SET ids = CAST(ids || excluded.ids AS BLOB)",
        ((bucket, token, blob) for token in tokens),
    )


def store_removed(conn: sqlite3.Connection, obs_id: int, tokens: Iterable[int]) -> None:
    """Take row ``obs_id`` out of the stored postings of ``tokens`` (its bucket's or sealed)."""
    for token in tokens:
        for key in ((obs_id >> BUCKET_BITS, token), (SEALED, token)):
            row = conn.execute(
                "SELECT ids FROM sync_postings WHERE bucket = ? AND token = ?", key
            ).fetchone()
            ids = unpack(None if row is None else row[0])
            kept = array("q", (i for i in ids if i != obs_id))
            if len(kept) == len(ids):
                continue
            if kept:
                update = "UPDATE sync_postings SET ids = ? WHERE bucket = ? AND token = ?"
                conn.execute(update, (pack(kept), *key))
            else:
                conn.execute("DELETE FROM sync_postings WHERE bucket = ? AND token = ?", key)


def grouped(prefixes: Iterable[tuple[int, Iterable[int]]]) -> Iterator[tuple[int, int, bytes]]:
    """``(bucket, token, ids)`` rows of ``sync_postings`` for ``(obs_id, prefix)`` pairs given
    in ascending ``obs_id`` order, one bucket held in memory at a time."""
    current: int | None = None
    held: dict[int, array[int]] = {}
    for obs_id, prefix in prefixes:
        bucket = obs_id >> BUCKET_BITS
        if bucket != current:
            yield from _bucket_rows(current, held)
            current, held = bucket, {}
        for token in prefix:
            held.setdefault(token, array("q")).append(obs_id)
    yield from _bucket_rows(current, held)


def _bucket_rows(
    bucket: int | None, held: dict[int, array[int]]
) -> Iterator[tuple[int, int, bytes]]:
    if bucket is not None:
        yield from ((bucket, token, pack(ids)) for token, ids in held.items())


def compact(conn: sqlite3.Connection, seconds: float) -> bool:
    """Merge the rows of older buckets into each token's sealed row, for about ``seconds``
    (at least one batch); returns whether some are left. Inside a write transaction.

    Only when ``COMPACT_AFTER`` buckets older than the newest have rows: the newest takes
    the appends of new rows. The postings themselves do not change, only how they are
    stored, so what other connections hold in memory stays right.
    """
    plan = _merge_plan(conn)
    if plan is None:
        return False
    newest, older = plan
    started = time.monotonic()
    while True:
        tokens = list(dict.fromkeys(t for (t,) in conn.execute(
            "SELECT token FROM sync_postings WHERE bucket >= 0 AND bucket < ? LIMIT ?",
            (newest, _COMPACT_BATCH),
        )))  # fmt: skip
        if not tokens:
            return False
        _seal(conn, tokens, older)
        if time.monotonic() - started >= seconds:
            return True


def compact_due(conn: sqlite3.Connection) -> int | None:
    """The newest bucket if ``COMPACT_AFTER`` older ones have rows to merge, else None."""
    plan = _merge_plan(conn)
    return None if plan is None else plan[0]


def _merge_plan(conn: sqlite3.Connection) -> tuple[int, list[int]] | None:
    """The newest bucket and the older ones (not sealed) to merge, if it is time to."""
    buckets = [bucket for bucket in live_buckets(conn) if bucket >= 0]
    if not buckets or buckets[-1] - buckets[0] < COMPACT_AFTER:
        return None
    return buckets[-1], buckets[:-1]


def _seal(conn: sqlite3.Connection, tokens: list[int], older: list[int]) -> None:
    """Merge the rows of ``tokens`` in the ``older`` buckets (ascending) into their sealed
    rows: one statement of each kind for the batch, every row read and written by key."""
    buckets = ",".join("?" * len(older))
    marks = ",".join("?" * len(tokens))
    merged: dict[int, list[bytes]] = {token: [] for token in tokens}
    rows = conn.execute(  # the sealed row first: its ids are the oldest
        f"SELECT token, ids FROM sync_postings WHERE bucket IN (?,{buckets})"  # noqa: S608
        f" AND token IN ({marks}) ORDER BY token, bucket",
        (SEALED, *older, *tokens),
    )
    for token, blob in rows:
        merged[token].append(blob)
    conn.execute(
        f"DELETE FROM sync_postings WHERE bucket IN ({buckets})"  # noqa: S608
        f" AND token IN ({marks})",
        (*older, *tokens),
    )
    conn.executemany(
        "INSERT INTO sync_postings (bucket, token, ids) VALUES (?, ?, ?)"
        " ON CONFLICT (bucket, token) DO UPDATE SET ids = excluded.ids",
        ((SEALED, token, b"".join(blobs)) for token, blobs in merged.items()),
    )
