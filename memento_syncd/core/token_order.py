"""The frozen token order of the similarity index, with sort keys that sort at C speed.

The index orders a set's tokens by ``(rank, token)`` ascending, a token missing from the
rank snapshot counting as rank 0 (``similarity.ordered``). Sorting by that pair, or by the
one big integer ``rank << 63 | token``, compares multi-digit Python ints one pair at a time.
Here each token of rank above 0 gets its *place* in the order instead (1, 2, ...): a small
int, and a list of small ints is sorted by CPython's specialised compare, several times
as fast. Tokens outside the places (unseen when the order was frozen, or ranked 0 or
below) sort before every placed one (their rank is at most 0, every placed one's at least
1) and among themselves by ``(rank, token)``; there are few of them in a text.

A word's key is memoised: its place, or ``~i`` (negative) for the ``i``-th outside token.
Pure: no I/O.
"""

from __future__ import annotations

import bisect
import operator
import secrets
from collections.abc import Iterable, Mapping

from memento_syncd.core import similarity
from memento_syncd.core.speedups import WordKeys

_KEYS_LIMIT = 1 << 16  # words whose key is memoised (a few MB); then the memo starts again


class FrozenOrder:
    """A rank snapshot as places, and the words of texts in that order."""

    def __init__(self, ranks: Iterable[tuple[int, int]] | Mapping[int, int]) -> None:
        """Take ``(token, rank)`` pairs (or a token -> rank mapping)."""
        pairs = ranks.items() if isinstance(ranks, Mapping) else ranks
        ranked = sorted(pairs, key=operator.itemgetter(1, 0))  # by (rank, token)
        self._low = {token: rank for token, rank in ranked if rank <= 0}
        placed = [token for token, rank in ranked if rank > 0]
        self._by_place = [0, *placed]  # place -> token (place 0 unused)
        self._place = dict(zip(placed, range(1, len(placed) + 1), strict=True))
        self._word_keys: dict[str, int] = {}
        self._outside: list[int] = []  # ~key -> token, for negative keys
        self._outside_key: dict[int, int] = {}  # token -> its negative key
        # The memo of ASCII words, in C (speedups), if built: no Python string per word.
        self._native = None if WordKeys is None else WordKeys(secrets.randbits(64))

    def analyse(self, title: str, content: str) -> tuple[frozenset[int], list[int]]:
        """The distinct token ids of the words of ``title`` and ``content``, as a set and
        in the order: ``similarity.token_ids(similarity.word_set(title, content))`` and
        ``similarity.ordered`` of it under the ranks."""
        if self._native is not None:
            found = self._native_analyse(title, content)
            if found is not None:
                return frozenset(found), found
        words = similarity.word_set(title, content)
        memo = self._word_keys
        try:
            keys = sorted(map(memo.__getitem__, words))
        except KeyError:
            self._learn(words)
            keys = sorted(map(memo.__getitem__, words))
        order = self._tokens(keys)
        tokens = frozenset(order)
        if len(tokens) != len(order):  # two words of one token id (a 63-bit collision)
            order = list(dict.fromkeys(order))  # equal keys sit side by side
        return tokens, order

    def _native_analyse(self, title: str, content: str) -> list[int] | None:
        """The distinct tokens of an ASCII text in the order, by the compiled ``WordKeys``
        (whose keys are distinct, so are the tokens); None for any other text."""
        native = self._native
        assert native is not None  # noqa: S101 (the caller checked)
        for attempt in range(3):  # learning may start the memo again: then once more
            found = native.analyse(title, content, self._by_place)
            if found is None:
                return None
            missing, outside, placed = found
            if not missing:
                if not outside:
                    return placed
                return self._sorted_outside(self._outside[~key] for key in outside) + placed
            if attempt == 0 and len(native) + len(missing) > _KEYS_LIMIT:
                self._forget()  # then the next attempt learns all this text's words
            for word in missing:
                native.set(word, self._key(word))
        raise AssertionError("a text's words were learnt and still missing")  # pragma: no cover

    def ordered(self, tokens: frozenset[int]) -> list[int]:
        """``tokens`` in the order: ``similarity.ordered(tokens, ranks)``."""
        place = self._place
        keys = sorted(filter(None, map(place.get, tokens)))
        by_place = self._by_place
        if len(keys) == len(tokens):
            return list(map(by_place.__getitem__, keys))
        outside = tokens.difference(place)
        return self._sorted_outside(outside) + list(map(by_place.__getitem__, keys))

    def _learn(self, words: frozenset[str]) -> None:
        """Memoise the keys of ``words`` not memoised yet."""
        memo = self._word_keys
        if len(memo) > _KEYS_LIMIT:
            self._forget()
        for word in words.difference(memo):
            memo[word] = self._key(word)

    def _key(self, word: str) -> int:
        """A word's key: its token's place, or its negative key among the outside tokens."""
        token = similarity.token_id(word)
        key = self._place.get(token)
        if key is None:
            key = self._outside_key.get(token)
            if key is None:
                key = self._outside_key[token] = ~len(self._outside)
                self._outside.append(token)
        return key

    def _forget(self) -> None:
        """Start the memo again (words and negative keys go together)."""
        self._word_keys.clear()
        self._outside.clear()
        self._outside_key.clear()
        if self._native is not None:
            self._native.clear()

    def _tokens(self, keys: list[int]) -> list[int]:
        """The tokens of sorted, distinct keys, in the order."""
        by_place = self._by_place
        if not keys or keys[0] > 0:
            return list(map(by_place.__getitem__, keys))
        n = bisect.bisect_left(keys, 1)
        outside = self._outside
        head = self._sorted_outside(outside[~key] for key in keys[:n])
        return head + list(map(by_place.__getitem__, keys[n:]))

    def _sorted_outside(self, tokens: Iterable[int]) -> list[int]:
        """Tokens without a place, by ``(rank, token)`` (their rank is at most 0)."""
        low = self._low
        return sorted(tokens, key=lambda token: (low.get(token, 0), token))
