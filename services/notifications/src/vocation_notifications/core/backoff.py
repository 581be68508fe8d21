"""When to try again after a transient delivery failure: exponential backoff, or the provider's Retry-After."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter, capped, honouring a provider's Retry-After."""

    initial_s: float = 5.0
    max_s: float = 3600.0
    max_attempts: int = 8

    def delay(
        self, attempt: int, retry_after_s: float | None = None, rand: Callable[[], float] | None = None
    ) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based).

        A Retry-After from the provider wins when it asks for longer (capped at `max_s`).
        """
        base = min(self.max_s, self.initial_s * (2 ** max(0, attempt - 1)))
        jitter = 0.5 + (rand() if rand is not None else 0.5) / 2
        delay = base * jitter
        if retry_after_s is not None:
            delay = max(delay, min(self.max_s, retry_after_s))
        return float(delay)

    def exhausted(self, attempts: int) -> bool:
        """Whether `attempts` attempts used up the budget (the failure becomes permanent)."""
        return attempts >= self.max_attempts
