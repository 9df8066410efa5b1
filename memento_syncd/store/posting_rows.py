"""The similarity index's prefix postings as stored: blobs of row ids in ``sync_postings``.

A token's postings are blobs of 8-byte little-endian row ids, one table row per token and
bucket of 4,096 consecutive row ids, keyed ``(bucket, token)``. Indexing new rows, whose
ids grow, appends to the rows of the newest bucket, which sit together: a short
transaction rewrites a few hundred pages, not one random page per posting as a row per
(token, row id) did. Reading a token back reads one row per bucket it occurs in, so the
rows of older buckets are merged, a slice at a time, once a few buckets have filled
(``compact``): into one row per token of bucket ``MIDDLE``, and that level, once it holds
half as many bytes as the sealed level, into one row per token of bucket ``SEALED``.
A merge rewrites the rows it merges into, so two levels keep a long pull from rewriting
the whole index every few buckets.
"""

from __future__ import annotations

import sqlite3
import sys
import time
from array import array
from collections.abc import Iterable, Iterator

from memento_syncd.store.db import chunks, meta

# A stored postings row holds the ids of one token among 4,096 consecutive row ids.
BUCKET_BITS = 12
# The bucket of a token's merged postings, older buckets' ids together.
SEALED = -1
# The bucket of postings merged from older buckets but not yet into SEALED. No row id
# falls in it: ids are 64-bit, so their buckets are at least -2**51.
MIDDLE = -(2**62)
# MIDDLE is merged into SEALED once it holds 1/SEAL_RATIO of SEALED's bytes (as counted
# by the merges themselves, in sync_meta).
SEAL_RATIO = 2
_MIDDLE_BYTES = "postings_middle_bytes"
_SEALED_BYTES = "postings_sealed_bytes"
_SEALING = "postings_sealing"
LEVEL_KEYS = (_MIDDLE_BYTES, _SEALED_BYTES, _SEALING)
# Older buckets are merged once at least this many have filled.
COMPACT_AFTER = 4
# Tokens merged per statement batch of a compaction slice.
_COMPACT_BATCH = 200
_SWAP = sys.byteorder != "little"  # blobs are little-endian on every machine


