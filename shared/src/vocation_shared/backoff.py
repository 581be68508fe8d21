"""When to try again after a transient failure: one exponential backoff with jitter for every service."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff, capped, with jitter, honouring a server's Retry-After.

    The delay after the n-th failed attempt is `min(max_s, initial_s × 2^(n-1))` scaled by a
    random factor in [0.5, 1): the clients that failed together (a broker restart, a provider's
    outage) do not come back together. A Retry-After asking for longer wins, capped at `max_s`.
    """

    initial_s: float
    max_s: float
    max_attempts: int

    def delay(
        self,
        attempt: int,
        retry_after_s: float | None = None,
        rand: Callable[[], float] = random.random,
    ) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        base = min(self.max_s, self.initial_s * (2 ** max(0, attempt - 1)))
        delay = base * (0.5 + rand() / 2)
        if retry_after_s is not None:
            delay = max(delay, min(self.max_s, retry_after_s))
        return float(delay)

    def exhausted(self, attempts: int) -> bool:
        """Whether `attempts` attempts used up the budget (the failure becomes permanent)."""
        return attempts >= self.max_attempts
