"""The observatory's figures: PostgreSQL aggregates of the read models, and the cache in front of them.

The observatory is served without a key and each answer costs a few full scans of the read
models. `CachedObservatory` keeps each normalised query's figures for a minute (bounded LRU),
computes a query once however many ask for it at the same time, runs at most two computations at
once and refuses (`ObservatoryBusy`, HTTP 503) past a few waiting; `PostgresObservatory` bounds
each statement's time.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from vocation_shared.logs import get_logger

from vocation_catalogue.core.observatory import NeedCounts, ObservatoryQuery
from vocation_catalogue.ports import Observatory

log = get_logger(__name__)

STATEMENT_TIMEOUT_MS = 10_000
"""Longest time one aggregate may take; past it the answer is a 503 (the database is struggling)."""
CACHE_SECONDS = 60.0
"""How long an answer is served again without asking the database: the figures move by the day."""
CACHE_ENTRIES = 256
"""Normalised queries kept (least recently used dropped first); each holds a few hundred rows at most."""
MAX_CONCURRENT = 2
"""Computations running at once: the rest of the pool stays for the search and the consumers."""
MAX_WAITING = 8
"""Computations started or waiting past which a new query is refused (503, retry later)."""
RETRY_AFTER_S = 5


def _where(departement: int, metiers: int) -> str:
    """The query's filters, on the département and métiers given as parameters $departement, $metiers."""
    return (
        f"(${departement}::text IS NULL OR departement = ${departement}) "
        f"AND (cardinality(${metiers}::text[]) = 0 OR rome_code = ANY(${metiers}))"
    )


# $1 now, $2 start of the window, $3 département or NULL, $4 métiers (empty: all).

_VACANCIES = f"""
SELECT departement, rome_code,
       count(*) FILTER (WHERE status = 'open') AS open_vacancies,
       coalesce(sum(greatest(coalesce((data->>'posts')::int, 1) - coalesce((data->>'posts_filled')::int, 0), 0))
                FILTER (WHERE status = 'open'), 0) AS open_posts,
       count(*) FILTER (WHERE status = 'open' AND coalesce((data->>'urgent')::boolean, false)) AS urgent_open,
       count(*) FILTER (WHERE posted_at >= $2) AS posted_in_window,
       count(*) FILTER (WHERE status = 'filled' AND updated_at >= $2) AS filled_in_window,
       count(*) FILTER (WHERE status = 'closed' AND updated_at >= $2) AS closed_unfilled_in_window,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM $1 - posted_at) / 86400)
           FILTER (WHERE status = 'open') AS median_days_open,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM updated_at - posted_at) / 86400)
           FILTER (WHERE status = 'filled' AND updated_at >= $2) AS median_days_to_fill
FROM vacancies
WHERE {_where(3, 4)} AND (status = 'open' OR updated_at >= $2 OR posted_at >= $2)
GROUP BY departement, rome_code
"""

# $1 département or NULL, $2 métiers (empty: all), $3 today.
_IMMERSIONS = f"""
SELECT departement, rome_code,
       sum(capacity) AS immersion_places,
       sum(capacity - places_left) AS immersion_places_taken
FROM immersion_slots
WHERE {_where(1, 2)} AND status = 'open' AND end_date >= $3
GROUP BY departement, rome_code
"""

_TRAININGS = f"""
SELECT departement, rome_code, sum(places_left) AS training_places_left
FROM trainings
WHERE {_where(1, 2)} AND status = 'open' AND coalesce(application_deadline, start_date) >= $3
GROUP BY departement, rome_code
"""


# $1 département or NULL, $2 métiers (empty: all).
_CANDIDATES = f"""
SELECT departement, rome_code, count(*) AS candidates
FROM (SELECT departement, unnest(rome_codes) AS rome_code FROM candidate_supply
      WHERE $1::text IS NULL OR departement = $1) AS wanted
WHERE {_where(1, 2)}
GROUP BY departement, rome_code
"""


def _utcnow() -> datetime:
    return datetime.now(UTC)


