"""What a push or pull does with the server's refusals (its 4xx answers): which row a
refusal names, when a batch is too big, one project's refusal not holding back the
others, and what to tell a device whose cursor is another team's. No I/O of its own."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from memento_syncd.client.transport import ServerRefused
from memento_syncd.store import outbox

R = TypeVar("R")


async def each_project(
    projects: list[str],
    sync: Callable[[str], Awaitable[R]],
    stop: Callable[[R], bool] | None = None,
) -> list[R]:
    """``sync`` each project in turn (until ``stop`` holds for a report). The server
    refusing one project's request (a 4xx: its cursor, a row it will not take) does not
    keep the others from syncing: the first refusal is raised once every project had its
    turn. Anything else (the server unreachable or failing, the token refused) stops at
    once: it would fail them all."""
    reports: list[R] = []
    refused: ServerRefused | None = None
    for name in projects:
        try:
            reports.append(await sync(name))
        except ServerRefused as exc:
            if exc.status >= 500:  # the server's own trouble: it would fail them all
                raise
            refused = refused or exc
            continue
        if stop is not None and stop(reports[-1]):
            break
    if refused is not None:
        raise refused
    return reports


def too_big(batch: outbox.Batch, exc: ServerRefused) -> bool:
    """A 413 for the whole request, not one of its observations, of a batch that can shrink."""
    return exc.status == 413 and culprit(batch, exc) is None and len(batch.items) > 1


def batch_bytes(batch: outbox.Batch) -> int:
    """The bytes a batch takes in a request body, at least (``outbox.wire_bytes``)."""
    return sum(outbox.wire_bytes(item.observation) for item in batch.items)


def culprit(batch: outbox.Batch, exc: ServerRefused) -> outbox.Outgoing | None:
    """The observation a 403, 413 or 422 names, if it names one; a request of one
    observation that is too large (a server or proxy set lower) names that one."""
    if exc.status == 413 and not exc.field.startswith("observations[") and len(batch.items) == 1:
        return batch.items[0]
    if exc.status == 403 and exc.sync_id:
        return next((i for i in batch.items if i.observation.sync_id == exc.sync_id), None)
    if exc.status in (413, 422) and exc.field.startswith("observations["):
        index = int(exc.field.split("[", 1)[1].split("]", 1)[0])
        return batch.items[index] if index < len(batch.items) else None
    return None


def foreign_cursor_message(base_url: str, project: str) -> str:
    """What to do when the server refuses the cursor kept for ``project`` as not its own."""
    return (
        f"the sync server at {base_url} does not take the cursor this device keeps for"
        f" project {project!r}: it"
        " is another team's (was this device logged in with another team's token?) or"
        " damaged; log in with that team's token again, or run 'memento sync reset"
        f" --project {project}' to sync the project afresh with this server and team"
        " (every observation of it on this device is then pushed to them)"
    )
