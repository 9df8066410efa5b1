"""Exact near-duplicate detection: word sets, token ids and a prefix-filtered set join.

A pulled observation is a *near twin* of a local one when the Jaccard similarity of the
word sets of their title and content is strictly greater than a threshold ``t`` in
(0, 1] (default 0.85). Comparing against every local observation is quadratic; the
prefix and length filters of AllPairs/PPJoin find every such pair from a few index
look-ups, without approximation:

- **Length filter.** ``J(x, y) <= min(|x|, |y|) / max(|x|, |y|)``, so ``J >= t`` needs
  ``ceil(t|x|) <= |y| <= floor(|x|/t)`` (``length_bounds``).
- **Prefix filter.** Sort every set by one global total order and keep its first
  ``|x| - ceil(t|x|) + 1`` tokens (``prefix_length``). If ``J(x, y) >= t`` the sets
  share ``o >= ceil(t|x|)`` and ``o >= ceil(t|y|)`` tokens; the smallest shared token
  has at least ``o - 1`` tokens after it in each set, so it lies in both prefixes.

The argument holds for *any* total order, as long as indexed sets and probes use the
same one (``ordered``). Rare-first (by a document-frequency snapshot) only makes
prefixes consist of rare tokens, so posting lists and candidate sets stay short.

All arithmetic on thresholds is exact: a float threshold is read as the decimal it
prints as (``Fraction(str(t))``, so 0.85 is exactly 17/20). Pure: no I/O.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import math
import re
import sys
import unicodedata
from array import array
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from fractions import Fraction
from typing import Any, Generic, Protocol, TypeVar

from memento_syncd.core import speedups

DEFAULT_THRESHOLD = 0.85

Threshold = float | Fraction
"""A similarity threshold in (0, 1]; ``int`` 1 is accepted as a float."""

# A word is a maximal run of characters that ``re`` counts as word characters (Unicode
# letters and digits, str.isalnum) other than the underscore.
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
# For ASCII text the same rule is: letters and digits, lowercased, anything else a
# separator. A byte table does it twice as fast as the regular expression.
_ASCII_WORDS = bytes(
    c + 32 if 65 <= c <= 90 else c if c < 128 and chr(c).isalnum() else 32 for c in range(256)
)


class _Ordered(Protocol):
    def __lt__(self, other: Any, /) -> bool: ...


K = TypeVar("K", bound=_Ordered)


def word_set(title: str, content: str) -> frozenset[str]:
    """Return the words of ``title`` and ``content`` together.

    Exact rule: ``title + "\\n" + content`` is normalised to NFKC, casefolded, normalised
    to NFKC again and split into maximal runs matching ``[^\\W_]+`` (``re`` in Unicode
    mode: characters for which ``str.isalnum()`` holds, except ``_``). Anything else
    (space, punctuation, symbols, ``_``, combining marks left after NFKC) separates
    words: ``"Don't"`` gives ``{"don", "t"}``, ``"snake_case"`` ``{"snake", "case"}``;
    fullwidth letters and ligatures fold to ASCII, a decomposed ``"cafe\\u0301"`` equals
    ``"café"``. Letters and digits are those of the running Python's Unicode database.
    """
    text = f"{title}\n{content}"
    if text.isascii():  # NFKC leaves ASCII alone and casefold is lower there: same words
        return frozenset(text.encode("ascii").translate(_ASCII_WORDS).decode("ascii").split())
    text = unicodedata.normalize("NFKC", text)
    text = unicodedata.normalize("NFKC", text.casefold())
    return frozenset(_WORD.findall(text))


def token_id(word: str) -> int:
    """Return a stable id for ``word`` in [0, 2**63): fits a signed 64-bit SQLite INTEGER.

    The 8-byte BLAKE2b digest (no key, salt or personalisation) of the word's UTF-8,
    read big-endian as an unsigned integer and shifted right by one bit. Unlike
    ``hash()`` it is the same in every process and on every platform.
    """
    digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


# Memo of token_id (most words recur): a plain dict, looked up at C speed by ``map``;
# emptied when it passes this many words, so it stays a few MB at most.
_MEMO_LIMIT = 1 << 16
_memo: dict[str, int] = {}


def token_ids(words: Iterable[str]) -> frozenset[int]:
    """Return the ``token_id`` of every word (memoised)."""
    distinct = words if isinstance(words, (set, frozenset)) else set(words)
    try:
        return frozenset(map(_memo.__getitem__, distinct))
    except KeyError:
        if len(_memo) > _MEMO_LIMIT:
            _memo.clear()
        found = []
        for word in distinct:
            value = _memo.get(word)
            if value is None:
                value = _memo[word] = token_id(word)
            found.append(value)
        return frozenset(found)


@functools.lru_cache(maxsize=64)  # called per candidate pair; Fraction(str(x)) is slow
def exact_threshold(threshold: Threshold) -> Fraction:
    """Return ``threshold`` as an exact fraction in (0, 1]; a float as the decimal it prints as.

    Raises ValueError for anything outside (0, 1], NaN or infinity.
    """
    if isinstance(threshold, Fraction):
        exact = threshold
    elif isinstance(threshold, int):
        exact = Fraction(threshold)
    elif math.isfinite(threshold):
        exact = Fraction(str(threshold))
    else:
        raise ValueError(f"similarity threshold must be in (0, 1], got {threshold!r}")
    if not 0 < exact <= 1:
        raise ValueError(f"similarity threshold must be in (0, 1], got {threshold!r}")
    return exact


def jaccard(a: AbstractSet[int], b: AbstractSet[int]) -> float:
    """Return ``|a & b| / |a | b|``; 0.0 when either set is empty."""
    if not a or not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


def _jaccard_exact(a: AbstractSet[int], b: AbstractSet[int]) -> Fraction:
    if not a or not b:
        return Fraction(0)
    inter = len(a & b)
    return Fraction(inter, len(a) + len(b) - inter)


def is_similar(a: AbstractSet[int], b: AbstractSet[int], threshold: Threshold) -> bool:
    """Return whether ``J(a, b) > threshold`` strictly, compared exactly in integers.

    With ``threshold = p/q`` (``exact_threshold``) this is ``|a & b| * q > p * |a | b|``,
    so a Jaccard equal to the threshold (17 shared of 20 at 0.85) is not similar.
    """
    t = exact_threshold(threshold)
    if not a or not b:
        return False
    inter = len(a & b)
    return inter * t.denominator > t.numerator * (len(a) + len(b) - inter)


def _min_overlap(size: int, t: Fraction) -> int:
    # ceil(t * size) in integers.
    return -(-t.numerator * size // t.denominator)


def prefix_length(size: int, threshold: Threshold, ell: int = 1) -> int:
    """Return how many leading tokens of a set of ``size`` to index and probe.

    ``size - ceil(t * size) + ell``, exact, clamped to [0, size]: any two sets with
    ``J >= t`` share a token within their prefixes of this length (see the module
    docstring); a fortiori any pair with ``J > t``. An empty set has no prefix.

    With ``ell > 1`` (the "l-prefix" scheme of Wang, Li and Feng, SIGMOD 2012) the
    pair shares at least ``ell`` tokens within these longer prefixes, provided its
    overlap is at least ``ell`` (see ``shared_needed``): the ell-th shared token, in
    the global order, is followed in each set by at least ``overlap - ell`` shared
    ones, so it sits within ``size - overlap + ell``, and ``overlap >= ceil(t*size)``.
    """
    t = exact_threshold(threshold)
    if size <= 0:
        return 0
    return max(0, min(size, size - _min_overlap(size, t) + ell))


def shared_needed(size: int, threshold: Threshold, ell: int) -> int:
    """How many prefix tokens a candidate must share with a probe of ``size`` (1 or ``ell``).

    ``ell`` is only sound when every pair in the length range overlaps in at least
    ``ell`` tokens; for very small sets it falls back to 1.
    """
    low, _ = length_bounds(size, threshold)
    return ell if _min_overlap(low, exact_threshold(threshold)) >= ell else 1


def length_bounds(size: int, threshold: Threshold) -> tuple[int, int]:
    """Return inclusive bounds ``(ceil(t*size), floor(size/t))`` on ``|y|`` for ``J >= t``.

    Exact; ``(0, 0)`` for an empty set (which is similar to nothing).
    """
    t = exact_threshold(threshold)
    if size <= 0:
        return (0, 0)
    return (_min_overlap(size, t), size * t.denominator // t.numerator)


def ordered(tokens: Iterable[int], rank: Mapping[int, int]) -> list[int]:
    """Return the distinct ``tokens`` sorted by ``(rank.get(token, 0), token)`` ascending.

    ``rank`` is a document-frequency snapshot (rarer first); a token missing from it
    counts as 0, i.e. among the rarest, as unseen words usually are. Ties fall back
    to the token id, so this is a total order. Any fixed total order keeps the prefix
    filter exact; the snapshot must simply be the same for everything indexed and
    every probe (change it, re-index). Rare-first only makes the search faster.
    """
    order = sorted(set(tokens))  # by token id, then stably by rank: (rank, token)
    order.sort(key=lambda t: rank.get(t, 0))
    return order


# Below this many values in all, in_at_least counts them with a Counter: a small index
# (a daemon of a few thousand observations, say) never pays numpy's import (about 50 ms,
# in the middle of a realtime pull) nor its 18 MB.
NUMPY_FROM = 1024
# Once numpy is loaded anyway, it is the quicker from this many values (measured: 5.4 µs
# against 14 µs for 128 values in 25 lists, 11 against 62 for 1,000).
NUMPY_LOADED_FROM = 64


def in_at_least(
    lists: Sequence[array[int]], needed: int, numpy_from: int | None = None
) -> list[int]:
    """Return, ascending, the values found in at least ``needed`` of ``lists`` (at least 1).

    Each list must hold a value at most once (posting lists do): a value is then counted
    once per list holding it. Sorting the concatenation puts a value's occurrences side
    by side, so one held ``needed`` times sits ``needed - 1`` places ahead of itself. The
    compiled twin (``speedups``) does that in C; without it, or with ``numpy_from`` given,
    numpy does it, a few microseconds where ``collections.Counter`` over the same few
    thousand values takes a couple of hundred. Fewer than ``numpy_from`` values in all
    are counted with a ``Counter`` (by default ``NUMPY_FROM``, or ``NUMPY_LOADED_FROM``
    once numpy is loaded).
    """
    if numpy_from is None and speedups.in_at_least is not None:
        return speedups.in_at_least(lists, needed)
    needed = max(1, needed)
    total = sum(map(len, lists))
    if total < needed:
        return []
    if numpy_from is None:
        numpy_from = NUMPY_LOADED_FROM if "numpy" in sys.modules else NUMPY_FROM
    if total < numpy_from:
        counts = Counter(itertools.chain.from_iterable(lists))
        return sorted(value for value, count in counts.items() if count >= needed)
    import numpy as np  # here: only processes with big indexes load it

    if all(values.typecode == "i" for values in lists):  # one copy, no per-list work
        flat = np.frombuffer(b"".join(lists), dtype=np.int32)
    else:
        flat = np.concatenate([np.asarray(values, dtype=np.int64) for values in lists])
    flat = np.sort(flat)  # the default sort: on real probes ~1.4x as fast as "stable"
    if needed > 1:
        ahead = flat[needed - 1 :]
        flat = ahead[ahead == flat[: len(flat) - needed + 1]]
    found: list[int] = flat.tolist()
    return list(dict.fromkeys(found))  # each value once (they are sorted already)


def overlap_needed(a: int, b: int, threshold: Threshold) -> int:
    """The fewest shared tokens that make sets of sizes ``a`` and ``b`` similar (``J > t``).

    ``o / (a + b - o) > p/q`` is ``o * (p + q) > p * (a + b)``; exact, in integers.
    """
    t = exact_threshold(threshold)
    return t.numerator * (a + b) // (t.numerator + t.denominator) + 1


def positional_keep(size: int, first: int, other: int, threshold: Threshold) -> bool:
    """The positional filter (PPJoin, Xiao et al., WWW 2008), on the probe's side.

    A probe of ``size`` tokens whose prefix first meets a row's indexed prefix at position
    ``first`` (rare first) shares none of its ``first`` earlier tokens with that row: any
    such shared token, rarer than one inside the row's prefix, would be inside it too. So
    they share at most ``size - first`` tokens, and a row of ``other`` tokens (0: unknown,
    kept) can be similar only if that reaches ``overlap_needed(size, other)``.
    """
    return other == 0 or size - first >= overlap_needed(size, other, threshold)


def in_at_least_positional(
    lists: Sequence[array[int]],
    needed: int,
    size: int,
    threshold: Threshold,
    sizes: Sequence[int],
) -> list[int]:
    """``in_at_least(lists, needed)`` less the values ``positional_keep`` rules out.

    ``lists`` are the postings of a probe's prefix tokens, rare first, for a probe of
    ``size`` tokens; ``sizes[v]`` is row ``v``'s size (0, or ``v`` past the end: unknown).
    One sort of ``value * 256 + list position`` gives each value's count and first list
    (positions past 255 count as 255, which only keeps more).
    """
    t = exact_threshold(threshold)
    p, q = t.numerator, t.denominator
    needed = max(1, needed)
    if sum(map(len, lists)) < needed:
        return []
    import numpy as np

    flat = np.concatenate([np.asarray(values, dtype=np.int64) for values in lists])
    # 64-bit room: for the list position beside each value, and for p * (size + other)
    # with sizes below 2**17. Else (row ids past 2**54, a threshold such as
    # 0.123456789012 whose fraction is huge) the same rule, one value at a time.
    if p + q >= 1 << 40 or int(flat.max()) >= 1 << 54 or int(flat.min()) < 0:
        first = _first_lists(lists)
        return [
            v
            for v in in_at_least(lists, needed)
            if positional_keep(size, first[v], sizes[v] if v < len(sizes) else 0, t)
        ]
    labels = np.minimum(np.repeat(np.arange(len(lists)), [len(v) for v in lists]), 255)
    keys = np.sort(flat << 8 | labels)
    ids = keys >> 8
    starts = np.flatnonzero(np.concatenate(([True], ids[1:] != ids[:-1])))
    counts = np.diff(np.append(starts, len(ids)))
    chosen = starts[counts >= needed]
    values, firsts = ids[chosen], keys[chosen] & 255
    held = np.asarray(sizes)  # a view of an array("H"): no copy
    others = np.zeros(len(values), dtype=np.int64)
    inside = values < len(held)
    others[inside] = held[values[inside]]
    # positional_keep, vectorised: size - first >= overlap_needed(size, other).
    keep = (others == 0) | (size - firsts > p * (size + others) // (p + q))
    kept: list[int] = values[keep].tolist()
    return kept


def _first_lists(lists: Sequence[array[int]]) -> dict[int, int]:
    """Each value of ``lists`` with the position of the first list holding it."""
    first: dict[int, int] = {}
    for position, values in enumerate(lists):
        for value in values:
            first.setdefault(value, position)
    return first


def prefix(
    tokens: Iterable[int], rank: Mapping[int, int], threshold: Threshold, ell: int = 1
) -> list[int]:
    """Return the first ``prefix_length`` tokens of ``ordered(tokens, rank)``."""
    order = ordered(tokens, rank)
    return order[: prefix_length(len(order), threshold, ell)]


class PrefixIndex(Generic[K]):
    """In-memory reference index: finds every set with ``J >= threshold`` to a probe.

    Stores, per key, its token set and, per token, the keys whose prefix (for the
    index ``threshold``, under the ``rank`` order fixed here) holds it. A probe may use
    any threshold at least the index's: higher thresholds give shorter probe prefixes,
    and the stored prefixes stay long enough.
    """

    def __init__(self, rank: Mapping[int, int], threshold: Threshold = DEFAULT_THRESHOLD) -> None:
        """Create an empty index ordering tokens by a copy of ``rank``."""
        self._rank: dict[int, int] = dict(rank)
        self._threshold = exact_threshold(threshold)
        self._sets: dict[K, frozenset[int]] = {}
        self._postings: dict[int, set[K]] = {}

    def __len__(self) -> int:
        """Return the number of keys."""
        return len(self._sets)

    def add(self, key: K, tokens: Iterable[int]) -> None:
        """Index ``tokens`` under ``key``, replacing what ``key`` held before."""
        self.remove(key)
        stored = frozenset(tokens)
        self._sets[key] = stored
        for token in prefix(stored, self._rank, self._threshold):
            self._postings.setdefault(token, set()).add(key)

    def remove(self, key: K) -> None:
        """Forget ``key``; nothing happens if it is not indexed."""
        stored = self._sets.pop(key, None)
        if stored is None:
            return
        for token in prefix(stored, self._rank, self._threshold):
            keys = self._postings[token]
            keys.discard(key)
            if not keys:
                del self._postings[token]

    def _probe_threshold(self, threshold: Threshold | None) -> Fraction:
        if threshold is None:
            return self._threshold
        t = exact_threshold(threshold)
        if t < self._threshold:
            raise ValueError(f"threshold {threshold!r} is below the index threshold")
        return t

    def candidates(self, tokens: Iterable[int], threshold: Threshold | None = None) -> set[K]:
        """Return the keys sharing a prefix token with ``tokens`` and of a size within bounds.

        A superset of the keys with ``J >= threshold`` (default: the index threshold,
        which ``threshold`` may not be below).
        """
        t = self._probe_threshold(threshold)
        query = frozenset(tokens)
        low, high = length_bounds(len(query), t)
        found: set[K] = set()
        for token in prefix(query, self._rank, t):
            found.update(
                k for k in self._postings.get(token, ()) if low <= len(self._sets[k]) <= high
            )
        return found

    def best_match(self, tokens: Iterable[int], threshold: Threshold | None = None) -> K | None:
        """Return the key of highest Jaccard strictly above ``threshold``, or None.

        Ties go to the smallest key; same answer as ``brute_force_best_match``.
        """
        t = self._probe_threshold(threshold)
        query = frozenset(tokens)
        found = self.candidates(query, t)
        return brute_force_best_match(query, {k: self._sets[k] for k in found}, t)


def brute_force_best_match(
    query: AbstractSet[int], sets: Mapping[K, AbstractSet[int]], threshold: Threshold
) -> K | None:
    """Return the key in ``sets`` of highest Jaccard with ``query`` strictly above ``threshold``.

    Compares against every set, exactly; ties go to the smallest key; None if none.
    """
    t = exact_threshold(threshold)
    scores = {key: _jaccard_exact(query, tokens) for key, tokens in sets.items()}
    matches = [key for key, score in scores.items() if score > t]
    if not matches:
        return None
    return min(matches, key=lambda key: (-scores[key], key))
