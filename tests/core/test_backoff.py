"""Backoff with full jitter and the per-link health state machine."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from memento_syncd.core.backoff import Backoff, Health


def _top(low: float, high: float) -> float:
    return high


@given(st.integers(0, 10_000), st.floats(0.01, 10), st.floats(1, 1000))
def test_delays_stay_within_zero_and_the_cap(attempt: int, base: float, cap: float) -> None:
    """Whatever the attempt, the wait lies in [0, min(cap, base * 2**attempt)]."""
    backoff = Backoff(base=base, cap=cap)
    assert 0 <= backoff.delay(attempt, lambda lo, hi: lo) <= cap
    assert backoff.delay(attempt, _top) == min(cap, base * 2 ** min(attempt, 62))


def test_ceiling_doubles_until_the_cap() -> None:
    """The upper bound grows 1, 2, 4, ... seconds and stops at the cap."""
    backoff = Backoff(base=1.0, cap=10.0)
    assert [backoff.delay(n, _top) for n in range(6)] == [1, 2, 4, 8, 10, 10]


def test_failures_schedule_later_attempts_and_log_once_per_error() -> None:
    """Repeated identical failures are counted but reported as a change only once."""
    backoff = Backoff(base=1.0, cap=100.0)
    state = Health().failed("refused", now=100.0, backoff=backoff, draw=_top)
    assert (state.failures, state.next_attempt, state.changed) == (1, 101.0, True)
    state = state.quiet().failed("refused", now=101.0, backoff=backoff, draw=_top)
    assert (state.failures, state.next_attempt, state.changed) == (2, 103.0, False)
    state = state.quiet().failed("timed out", now=103.0, backoff=backoff, draw=_top)
    assert state.changed


def test_success_resets_and_reports_recovery_once() -> None:
    """After failures, one success clears the state and says so; a second says nothing."""
    failing = Health().failed("x", 0.0, Backoff(), _top).quiet()
    recovered = failing.succeeded()
    assert (recovered.failures, recovered.last_error, recovered.next_attempt) == (0, None, None)
    assert recovered.changed
    assert not recovered.quiet().succeeded().changed


def test_retry_now_drops_the_wait_but_keeps_failing_until_a_success() -> None:
    """retry_now clears the next attempt only; the later success still reports the recovery."""
    failing = Health().failed("down", 5.0, Backoff(), _top).quiet()
    assert failing.next_attempt is not None
    now = failing.retry_now()
    assert (now.failures, now.last_error, now.next_attempt) == (1, "down", None)
    assert not now.changed
    assert now.succeeded().changed
    again = now.failed("down", 6.0, Backoff(), _top)
    assert again.failures == 2
    assert not again.changed  # same error: not logged again
