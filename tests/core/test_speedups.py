"""The C speed-ups (core/_speedups.c) give exactly the answers of the pure-Python code."""

from __future__ import annotations

import os
import random
from array import array
from collections import Counter

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from memento_syncd.core import similarity, speedups, token_order
from memento_syncd.core.token_order import FrozenOrder

PURE = bool(os.environ.get("MEMENTO_SYNCD_PURE_PYTHON"))
needs_native = pytest.mark.skipif(PURE, reason="MEMENTO_SYNCD_PURE_PYTHON is set")
MANY = settings(deadline=None, max_examples=400)

# ASCII letters of both cases, digits, separators (the underscore, punctuation, controls,
# spaces) and a few non-ASCII characters, which send a text down the pure-Python path.
ASCII = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_ -.,'\n\t\x00\x7f"
texts = st.text(alphabet=st.sampled_from(ASCII), max_size=200) | st.text(max_size=60)
word_pool = ["alpha", "beta", "gamma", "delta", "x", "y2", "42", "zz", "ab", "q"]


def _native() -> type:
    assert speedups.WordKeys is not None
    return speedups.WordKeys


def _pure_analyse(ranks: dict[int, int], title: str, content: str) -> tuple[object, ...]:
    order = FrozenOrder(ranks)
    order._native = None
    return order.analyse(title, content)


def test_the_speedups_are_built() -> None:
    """The compiled module is built and loaded (unless MEMENTO_SYNCD_PURE_PYTHON asks for
    the pure-Python code): an install without a C compiler fails this test, not silently."""
    if PURE:
        assert speedups.WordKeys is None
        assert speedups.in_at_least is None
    else:
        assert speedups.WordKeys is not None
        assert speedups.in_at_least is not None


@needs_native
@MANY
@given(
    st.lists(texts, min_size=1, max_size=6),
    st.dictionaries(st.sampled_from(word_pool), st.integers(-2, 30), max_size=8),
)
@example(["Don't snake_case ALPHA alpha alpha9 9alpha", "\x00\x7f--"], {"alpha": 3, "t": 1})
def test_native_analyse_equals_the_pure_one(pieces: list[str], ranks: dict[str, int]) -> None:
    """FrozenOrder.analyse gives the same tokens in the same order with the compiled memo
    as without it, for ASCII texts (cased, digits, separators, controls) and others, from
    a fresh memo and a filled one, whatever the ranks' signs."""
    by_token = {similarity.token_id(word): rank for word, rank in ranks.items()}
    order = FrozenOrder(by_token)
    assert order._native is not None
    for title, content in zip(pieces, [*pieces[1:], ""], strict=True):
        expected = _pure_analyse(by_token, title, content)
        assert order.analyse(title, content) == expected
        assert order.analyse(title, content) == expected  # every word memoised now


@needs_native
def test_the_native_memo_starts_again_past_its_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the memo's limit the compiled memo is emptied with the outside keys, stays
    within the limit plus one text's words, and later answers are still right."""
    monkeypatch.setattr(token_order, "_KEYS_LIMIT", 5)
    rng = random.Random(7)  # noqa: S311 - reproducible test data
    vocabulary = [f"w{n}" for n in range(40)]
    ranks = {similarity.token_id(word): n % 7 - 1 for n, word in enumerate(vocabulary[:20])}
    order = FrozenOrder(ranks)
    native = order._native
    assert native is not None
    for _ in range(200):
        text = " ".join(rng.choices(vocabulary, k=rng.randrange(1, 9)))
        assert order.analyse("T", text) == _pure_analyse(ranks, "T", text)
        assert len(native) <= 5 + 9 + 1  # the limit, and the words of one text
    assert len(order._outside) <= 5 + 9 + 1