def stored(conn: sqlite3.Connection, tokens: list[int]) -> Iterator[tuple[int, list[bytes]]]:
    """Each of ``tokens`` with the stored blobs of its postings (sealed and per bucket).

    Read by key: one seek per token and bucket holding postings (the two merged levels
    and the few buckets that ``compact`` has not merged yet).
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
    """Take row ``obs_id`` out of the stored postings of ``tokens`` (its bucket's, or a
    merged level's)."""
    buckets = dict.fromkeys((obs_id >> BUCKET_BITS, SEALED, MIDDLE))
    for token in tokens:
        for key in ((bucket, token) for bucket in buckets):
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
    """Merge stored rows into the levels above them for about ``seconds`` (at least one
    batch); returns whether some may be left. Inside a write transaction.

    Older buckets are merged into ``MIDDLE`` only when ``COMPACT_AFTER`` buckets older
    than the newest have rows: the newest takes the appends of new rows. ``MIDDLE`` is
    merged into ``SEALED`` once big enough (``SEAL_RATIO``), when no bucket merge is due.
    The postings themselves do not change, only how they are stored, so what other
    connections hold in memory stays right.
    """
    started = time.monotonic()
    while _merge_batch(conn):
        if time.monotonic() - started >= seconds:
            return True
    return False


def compact_due(conn: sqlite3.Connection) -> bool:
    """Whether ``compact`` has work: older buckets to merge, or a level to seal."""
    return _merge_plan(conn) is not None or meta(conn, _SEALING) is not None


def forget_levels(conn: sqlite3.Connection) -> None:
    """After every stored posting was deleted: the merged levels' byte counts go too."""
    conn.execute(
        f"DELETE FROM sync_meta WHERE key IN ({','.join('?' * len(LEVEL_KEYS))})",  # noqa: S608
        LEVEL_KEYS,
    )


def _merge_batch(conn: sqlite3.Connection) -> bool:
    """Merge one batch of tokens (older buckets first, then ``MIDDLE`` if it is being
    sealed); False if nothing was due."""
    plan = _merge_plan(conn)
    if plan is not None:
        newest, older = plan
        tokens = list(dict.fromkeys(t for (t,) in conn.execute(
            "SELECT token FROM sync_postings WHERE bucket >= 0 AND bucket < ? LIMIT ?",
            (newest, _COMPACT_BATCH),
        )))  # fmt: skip
        if tokens:  # always, as the plan says rows are there (else no progress: stop)
            middle = _add_bytes(conn, _MIDDLE_BYTES, _merge_into(conn, tokens, older, MIDDLE))
            if middle * SEAL_RATIO >= _bytes(conn, _SEALED_BYTES):
                conn.execute(
                    "INSERT OR REPLACE INTO sync_meta (key, value) VALUES (?, '1')", (_SEALING,)
                )
            return True
    if meta(conn, _SEALING) is None:
        return False
    tokens = [t for (t,) in conn.execute(
        "SELECT token FROM sync_postings WHERE bucket = ? LIMIT ?", (MIDDLE, _COMPACT_BATCH)
    )]  # fmt: skip
    if tokens:
        _add_bytes(conn, _SEALED_BYTES, _merge_into(conn, tokens, [MIDDLE], SEALED))
        return True
    conn.execute("DELETE FROM sync_meta WHERE key IN (?, ?)", (_SEALING, _MIDDLE_BYTES))
    return False


def _merge_plan(conn: sqlite3.Connection) -> tuple[int, list[int]] | None:
    """The newest bucket and the older ones (not merged) to merge, if it is time to."""
    buckets = [bucket for bucket in live_buckets(conn) if bucket >= 0]
    if not buckets or buckets[-1] - buckets[0] < COMPACT_AFTER:
        return None
    return buckets[-1], buckets[:-1]


def _merge_into(conn: sqlite3.Connection, tokens: list[int], sources: list[int], into: int) -> int:
    """Merge the rows of ``tokens`` in the ``sources`` buckets into their rows of bucket
    ``into``: one statement of each kind for the batch, every row read and written by
    key. Returns how many bytes of ids moved."""
    buckets = ",".join("?" * len(sources))
    marks = ",".join("?" * len(tokens))
    merged: dict[int, list[bytes]] = {token: [] for token in tokens}
    moved = 0
    rows = conn.execute(
        f"SELECT token, bucket, ids FROM sync_postings WHERE bucket IN (?,{buckets})"  # noqa: S608
        f" AND token IN ({marks}) ORDER BY token, bucket",
        (into, *sources, *tokens),
    )
    for token, bucket, blob in rows:
        merged[token].append(blob)
        moved += len(blob) if bucket != into else 0
    conn.execute(
        f"DELETE FROM sync_postings WHERE bucket IN ({buckets})"  # noqa: S608
        f" AND token IN ({marks})",
        (*sources, *tokens),
    )
    conn.executemany(
        "INSERT INTO sync_postings (bucket, token, ids) VALUES (?, ?, ?)"
        " ON CONFLICT (bucket, token) DO UPDATE SET ids = excluded.ids",
        ((into, token, b"".join(blobs)) for token, blobs in merged.items() if blobs),
    )
    return moved


def _bytes(conn: sqlite3.Connection, key: str) -> int:
    """A merged level's byte count in sync_meta (0 if missing, as after an upgrade)."""
    return int(meta(conn, key) or 0)


def _add_bytes(conn: sqlite3.Connection, key: str, add: int) -> int:
    """Add ``add`` to the byte count ``key``; its new value."""
    value = _bytes(conn, key) + add
    conn.execute("INSERT OR REPLACE INTO sync_meta (key, value) VALUES (?, ?)", (key, str(value)))
    return value