class PostgresObservatory:
    """Reads the needs from the catalogue's read models (a few full scans: an operator's report)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        timezone: str = "Europe/Paris",
        clock: Callable[[], datetime] = _utcnow,
        statement_timeout_ms: int = STATEMENT_TIMEOUT_MS,
    ) -> None:
        self._pool = pool
        self._tz = ZoneInfo(timezone)
        self._clock = clock
        self._statement_timeout_ms = statement_timeout_ms

    async def needs(self, query: ObservatoryQuery) -> tuple[list[NeedCounts], datetime]:
        """Each catalogue's figures per département and métier, and the moment they describe."""
        now = self._clock()
        metiers = list(query.metiers)
        today = now.astimezone(self._tz).date()
        statements: list[tuple[str, list[Any]]] = [
            (_VACANCIES, [now, now - timedelta(days=query.window_days), query.departement, metiers]),
            (_IMMERSIONS, [query.departement, metiers, today]),
            (_TRAININGS, [query.departement, metiers, today]),
            (_CANDIDATES, [query.departement, metiers]),
        ]
        parts: list[NeedCounts] = []
        try:
            async with (
                self._pool.acquire() as conn,
                conn.transaction(isolation="repeatable_read", readonly=True),
            ):
                await conn.execute(f"SET LOCAL statement_timeout = {int(self._statement_timeout_ms)}")
                for statement, args in statements:  # one snapshot for all
                    for record in await conn.fetch(statement, *args):
                        parts.append(NeedCounts(**{k: v for k, v in record.items() if v is not None}))
        except asyncpg.QueryCanceledError as exc:
            raise TimeoutError(f"an observatory aggregate took over {self._statement_timeout_ms} ms") from exc
        return parts, now


class ObservatoryBusy(Exception):
    """Too many observatory computations are running or waiting: retry after `retry_after_s`."""

    def __init__(self, retry_after_s: int = RETRY_AFTER_S) -> None:
        super().__init__("the observatory is busy, retry later")
        self.retry_after_s = retry_after_s


CacheKey = tuple[str | None, tuple[str, ...], int]


def cache_key(query: ObservatoryQuery) -> CacheKey:
    """What the figures depend on: the département, the set of métiers kept, the window."""
    return (query.departement, tuple(sorted(set(query.metiers))), query.window_days)


@dataclass(frozen=True, slots=True)
class _Answer:
    parts: tuple[NeedCounts, ...]
    as_of: datetime
    kept_at: float


class CachedObservatory:
    """An observatory in front of another: each normalised query computed once a minute at most.

    Identical queries arriving together share one computation; at most `max_concurrent` run at
    once; past `max_waiting` started or waiting, a new query raises `ObservatoryBusy`. A failed
    computation is not kept (the next request tries again) and reaches every waiting request.
    """

    def __init__(
        self,
        inner: Observatory,
        *,
        ttl_s: float = CACHE_SECONDS,
        max_entries: int = CACHE_ENTRIES,
        max_concurrent: int = MAX_CONCURRENT,
        max_waiting: int = MAX_WAITING,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_s < 0 or max_entries < 1 or max_concurrent < 1 or max_waiting < max_concurrent:
            raise ValueError("the observatory cache needs ttl ≥ 0, entries ≥ 1, 1 ≤ concurrent ≤ waiting")
        self._inner = inner
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._max_waiting = max_waiting
        self._monotonic = monotonic
        self._slots = asyncio.Semaphore(max_concurrent)
        self._answers: OrderedDict[CacheKey, _Answer] = OrderedDict()
        self._pending: dict[CacheKey, asyncio.Task[_Answer]] = {}

    @property
    def inner(self) -> Observatory:
        """The observatory computing the figures."""
        return self._inner

    def __len__(self) -> int:
        return len(self._answers)

    async def needs(self, query: ObservatoryQuery) -> tuple[list[NeedCounts], datetime]:
        """The figures of the query: kept ones if younger than the TTL, else computed (once)."""
        key = cache_key(query)
        kept = self._answers.get(key)
        if kept is not None:
            if self._monotonic() - kept.kept_at <= self._ttl_s:
                self._answers.move_to_end(key)
                return list(kept.parts), kept.as_of
            del self._answers[key]
        task = self._pending.get(key)
        if task is None:
            if len(self._pending) >= self._max_waiting:
                raise ObservatoryBusy()
            task = asyncio.create_task(self._compute(key, query), name="observatory")
            self._pending[key] = task
            task.add_done_callback(lambda done: self._settled(key, done))
        # Shielded: a client going away does not cancel what others (or the cache) wait for.
        answer = await asyncio.shield(task)
        return list(answer.parts), answer.as_of

    async def _compute(self, key: CacheKey, query: ObservatoryQuery) -> _Answer:
        async with self._slots:
            parts, as_of = await self._inner.needs(query)
        answer = _Answer(tuple(parts), as_of, self._monotonic())
        self._answers[key] = answer
        self._answers.move_to_end(key)
        while len(self._answers) > self._max_entries:
            self._answers.popitem(last=False)
        return answer

    def _settled(self, key: CacheKey, task: asyncio.Task[_Answer]) -> None:
        if self._pending.get(key) is task:
            del self._pending[key]
        if not task.cancelled() and task.exception() is not None:
            # Raised to every request waiting for it; logged here in case all of them went away.
            log.warning("observatory.failed", error=repr(task.exception()))
