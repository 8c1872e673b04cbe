"""Circuit breaker: fail fast while a dependency is failing, probe it when half-open."""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum


class BreakerState(StrEnum):
    """The three states of a circuit breaker."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


Transition = Callable[[BreakerState, BreakerState, str], None]


class CircuitBreaker:
    """Opens after ``threshold`` consecutive failures, stays open ``open_s`` seconds,
    then lets one probe call through (half-open): success closes it, failure reopens it.
    """

    def __init__(
        self,
        threshold: int,
        open_s: float,
        clock: Callable[[], float] = time.monotonic,
        on_transition: Transition | None = None,
    ) -> None:
        self.threshold = threshold
        self.open_s = open_s
        self._clock = clock
        self._on_transition = on_transition
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probe_in_flight = False

    @property
    def state(self) -> BreakerState:
        """Current state; an open breaker whose timer ran out reports half-open."""
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self.open_s:
            self._move(BreakerState.HALF_OPEN, "open timer elapsed")
        return self._state

    def _move(self, new: BreakerState, reason: str) -> None:
        old = self._state
        if old is new:
            return
        self._state = new
        if new is BreakerState.OPEN:
            self._opened_at = self._clock()
        if self._on_transition is not None:
            self._on_transition(old, new, reason)

    def allow(self) -> bool:
        """Whether a call may go to the dependency now (half-open: one probe at a time)."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._probe_in_flight:
            self._probe_in_flight = True
            return True
        return False

    def record_success(self) -> None:
        """A call succeeded."""
        self._failures = 0
        self._probe_in_flight = False
        if self._state is not BreakerState.CLOSED:
            self._move(BreakerState.CLOSED, "probe succeeded")

    def record_failure(self) -> None:
        """A call failed."""
        self._probe_in_flight = False
        if self._state is BreakerState.HALF_OPEN:
            self._move(BreakerState.OPEN, "probe failed")
            return
        self._failures += 1
        if self._state is BreakerState.CLOSED and self._failures >= self.threshold:
            self._move(BreakerState.OPEN, f"{self._failures} consecutive failures")

    def reset(self, reason: str = "reset") -> None:
        """Close the breaker (e.g. the dependency was replaced by a healthy one)."""
        self._failures = 0
        self._probe_in_flight = False
        self._move(BreakerState.CLOSED, reason)
