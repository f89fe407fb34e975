"""A token bucket: the per-socket frame budget."""

from __future__ import annotations

import time
from typing import Protocol


class Rate(Protocol):
    """A token-bucket budget (DEDWEN_WS_RATE): up to `burst` frames at once, refilled at `per_second`."""

    burst: int
    per_second: float


class TokenBucket:
    """Allow `burst` frames at once, refilled continuously at `per_second`."""

    __slots__ = ("_burst", "_per_second", "_tokens", "_updated", "_clock")

    def __init__(self, rate: Rate, *, clock=time.monotonic) -> None:
        self._burst = float(rate.burst)
        self._per_second = rate.per_second
        self._tokens = float(rate.burst)
        self._clock = clock
        self._updated = clock()

    def take(self) -> bool:
        """Spend one token; return False when the budget is exhausted."""
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._per_second)
        self._updated = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True