@needs_native
def test_word_keys_refuse_bad_arguments() -> None:
    """WordKeys says what is wrong with an empty word, a by_place that is not a list, or a
    key past its end, rather than crashing."""
    keys = _native()(seed=1)
    with pytest.raises(ValueError, match="never empty"):
        keys.set("", 1)
    keys.set("word", 5)
    assert len(keys) == 1
    with pytest.raises(TypeError):
        keys.analyse("word", "", (0, 1, 2, 3, 4, 5))
    with pytest.raises(IndexError, match="past the end"):
        keys.analyse("word", "", [0, 1])
    assert keys.analyse("word", "WORD word", [0, 1, 2, 3, 4, 55]) == ([], [], [55])
    assert keys.analyse("wörd", "", [0]) is None  # not ASCII: for the pure-Python code
    keys.clear()
    assert len(keys) == 0
    assert keys.analyse("word", "", [0]) == (["word"], [], [])


def _expected_at_least(lists: list[array[int]], needed: int) -> list[int]:
    counts = Counter(v for values in lists for v in values)
    return sorted(v for v, n in counts.items() if n >= max(1, needed))


value_sets = st.sets(
    st.integers(0, 300)
    | st.integers(-(2**63), 2**63 - 1)
    | st.integers((1 << 24) - 2, (1 << 24) + 2),
    max_size=40,
)


@needs_native
@MANY
@given(st.lists(value_sets, max_size=12), st.integers(-1, 14), st.booleans())
@example([{1, 2}, {2, 3}], 2, False)
@example([{5}] * 300, 256, False)  # more than 255 lists: counted by sorting
def test_native_in_at_least_counts_like_a_counter(
    sets: list[set[int]], needed: int, narrow: bool
) -> None:
    """The compiled in_at_least gives the values held by at least ``needed`` lists,
    ascending, for 4- and 8-byte lists, negative and huge values, and any number of lists."""
    lists = [
        array("i", values) if narrow and all(-(2**31) <= v < 2**31 for v in values)
        else array("q", values)
        for values in sets
    ]  # fmt: skip
    assert speedups.in_at_least is not None
    assert speedups.in_at_least(lists, needed) == _expected_at_least(lists, needed)
    assert similarity.in_at_least(lists, needed) == _expected_at_least(lists, needed)


@needs_native
@pytest.mark.parametrize("shape", ["ascending", "descending", "equal", "organ pipe", "random"])
def test_native_in_at_least_sorts_any_shape(shape: str) -> None:
    """Values too big to count in a table are sorted: long runs in any arrangement (the
    sort's worst cases included) give the same answer as a Counter."""
    base = 1 << 40
    n = 5000
    values = {
        "ascending": list(range(n)),
        "descending": list(range(n, 0, -1)),
        "equal": [7] * n,
        "organ pipe": list(range(n // 2)) + list(range(n // 2, 0, -1)),
        "random": random.Random(3).sample(  # noqa: S311 - test data
            range(10 * n), n
        ),
    }[shape]
    # The k-th occurrence of a value goes to list k: each list holds a value at most once.
    lists: list[array[int]] = []
    seen: Counter[int] = Counter()
    for v in values:
        if seen[v] == len(lists):
            lists.append(array("q"))
        lists[seen[v]].append(base + v)
        seen[v] += 1
    assert speedups.in_at_least is not None
    for needed in (1, 2, 3):
        assert speedups.in_at_least(lists, needed) == _expected_at_least(lists, needed)


@needs_native
def test_native_in_at_least_refuses_other_buffers() -> None:
    """Lists of another type (floats, bytes) or a non-sequence are a TypeError."""
    assert speedups.in_at_least is not None
    with pytest.raises(TypeError):
        speedups.in_at_least([array("d", [1.0])], 1)  # type: ignore[list-item]
    with pytest.raises(TypeError):
        speedups.in_at_least([b"abcd"], 1)  # type: ignore[list-item]
    with pytest.raises(TypeError):
        speedups.in_at_least(5, 1)  # type: ignore[arg-type]


@needs_native
def test_native_narrow_refuses_a_torn_blob() -> None:
    """A blob whose length is not a whole number of 8-byte ids is a ValueError."""
    assert speedups.narrow is not None
    with pytest.raises(ValueError, match="8 bytes each"):
        speedups.narrow(b"\x01\x00\x00")
    assert speedups.narrow(b"") == b""
