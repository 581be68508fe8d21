"""Partners' token buckets: in PostgreSQL, shared by every gateway process and instance; in memory for tests.

A partner's rate is the partner's, whatever the number of pre-forked workers (`HTTP_WORKERS`) or
instances behind the load balancer: each request charges the one bucket row of its partner in one
atomic statement (the row lock orders concurrent requests). The bucket refills from PostgreSQL's
clock, so every process sees the same time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg

from vocation_events.adapters.postgres import DB_UNAVAILABLE
from vocation_events.core.ratelimit import RateDefaults, RateLimiter
from vocation_events.ports import Unavailable

_TAKE = """
WITH clock AS (SELECT clock_timestamp() AS now)
INSERT INTO rate_buckets AS b (partner, tokens, updated_at)
SELECT $1::text, $3::float8 - $4::float8, clock.now FROM clock WHERE $4::float8 <= $3::float8
ON CONFLICT (partner) DO UPDATE
SET tokens = least($3::float8, b.tokens + $2::float8 * extract(epoch FROM excluded.updated_at - b.updated_at)::float8)
             - $4::float8,
    updated_at = excluded.updated_at
WHERE least($3::float8, b.tokens + $2::float8 * extract(epoch FROM excluded.updated_at - b.updated_at)::float8)
      >= $4::float8
RETURNING tokens
"""
"""Charge `$4` events at `$2` per second with a capacity of `$3`; a row back means granted."""

_AVAILABLE = """
SELECT least($3::float8, tokens + $2::float8 * extract(epoch FROM clock_timestamp() - updated_at)::float8)
FROM rate_buckets WHERE partner = $1::text
"""

_REFUSED_FLOOR_S = 0.001
"""A refused request waits at least this (the bucket may have refilled between two statements)."""


class PostgresRateLimits:
    """`RateLimits` on the `rate_buckets` table."""

    def __init__(self, pool: asyncpg.Pool, defaults: RateDefaults) -> None:
        self._pool = pool
        self._defaults = defaults

    async def take(self, partner: str, rate: float | None, burst: float | None, cost: int) -> float:
        """Charge `cost` events to `partner`; 0.0 if allowed, else seconds to wait."""
        per_s, capacity = self._defaults.limits(rate, burst)
        granted = await self._fetchval(_TAKE, partner, per_s, capacity, float(cost))
        if granted is not None:
            return 0.0
        available = await self.available(partner, rate, burst)
        return max((min(float(cost), capacity) - available) / per_s, _REFUSED_FLOOR_S)

    async def available(self, partner: str, rate: float | None, burst: float | None) -> float:
        """How many events `partner` could send now (nothing is charged)."""
        per_s, capacity = self._defaults.limits(rate, burst)
        found = await self._fetchval(_AVAILABLE, partner, per_s, capacity)
        return capacity if found is None else float(found)

    async def _fetchval(self, query: str, *args: object) -> Any:
        try:
            return await self._pool.fetchval(query, *args)
        except DB_UNAVAILABLE as exc:  # not an SQL error: that is a bug, and stays one
            raise Unavailable(f"PostgreSQL unreachable: {type(exc).__name__}") from exc


class InMemoryRateLimits:
    """`RateLimits` of one process (the core's buckets and a clock): for tests and fakes."""

    def __init__(self, limiter: RateLimiter, clock: Callable[[], float]) -> None:
        self._limiter = limiter
        self._clock = clock

    async def take(self, partner: str, rate: float | None, burst: float | None, cost: int) -> float:
        """Charge `cost` events to `partner`; 0.0 if allowed, else seconds to wait."""
        return self._limiter.take(partner, rate, burst, cost, self._clock())

    async def available(self, partner: str, rate: float | None, burst: float | None) -> float:
        """How many events `partner` could send now (nothing is charged)."""
        return self._limiter.available(partner, rate, burst, self._clock())
