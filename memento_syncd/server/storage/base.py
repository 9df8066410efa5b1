"""The storage interface the handlers use; every store passes the same contract tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from memento_syncd.core.observation import StoredObservation
from memento_syncd.core.versioning import Verdict
from memento_syncd.core.wire import PushRequest


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a valid token speaks for."""

    token_id: str
    team_id: int
    team: str
    member_id: int
    member: str


@dataclass(frozen=True, slots=True)
class ChangeResult:
    """The fate of one pushed change; ``current`` is the server's copy after the push."""

    sync_id: str
    verdict: Verdict
    current: StoredObservation


@dataclass(frozen=True, slots=True)
class PushOutcome:
    """What a committed push did and where the pusher's cursor may move.

    ``head_seq`` is the last sequence number committed. ``cursor_seq`` is the furthest
    position after the request's cursor that skips nothing but this push's own changes:
    safe to use as the next pull cursor, and it spares the device pulling its own echo.
    """

    results: tuple[ChangeResult, ...]
    head_seq: int
    cursor_seq: int

    @property
    def synced(self) -> int:
        """Changes now held by the server as sent (written or already identical)."""
        return sum(r.verdict is not Verdict.CONFLICT for r in self.results)

    @property
    def conflicts(self) -> int:
        """Changes refused because they were based on an older version."""
        return sum(r.verdict is Verdict.CONFLICT for r in self.results)

    @property
    def written(self) -> int:
        """Changes that produced a new version (and so a new sequence number)."""
        return sum(r.verdict in (Verdict.INSERT, Verdict.UPDATE) for r in self.results)


@dataclass(frozen=True, slots=True)
class PullPage:
    """Observations after a cursor in sequence order; ``last_seq`` is where the next page starts."""

    items: tuple[StoredObservation, ...]
    last_seq: int
    has_more: bool


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token's public facts (never its secret)."""

    token_id: str
    team: str
    member: str
    created_at: str
    revoked_at: str | None


class Forbidden(Exception):
    """A push touched an observation the member may not change; nothing was written."""

    def __init__(self, sync_id: str, reason: str) -> None:
        super().__init__(f"observation {sync_id!r}: {reason}")
        self.sync_id = sync_id
        self.reason = reason


class StoreBusy(Exception):
    """The database stayed locked by another writer too long; the client may retry."""


class ServerStore(Protocol):
    """Persistent state of the sync server.

    Sequence numbers are assigned inside the writing transaction, so commit order and
    sequence order agree and a pull never skips a change that commits later.
    """

    @property
    def epoch(self) -> str:
        """A random id of this database, written into cursors."""
        ...

    async def open(self) -> None:
        """Create or migrate the schema and get ready to serve."""

    async def close(self) -> None:
        """Release connections."""

    async def authenticate(self, token: str) -> Principal | None:
        """Return who ``token`` speaks for, or None if it is unknown or revoked."""

    async def create_token(self, team: str, member: str, now: str) -> str:
        """Create team and member if needed; return a new token's plaintext (shown once)."""

    async def revoke_token(self, token_or_id: str, now: str) -> bool:
        """Revoke a token given as plaintext or id; False if there was none to revoke."""

    async def list_tokens(self) -> list[TokenInfo]:
        """All tokens, newest first."""

    async def push(self, who: Principal, request: PushRequest, after_seq: int) -> PushOutcome:
        """Apply a push atomically; raise ``Forbidden`` (writing nothing) if any change is.

        ``after_seq`` is the position of the request's cursor (0 without one).
        """

    async def pull(
        self, who: Principal, project: str, after_seq: int, limit: int, max_bytes: int
    ) -> PullPage:
        """Up to ``limit`` observations visible to ``who`` after ``after_seq``.

        A page stops early once its titles and contents pass ``max_bytes`` characters,
        but always holds at least one observation when there is one.
        """

    async def projects(self, who: Principal) -> list[str]:
        """Names of the team's projects holding observations visible to ``who``."""

    async def head(self) -> int:
        """The highest sequence number committed so far."""
