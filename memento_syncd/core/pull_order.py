"""Which pulls the daemon runs next, and in what order (pure).

A long pull of one project gives way, between pages, to news of another (the realtime
stream's): the daemon runs that first and the interrupted pull after it, from the cursor
it reached.
"""

from __future__ import annotations


def pull_order(wanted: set[str | None], resumed: set[str | None]) -> list[str | None]:
    """The order of the pulls ``wanted`` (None: every project): the projects named, but
    those that gave way (``resumed``) after the others; then every project, if asked,
    which also goes on with those that gave way (the news comes first all the same)."""
    named = sorted((p for p in wanted if p), key=lambda p: (p in resumed, p))
    if None not in wanted:
        return list(named)
    fresh = [p for p in named if p not in resumed]
    return [*fresh, None]


def gave_way(
    order: list[str | None], at: int, resumed: set[str | None]
) -> tuple[list[str | None], set[str | None]]:
    """Pull ``order[at]`` of a round in ``order`` gave way to news: the pulls wanted again
    (it and every one after it in the round, none dropped) and those of them that count
    as having given way (it, and those that already had: the news goes before them)."""
    return order[at:], {order[at]} | (resumed & set(order[at + 1 :]))
