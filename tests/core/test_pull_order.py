"""The order of the daemon's pulls: news first, pulls that gave way after, all projects last."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from memento_syncd.core.pull_order import gave_way, pull_order

scopes = st.sets(st.one_of(st.none(), st.sampled_from(["a", "b", "c", "d"])))


def test_named_projects_are_pulled_in_name_order() -> None:
    """Projects named by news are pulled one by one, alphabetically."""
    assert pull_order({"b", "a"}, set()) == ["a", "b"]


def test_a_pull_that_gave_way_comes_after_the_news() -> None:
    """The project whose long pull stopped for news goes on after that news is pulled."""
    assert pull_order({"a", "z"}, {"a"}) == ["z", "a"]


def test_every_project_comes_last_and_goes_on_with_those_that_gave_way() -> None:
    """A pull of every project runs after the news; it carries on the pull that gave way."""
    assert pull_order({None, "b", "a"}, {"a"}) == ["b", None]
    assert pull_order({None}, {None}) == [None]


@given(wanted=scopes, resumed=scopes)
def test_every_wanted_pull_is_made_once_and_news_goes_first(
    wanted: set[str | None], resumed: set[str | None]
) -> None:
    """Each wanted scope is pulled once (every project covering named ones), every project
    last, and no pull that gave way precedes one that did not."""
    order = pull_order(wanted, resumed)
    assert len(order) == len(set(order))
    assert set(order) <= wanted
    for scope in wanted:
        assert scope in order or None in order
    if None in wanted:
        assert order[-1] is None
    named = [p for p in order if p is not None]
    flags = [p in resumed for p in named]
    assert flags == sorted(flags)


def test_a_pull_that_gives_way_keeps_the_rest_of_its_round_wanted() -> None:
    """News of C while A (a long pull) runs before B: A and B stay wanted, A after the news."""
    assert gave_way(["A", "B"], 0, set()) == (["A", "B"], {"A"})
    assert gave_way(["B", "A", None], 0, {"A"}) == (["B", "A", None], {"B", "A"})


@given(wanted=scopes, resumed=scopes, data=st.data())
def test_after_giving_way_the_next_rounds_make_every_pull_not_yet_made(
    wanted: set[str | None], resumed: set[str | None], data: st.DataObject
) -> None:
    """Whichever pull of a round gives way, every pull of the round not yet made is
    wanted again, and the next round's order makes the news before those that gave way."""
    order = pull_order(wanted, resumed)
    if not order:
        return
    at = data.draw(st.integers(0, len(order) - 1))
    again, gave = gave_way(order, at, resumed)
    assert again == order[at:]
    news = "news"
    following = pull_order({news, *again}, gave)
    for scope in again:
        assert scope in following or None in following
    for scope in gave & set(following):
        assert following.index(news) < following.index(scope)
