"""A token bucket per partner: events per second with a burst, refilled from a monotonic clock."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(slots=True)
class TokenBucket:
    """`rate` tokens per second, at most `capacity`; an event costs one token."""

    rate: float
    capacity: float
    tokens: float
    updated: float

    @classmethod
    def full(cls, rate: float, capacity: float, now: float) -> TokenBucket:
        """A bucket that starts full."""
        return cls(rate, capacity, capacity, now)

    def take(self, cost: float, now: float) -> float:
        """Take `cost` tokens; 0.0 when granted, else the seconds to wait before it would be."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if cost <= self.tokens:
            self.tokens -= cost
            return 0.0
        return (min(cost, self.capacity) - self.tokens) / self.rate

    def available(self, now: float) -> float:
        """The tokens a `take` at `now` could spend (nothing is taken)."""
        return min(self.capacity, self.tokens + (now - self.updated) * self.rate)


def retry_after_seconds(wait_s: float) -> int:
    """The `Retry-After` header value (whole seconds, at least 1) for a wait."""
    return max(1, math.ceil(wait_s))


@dataclass(frozen=True, slots=True)
class RateDefaults:
    """The rate and burst of partners who have none of their own, and the burst's floor."""

    rate: float
    burst: float
    min_burst: float

    def limits(self, rate: float | None, burst: float | None) -> tuple[float, float]:
        """A partner's (rate, capacity): its own or the defaults; the capacity never below the floor
        (a batch the gateway takes must fit in a full bucket)."""
        return rate or self.rate, max(burst or self.burst, self.min_burst)


class RateLimiter:
    """One bucket per partner, in memory: for one process (tests); `PostgresRateLimits` shares them."""

    def __init__(self, default_rate: float, default_burst: float, min_burst: float) -> None:
        self._defaults = RateDefaults(default_rate, default_burst, min_burst)
        self._buckets: dict[str, TokenBucket] = {}

    def take(self, partner: str, rate: float | None, burst: float | None, cost: float, now: float) -> float:
        """Charge `cost` events to `partner`; 0.0 if allowed, else seconds to wait."""
        return self._bucket(partner, rate, burst, now).take(cost, now)

    def available(self, partner: str, rate: float | None, burst: float | None, now: float) -> float:
        """How many events `partner` could send at `now` (nothing is charged)."""
        return self._bucket(partner, rate, burst, now).available(now)

    def _bucket(self, partner: str, rate: float | None, burst: float | None, now: float) -> TokenBucket:
        rate, capacity = self._defaults.limits(rate, burst)
        bucket = self._buckets.get(partner)
        if bucket is None or bucket.rate != rate or bucket.capacity != capacity:
            bucket = TokenBucket.full(rate, capacity, now)
            self._buckets[partner] = bucket
        return bucket
