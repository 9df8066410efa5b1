"""The persistent similarity index: word sets and their prefixes for exact near-twin search.

Each live observation has its token set in ``sync_sets``, with the prefix of that set
(under the frozen order of ``sync_vocab``: rarer tokens first), and the prefix tokens'
postings in ``sync_postings`` (``store.posting_rows``). Any
pair whose Jaccard similarity reaches the threshold shares prefix tokens, so a probe
looks only at rows sharing enough of its own prefix tokens, of a compatible size, then
checks each candidate exactly. Tokens first seen after the order was frozen rank as
rarest, which keeps the order total and fixed; the order is learnt once from document
frequencies and learnt again only if the threshold or prefix scheme changes (every row
is then indexed again: ``store.reset``).

Probes count shared prefix tokens over postings held in memory (``store.postings``),
loaded a token at a time and emptied whenever another connection changed the index.

A pull looks its twins up before it takes the write lock (``prepare``: a read snapshot,
which the application's writes do not wait for) and uses the answers inside the lock.
An answer stays exact because every change to the index made since is accounted for:
this object's own changes are logged and re-checked against the probe. Any other change
(another connection's, another object's, or a rollback of this one's) shows as a value
of ``sync_index_gen`` (set to a new random value by triggers on ``sync_sets`` and by
``rebuild``) other than the one this object last saw or left (``_sync``); then what it
holds in memory, postings and prepared answers alike, is dropped.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from memento_syncd.core import similarity, wire
from memento_syncd.core.hashing import content_hash
from memento_syncd.core.token_order import FrozenOrder
from memento_syncd.store import lookups, posting_rows
from memento_syncd.store.db import write
from memento_syncd.store.index_log import ChangeLog, Entry
from memento_syncd.store.lookups import Query, pack_tokens, unpack_tokens
from memento_syncd.store.postings import Postings

# Prefixes are "l-prefixes" (see core.similarity.prefix_length): a candidate must share
# ELL prefix tokens with the probe, not just one, which cuts candidates by orders of
# magnitude on real text for ELL - 1 more index rows per observation.
ELL = 3
# The order is learnt once, from the first thousand rows or more: for text, the words
# that are common then stay common, and words first seen later rank as rare, which
# they mostly are. Only a change of threshold or prefix scheme makes it learnt again.
_FREEZE_MIN_ROWS = 1000
# Prepared probes are re-checked against at most this many index changes made since;
# past that (the application rewrote many rows at once), they are looked up afresh.
_LOG_LIMIT = 500
# Texts looked up together by ``prepare`` (``store.lookups``): its time limit is checked
# between batches. 32 take about 8 ms on the dedup benchmark's 100,000-row index.
_PREPARE_BATCH = 32
# Set (to anything) in the test suite: every prepared answer used is compared with a
# fresh look-up, and a difference raises AssertionError.
CHECK_PROBES = bool(os.environ.get("MEMENTO_SYNCD_CHECK_PROBES"))


@dataclass(frozen=True, slots=True)
class Text:
    """What the index knows of a row: where it lives and the words it holds."""

    project: str
    scope: str
    topic_key: str | None
    title: str
    content: str

    def __post_init__(self) -> None:
        if self.topic_key == "":  # no topic_key, as dedup reads it (core.twins.topic_of)
            object.__setattr__(self, "topic_key", None)


@dataclass(frozen=True, slots=True)
class Twin:
    """A local row that a pulled observation duplicates: ``kind`` is exact or similar."""

    obs_id: int
    kind: str


@dataclass(frozen=True, slots=True)
class Probe:
    """A ``find_twin`` look-up made outside the write lock by ``SimilarityIndex.prepare``.

    ``exact`` holds the exact twins' ids ascending, ``similar`` the near twins as
    ``(-jaccard, obs_id)`` ascending; ``epoch`` and ``mark`` say which index changes
    were made since.
    """

    text: Text
    tokens: frozenset[int]
    digest: str
    prefix: tuple[int, ...]  # under the order of ``epoch``
    needed: int  # prefix tokens a candidate must share (similarity.shared_needed)
    exact: tuple[int, ...]
    similar: tuple[tuple[float, int], ...]
    epoch: int
    mark: int


@dataclass(frozen=True, slots=True)
class OrderPlan:
    """A token order worked out before the write lock (``plan_order``), for ``rebuild``."""

    frequency: dict[int, int]
    order: FrozenOrder
    vocabulary: list[tuple[int, int]]  # sync_vocab's rows, (token, rank) by token


def plan_order(frequency: dict[int, int]) -> OrderPlan:
    """The order of ``frequency`` (``frequencies_to_come``), sorted outside the write lock:
    at 100,000 rows that is 160 of the 230 ms the first sync's ``rebuild`` held it for."""
    return OrderPlan(frequency, FrozenOrder(frequency), sorted(frequency.items()))


