"""Archiving: every valid event of every entity topic into PostgreSQL, a batch at a time.

Invalid records go to the dead letters (the shared consumer's rules, with the reason), so the
archive holds events only. Names, emails, phones and free texts about a person are sealed before
they are stored (`core/archive_sealing.py`); each row names the candidate it is about, for erasure.
A tombstone deletes its subject's archived events on its topic (on a topic with composite keys,
the events of its record: one application, one immersion request).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from vocation_shared.contracts.codec import InvalidEvent, parse_event
from vocation_shared.logs import get_logger

from vocation_events.core.archive_sealing import ArchiveSeal
from vocation_events.core.archiving import archived_json, candidate_of, tombstoned
from vocation_events.ports import ArchiveRow, DeadLetters, Metrics, RawRecord, Unavailable, UnitsOfWork

log = get_logger(__name__)


class Archive:
    """Stores the records of a fetched batch in order: rows in bulk, tombstones applied between.

    A database that cannot be reached is retried with `delay(attempt)` for `budget_s`, then the
    error goes up: the batch is not committed and Kafka hands it over again.
    """

    def __init__(
        self,
        units: UnitsOfWork,
        dead_letters: DeadLetters,
        metrics: Metrics,
        seal: ArchiveSeal,
        *,
        delay: Callable[[int], float],
        budget_s: float,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self._units = units
        self._dead_letters = dead_letters
        self._metrics = metrics
        self._seal = seal
        self._delay = delay
        self._budget_s = budget_s
        self._sleep = sleep

    async def process(self, records: Iterable[RawRecord]) -> None:
        """Archive a fetched batch (the consumer commits its offsets once this returns)."""
        rows: list[ArchiveRow] = []
        for record in records:
            if record.value is None:
                await self._flush(rows)
                rows = []
                if record.key is not None:
                    subject, of_record = tombstoned(
                        record.topic, record.key.decode("utf-8", errors="replace")
                    )
                    await self._retrying(functools.partial(self._forget, record.topic, subject, of_record))
                continue
            try:
                event = parse_event(record.value)
            except InvalidEvent:
                await self._dead_letters.reject(record)
                continue
            if record.topic != event.TOPIC:
                await self._dead_letters.reject(record)
                continue
            rows.append(
                (
                    record.topic,
                    record.partition,
                    record.offset,
                    event.source,
                    event.id,
                    event.type,
                    event.subject,
                    event.time,
                    archived_json(self._seal, event.type, record.value),
                    candidate_of(record.topic, event.subject, event.data),
                )
            )
        await self._flush(rows)

    async def _forget(self, topic: str, subject: str, of_record: tuple[str, str] | None) -> None:
        async with self._units() as uow:
            await uow.archive.forget(topic, subject, of_record)

    async def _store(self, rows: list[ArchiveRow]) -> None:
        async with self._units() as uow:
            await uow.archive.store(rows)

    async def _flush(self, rows: list[ArchiveRow]) -> None:
        if not rows:
            return
        await self._retrying(functools.partial(self._store, rows))
        for topic in {r[0] for r in rows}:
            self._metrics.archived(topic, sum(1 for r in rows if r[0] == topic))

    async def _retrying(self, attempt_once: Callable[[], Awaitable[None]]) -> None:
        attempt = 0
        started = asyncio.get_running_loop().time()
        while True:
            attempt += 1
            try:
                await attempt_once()
                return
            except Unavailable as exc:
                if asyncio.get_running_loop().time() - started > self._budget_s:
                    raise
                delay = self._delay(attempt)
                log.warning("archive.retrying", error=str(exc), attempt=attempt, delay_s=round(delay, 3))
                await self._sleep(delay)
