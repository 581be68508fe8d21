"""The cache in front of the observatory's figures (`adapters/postgres/observatory.py` computes them).

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
from datetime import datetime

from vocation_shared.logs import get_logger

from vocation_catalogue.core.observatory import NeedCounts, ObservatoryQuery
from vocation_catalogue.ports import Observatory

log = get_logger(__name__)

CACHE_SECONDS = 60.0
"""How long an answer is served again without asking the database: the figures move by the day."""
CACHE_ENTRIES = 256
"""Normalised queries kept (least recently used dropped first); each holds a few hundred rows at most."""
MAX_CONCURRENT = 2
"""Computations running at once: the rest of the pool stays for the search and the consumers."""
MAX_WAITING = 8
"""Computations started or waiting past which a new query is refused (503, retry later)."""
RETRY_AFTER_S = 5


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
