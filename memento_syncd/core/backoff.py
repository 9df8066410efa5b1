"""Retry schedules: exponential backoff with full jitter, and a small connection state machine.

Pure: the random draw and the clock are passed in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delays of ``uniform(0, min(cap, base * 2**attempt))`` seconds (AWS "full jitter")."""

    base: float = 1.0
    cap: float = 300.0

    def delay(self, attempt: int, draw: Callable[[float, float], float]) -> float:
        """The wait before retry number ``attempt`` (0 for the first retry)."""
        ceiling = min(self.cap, self.base * 2 ** min(attempt, 62))
        return draw(0.0, ceiling)


@dataclass(frozen=True, slots=True)
class Health:
    """Whether a link (push, pull, realtime) works, and when to try it next after a failure.

    ``changed`` tells the caller to log: once per change of state, not once per attempt.
    """

    failures: int = 0
    last_error: str | None = None
    next_attempt: float | None = None
    changed: bool = False

    def failed(
        self, error: str, now: float, backoff: Backoff, draw: Callable[[float, float], float]
    ) -> Health:
        """After a failure: count it and schedule the next attempt."""
        wait = backoff.delay(self.failures, draw)
        return Health(
            failures=self.failures + 1,
            last_error=error,
            next_attempt=now + wait,
            changed=self.last_error != error,
        )

    def succeeded(self) -> Health:
        """After a success: healthy again (a change worth logging if it was failing)."""
        return Health(changed=self.failures > 0)

    def retry_now(self) -> Health:
        """The link is known to be back: try at once, still failing until an attempt succeeds."""
        return replace(self, next_attempt=None, changed=False)

    def quiet(self) -> Health:
        """The same state with the change acknowledged."""
        return replace(self, changed=False)
