"""The frozen token order: places and memoised word keys give similarity.ordered's order."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memento_syncd.core import similarity, token_order
from memento_syncd.core.token_order import FrozenOrder
from tests.core.strategies import RELAXED

WORDS = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta", "Ünïcode", "x_y"]
ranks_of_words = st.dictionaries(st.sampled_from(WORDS), st.integers(-2, 40), max_size=8)
texts = st.lists(st.lists(st.sampled_from(WORDS), max_size=10).map(" ".join), max_size=8)


def _expected(text: str, ranks: dict[int, int]) -> tuple[frozenset[int], list[int]]:
    tokens = similarity.token_ids(similarity.word_set("", text))
    return tokens, similarity.ordered(tokens, ranks)


@RELAXED
@given(texts, ranks_of_words)
def test_analyse_gives_the_word_set_in_the_order(words: list[str], ranks: dict[str, int]) -> None:
    """analyse gives the token ids of a text's words and their (rank, token) order, from a
    fresh memo and from one filled by earlier texts, whatever the ranks' signs."""
    by_token = {similarity.token_id(word.lower()): rank for word, rank in ranks.items()}
    order = FrozenOrder(by_token)
    for text in words + words:
        assert order.analyse("", text) == _expected(text, by_token)


@RELAXED
@given(
    st.lists(st.frozensets(st.integers(0, 2**63 - 1), max_size=30), max_size=5),
    st.dictionaries(st.integers(0, 2**63 - 1), st.integers(-3, 10**9), max_size=30),
)
def test_ordered_is_the_order_of_the_ranks(
    sets: list[frozenset[int]], ranks: dict[int, int]
) -> None:
    """ordered sorts any token set as similarity.ordered does under the same ranks."""
    order = FrozenOrder(ranks)
    for tokens in [*sets, frozenset(ranks)]:
        assert order.ordered(tokens) == similarity.ordered(tokens, ranks)


def test_pairs_and_a_mapping_give_the_same_order() -> None:
    """The order can be built from (token, rank) pairs, as read from the database, or a dict."""
    ranks = {5: 2, 3: 2, 9: 1, 4: 0}
    tokens = frozenset({3, 4, 5, 9, 11})
    assert FrozenOrder(ranks.items()).ordered(tokens) == FrozenOrder(ranks).ordered(tokens)
    assert FrozenOrder(ranks).ordered(tokens) == [4, 11, 9, 3, 5]


@given(texts, ranks_of_words)
def test_a_full_memo_starts_again_and_answers_stay_right(
    words: list[str], ranks: dict[str, int]
) -> None:
    """Past its limit the word memo is emptied (keys of words outside the order with it),
    and later answers are still the order's."""
    by_token = {similarity.token_id(word.lower()): rank for word, rank in ranks.items()}
    order = FrozenOrder(by_token)
    saved = token_order._KEYS_LIMIT
    token_order._KEYS_LIMIT = 3
    try:
        for text in words + words:
            assert order.analyse("", text) == _expected(text, by_token)
            assert len(order._word_keys) <= 3 + len(WORDS)
    finally:
        token_order._KEYS_LIMIT = saved


def test_two_words_of_one_token_id_count_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two words whose ids collide (forced here: a 63-bit hash collision) are one token,
    listed once, placed or not."""
    real = similarity.token_id

    def colliding(word: str) -> int:
        return real("alpha") if word in ("alpha", "beta", "gamma") else real(word)

    monkeypatch.setattr(similarity, "token_id", colliding)
    alpha, delta = real("alpha"), real("delta")
    for ranks in ({alpha: 3, delta: 1}, {delta: 1}):
        order = FrozenOrder(ranks)
        for _ in range(2):
            tokens, ordered = order.analyse("alpha beta", "gamma delta")
            assert tokens == {alpha, delta}
            assert ordered == similarity.ordered(tokens, ranks)
