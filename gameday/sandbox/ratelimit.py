"""Token-bucket rate limiting with a reserve that only high-priority calls may spend."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from enum import IntEnum


class Priority(IntEnum):
    """Request priority: payments are HIGH, balance NORMAL, coupons LOW."""

    LOW = 0
    NORMAL = 1
    HIGH = 2


class TokenBucket:
    """Classic token bucket: ``rate`` tokens per second up to ``capacity``."""

    def __init__(
        self, rate: float, capacity: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._tokens = capacity
        self._last = clock()

    @property
    def tokens(self) -> float:
        """Tokens available now."""
        self._refill()
        return self._tokens

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
        self._last = now

    def try_take(self, floor: float = 0.0) -> bool:
        """Take one token if doing so leaves at least ``floor`` tokens."""
        self._refill()
        if self._tokens - 1.0 >= floor:
            self._tokens -= 1.0
            return True
        return False

    def wait_time(self, floor: float = 0.0) -> float:
        """Seconds until a call with this floor could succeed."""
        self._refill()
        missing = floor + 1.0 - self._tokens
        return max(0.0, missing / self.rate)


class PriorityLimiter:
    """One shared bucket; LOW calls stop at ``reserve`` tokens, NORMAL at half of it.

    Payments (HIGH) can drain the bucket to zero, so under a surge of low-priority
    calls the reserve keeps payment capacity available.
    """

    def __init__(
        self,
        rate: float,
        capacity: float,
        reserve: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bucket = TokenBucket(rate, capacity, clock)
        self.reserve = min(reserve, capacity - 1.0)

    def _floor(self, priority: Priority) -> float:
        if priority is Priority.HIGH:
            return 0.0
        if priority is Priority.NORMAL:
            return self.reserve / 2.0
        return self.reserve

    def try_acquire(self, priority: Priority) -> bool:
        """Admit one call of this priority, or refuse it."""
        return self.bucket.try_take(self._floor(priority))

    def retry_after(self, priority: Priority) -> int:
        """Whole seconds to put in a ``Retry-After`` header (at least 1)."""
        return max(1, math.ceil(self.bucket.wait_time(self._floor(priority))))