def learn_order(conn: sqlite3.Connection, index: SimilarityIndex) -> bool:
    """Before a first bulk indexing, freeze the order from the rows waiting, if it is due
    (``frequencies_to_come``): counted and sorted without the write lock, stored in one
    short write transaction. Returns whether it was."""
    upcoming = index.frequencies_to_come()
    if upcoming is None:
        return False
    plan = plan_order(upcoming)
    with write(conn):
        index.rebuild(plan=plan)
    return True


class SimilarityIndex:
    """Index maintenance and probes on one connection (inside the caller's transactions)."""

    def __init__(self, conn: sqlite3.Connection, threshold: float) -> None:
        self._conn = conn
        self.threshold = threshold
        self._load_order()
        self._epoch = 0  # prepared probes of another epoch are stale
        self._log: ChangeLog | None = None  # own changes since prepare
        self._postings = Postings(conn)
        # sync_index_gen as this object last saw or left it: what it holds in memory
        # (postings, prepared answers with the log of its own changes) agrees with it.
        self._known: int | None = None

    def _load_order(self) -> None:
        """Read the frozen token order (and which rebuild froze it) from the database."""
        self._order_id = self._meta("index_order")
        self._order = FrozenOrder(self._conn.execute("SELECT token, rank FROM sync_vocab"))

    def size(self) -> int:
        """How many rows are indexed."""
        return int(self._conn.execute("SELECT count(*) FROM sync_sets").fetchone()[0])

    def order_stale(self) -> bool:
        """True when the indexed rows must be indexed again under a new order
        (``store.reset``): the threshold or prefix scheme changed since the order was
        frozen, or it is not frozen yet while rows are indexed and enough rows are indexed
        or waiting to learn it from."""
        frozen = self._meta("index_threshold")
        if frozen is not None:
            return frozen != self._setting()
        size = self.size()
        return size > 0 and size + self._waiting() >= _FREEZE_MIN_ROWS

    def _waiting(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM sync_dirty").fetchone()[0])

    def _setting(self) -> str:
        return f"{self.threshold!r}/{ELL}"

    def _meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM sync_meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def frequencies_to_come(self) -> dict[int, int] | None:
        """Before a first bulk indexing: token frequencies of the rows waiting to be indexed.

        Read-only (no write lock). Returns None unless the order is still unfrozen, nothing
        is indexed yet and enough rows wait, so the caller can freeze the order first and
        index each row once, in short transactions, instead of rebuilding a big index
        afterwards (an index already holding rows is forgotten first: ``store.reset``).
        """
        if self._meta("index_threshold") is not None or self.size() > 0:
            return None
        if self._waiting() < _FREEZE_MIN_ROWS:
            return None
        frequency: dict[int, int] = {}
        query = (
            "SELECT o.title, o.content FROM sync_dirty d JOIN observations o ON o.id = d.obs_id"
            " WHERE o.deleted_at IS NULL"
        )
        for title, content in self._conn.execute(query):
            if not wire.utf8_text((title, content)):
                continue
            for token in similarity.token_ids(similarity.word_set(title, content)):
                frequency[token] = frequency.get(token, 0) + 1
        return frequency

    def rebuild(self, extra: dict[int, int] | None = None, plan: OrderPlan | None = None) -> None:
        """Freeze a new token order from document frequencies and recompute every prefix.

        ``extra`` adds frequencies of rows about to be indexed (see ``frequencies_to_come``).
        One transaction for the whole index (9.7 s for 100,000 rows): the client calls it
        only while nothing is indexed yet, and forgets a bigger index first (``store.reset``).
        A ``plan`` (``plan_order``: ``extra`` with the order worked out before the write
        lock) is used as it is if no row is indexed; else its frequencies serve as ``extra``.
        """
        conn = self._conn
        sets = conn.execute("SELECT obs_id, tokens FROM sync_sets").fetchall()
        if plan is not None and not sets:  # the frequencies are the plan's, its order too
            order, vocabulary = plan.order, plan.vocabulary
        else:
            frequency: dict[int, int] = dict(plan.frequency if plan is not None else extra or {})
            for _, blob in sets:
                for token in unpack_tokens(blob):
                    frequency[token] = frequency.get(token, 0) + 1
            order, vocabulary = FrozenOrder(frequency), sorted(frequency.items())
        conn.execute("DELETE FROM sync_vocab")
        conn.executemany(  # in key order: appends, about half the time of random inserts
            "INSERT INTO sync_vocab (token, rank) VALUES (?, ?)", vocabulary
        )
        self._order = order
        self._order_id = uuid.uuid4().hex  # other connections reload the order when it moves
        self._invalidate()
        self._postings.clear()
        prefixes = [(obs_id, self._prefix(unpack_tokens(blob))) for obs_id, blob in sorted(sets)]
        conn.executemany(
            "UPDATE sync_sets SET prefix = ? WHERE obs_id = ?",
            ((posting_rows.pack(prefix), obs_id) for obs_id, prefix in prefixes),
        )
        conn.execute("DELETE FROM sync_postings")
        posting_rows.forget_levels(conn)
        conn.executemany(
            "INSERT INTO sync_postings (bucket, token, ids) VALUES (?, ?, ?)",
            posting_rows.grouped(prefixes),
        )
        conn.executemany(
            "INSERT OR REPLACE INTO sync_meta (key, value) VALUES (?, ?)",
            (("index_threshold", self._setting()), ("index_order", self._order_id)),
        )
        # sync_sets did not change, but every prefix did: other connections must know.
        conn.execute("UPDATE sync_index_gen SET n = random() WHERE id = 1")
        self._changed()

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
        if row is None or row[5] is not None or not wire.utf8_text(row[:5]):
            self.remove(obs_id)  # (an unreadable row cannot sync either: outbox sets it aside)
        else:
            self.put(obs_id, Text(*row[:5]))

    def remove(self, obs_id: int) -> None:
        """Forget a row (deleted or gone)."""
        self._sync()  # before this object changes anything
        query = "SELECT prefix FROM sync_sets WHERE obs_id = ?"
        row = self._conn.execute(query, (obs_id,)).fetchone()
        if row is not None:
            prefix = posting_rows.unpack(row[0])
            self._postings.removed(obs_id, prefix)
            posting_rows.store_removed(self._conn, obs_id, prefix)
            self._conn.execute("DELETE FROM sync_sets WHERE obs_id = ?", (obs_id,))
        self._record(obs_id, None)
        self._changed()

    def put(self, obs_id: int, text: Text, probe: Probe | None = None) -> None:
        """Index a live row's current title and content (the word set of ``probe``, if it
        was made for this very text)."""
        self.remove(obs_id)  # first: it also notices changes made by anyone else
        if probe is not None and probe.text != text:
            probe = None
        prefix: Iterable[int] | None = None
        if probe is not None:
            tokens, digest = probe.tokens, probe.digest
            if probe.epoch == self._epoch:  # made under this very order
                prefix = probe.prefix
        else:
            (tokens, prefix), digest = self._analyse(text), content_hash(text.content)
        # A word first seen after the order was frozen is not added to it: missing from
        # sync_vocab it ranks 0 (core.token_order), so prefixes made so far still hold.
        if prefix is None:
            prefix = self._prefix(tokens)
        self._conn.execute(
            "INSERT INTO sync_sets (obs_id, project, scope, topic_key, content_hash, size, tokens,"
            " prefix) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (obs_id, text.project, text.scope, text.topic_key, digest, len(tokens),
             pack_tokens(tokens), posting_rows.pack(prefix)),
        )  # fmt: skip
        posting_rows.store_added(self._conn, obs_id, prefix)
        self._postings.added(obs_id, prefix, len(tokens))
        if self._log is not None:
            scope, topic_key, shown = text.scope, text.topic_key, frozenset(prefix)
            self._record(obs_id, Entry(text.project, scope, topic_key, digest, tokens, shown))
        self._changed()

    def find_twin(
        self,
        text: Text,
        exclude: int = 0,
        accept: Callable[[int, str], bool] | None = None,
        probe: Probe | None = None,
    ) -> Twin | None:
        """The local live row a pulled observation duplicates, if any (exact first).

        Twins share project and scope: dedup never folds a shared observation into a
        personal one or the other way round. Row ``exclude`` (the probe's own) is skipped,
        and so is any row for which ``accept(obs_id, kind)`` is false (the next best is
        taken then). A ``probe`` prepared for ``text`` and still valid saves the look-up.
        """
        prepared = None if probe is None else self._from_probe(probe, text, exclude)
        if prepared is not None and CHECK_PROBES:
            fresh = (self._exact(text, exclude), self._similar(text, exclude))
            assert prepared == fresh, f"prepared {prepared} != fresh {fresh}"  # noqa: S101
        exact = prepared[0] if prepared is not None else self._exact(text, exclude)
        for obs_id in exact:
            if accept is None or accept(obs_id, "exact"):
                return Twin(obs_id, "exact")
        similar = prepared[1] if prepared is not None else None
        if similar is None:
            similar = self._similar(text, exclude)
        for obs_id in similar:
            if accept is None or accept(obs_id, "similar"):
                return Twin(obs_id, "similar")
        return None

    def _exact(self, text: Text, exclude: int) -> list[int]:
        """Rows holding the same content (and topic_key, project, scope), by id."""
        return lookups.exact(self._conn, [self._query(text, None)], exclude)[0]

    def _similar(self, text: Text, exclude: int) -> list[int]:
        """Rows similar to ``text``, most similar first (lower id first on equal scores)."""
        self._sync()  # the order too may have changed
        query = self._query(text, self._analyse(text))
        found = lookups.similar(
            self._conn, self._postings, [query], threshold=self.threshold, ell=ELL, exclude=exclude
        )
        return [obs_id for _, obs_id in found[0]]

    def _query(self, text: Text, analysed: tuple[frozenset[int], list[int]] | None) -> Query:
        """A look-up of ``text`` (its tokens and prefix as ``_analyse`` gives them, if known:
        an exact look-up needs neither)."""
        tokens, prefix = analysed if analysed is not None else (frozenset(), [])
        digest = content_hash(text.content)
        return Query(text.project, text.scope, text.topic_key, tokens, prefix, digest)

    def _analyse(self, text: Text) -> tuple[frozenset[int], list[int]]:
        """The token set of ``text`` and its prefix under the current order."""
        tokens, order = self._order.analyse(text.title, text.content)
        return tokens, self._cut(order)

    def _prefix(self, tokens: frozenset[int]) -> list[int]:
        """``similarity.prefix(tokens, rank, threshold, ELL)`` under the current order."""
        return self._cut(self._order.ordered(tokens))

    def _cut(self, order: list[int]) -> list[int]:
        """The prefix of a whole set's tokens in the order (this list is cut)."""
        del order[similarity.prefix_length(len(order), self.threshold, ELL) :]
        return order

    # ---- look-ups prepared outside the write lock -------------------------------------

    def prepare(self, texts: Iterable[Text | None], seconds: float) -> list[Probe | None]:
        """Look up the twins of ``texts`` in one read snapshot, without the write lock.

        Texts are looked up in batches (``store.lookups``) until ``seconds`` have passed
        (at least one batch is done): the list may be shorter than ``texts``. ``None``
        entries give ``None``. Must be called outside a transaction. Answers made by an
        earlier ``prepare`` become stale.
        """
        probes: list[Probe | None] = []
        started = time.monotonic()
        self._conn.execute("BEGIN")  # a read transaction: one snapshot for every look-up
        try:
            self._sync()
            self._epoch += 1
            self._log = ChangeLog()
            pending = iter(texts)
            while not probes or time.monotonic() - started < seconds:
                batch = list(itertools.islice(pending, _PREPARE_BATCH))
                if not batch:
                    break
                made = iter(self._probes([text for text in batch if text is not None]))
                probes += [None if text is None else next(made) for text in batch]
        finally:
            self._conn.execute("COMMIT")
        return probes

    def validate(self) -> None:
        """At the start of a write transaction that uses prepared answers, before any change.

        If anyone but this object changed the index since they were made, they are dropped.
        """
        self._sync()

    def _probes(self, texts: list[Text]) -> list[Probe]:
        """Look ``texts`` up, in one batch (``store.lookups``)."""
        queries = [self._query(text, self._analyse(text)) for text in texts]
        exact = lookups.exact(self._conn, queries, 0)
        similar = lookups.similar(
            self._conn, self._postings, queries, threshold=self.threshold, ell=ELL, exclude=0,
            bulk=True,  # prepare holds no write lock
        )  # fmt: skip
        mark = 0 if self._log is None else len(self._log)
        return [
            Probe(text, q.tokens, q.digest, tuple(q.prefix),
                  similarity.shared_needed(len(q.tokens), self.threshold, ELL),
                  tuple(e), tuple(s), self._epoch, mark)
            for text, q, e, s in zip(texts, queries, exact, similar, strict=True)
        ]  # fmt: skip

    def _from_probe(
        self, probe: Probe, text: Text, exclude: int
    ) -> tuple[list[int], list[int]] | None:
        """The exact and similar rows of a prepared probe, brought up to date with the
        changes logged since; None if it is stale or for another text."""
        self._sync()
        if probe.epoch != self._epoch or self._log is None or probe.text != text:
            return None
        log, mark, shown = self._log, probe.mark, frozenset(probe.prefix)
        exact = [i for i in probe.exact if not log.changed_since(i, mark) and i != exclude]
        scored = [
            (s, i) for s, i in probe.similar if not log.changed_since(i, mark) and i != exclude
        ]
        # Only rows indexed since that share the content hash or enough prefix tokens can
        # be twins; every other row changed since is left out of the answer above.
        for obs_id, entry in log.latest_since(mark, probe.prefix, probe.needed, probe.digest):
            if obs_id == exclude:
                continue
            if entry.project != text.project or entry.scope != text.scope:
                continue
            if entry.digest == probe.digest and entry.topic_key == text.topic_key:
                exact.append(obs_id)
            if text.topic_key is not None and entry.topic_key not in (None, text.topic_key):
                continue
            if len(shown & entry.prefix) < probe.needed:
                continue  # the prefix filter, as the index applies it: not similar
            if similarity.is_similar(probe.tokens, entry.tokens, self.threshold):
                scored.append((-similarity.jaccard(probe.tokens, entry.tokens), obs_id))
        exact.sort()
        scored.sort()
        return exact, [obs_id for _, obs_id in scored]

    def _record(self, obs_id: int, entry: Entry | None) -> None:
        """Log a change of the index while prepared answers may still be used."""
        if self._log is None:
            return
        self._log.record(obs_id, entry)
        if len(self._log) > _LOG_LIMIT:
            self._invalidate()

    def release(self) -> None:
        """Prepared answers are done with: stop logging changes for them."""
        self._invalidate()

    def _invalidate(self) -> None:
        self._epoch += 1
        self._log = None

    def _sync(self) -> None:
        """If the index changed other than by this object since it last looked, drop what
        it holds in memory: loaded postings and prepared answers."""
        gen = self._read_gen()
        if gen != self._known:
            self._postings.clear()
            self._invalidate()
            self._known = gen
            if self._meta("index_order") != self._order_id:  # another connection rebuilt it
                self._load_order()

    def _changed(self) -> None:
        """After this object's own change, whose effects it has applied in memory."""
        self._known = self._read_gen()

    def _read_gen(self) -> int:
        return int(self._conn.execute("SELECT n FROM sync_index_gen WHERE id = 1").fetchone()[0])
