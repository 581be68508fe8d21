"""The archive consumer: every valid event of every entity topic into PostgreSQL, a batch at a time.

Invalid records are left to the shared consumer's rules (dead-lettered with the reason), so the
archive holds events only; the dead-letter topics keep the rest for a year (`vocation dlq list`).
Names, emails, phones and free texts about a person are sealed before they are stored
(`core/archive_sealing.py`); each row names the candidate it is about, for erasure.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import orjson
from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker
from vocation_shared.contracts.codec import InvalidEvent, parse_event
from vocation_shared.contracts.topics import ENTITY_TOPICS
from vocation_shared.kafka import EventConsumer, RetryPolicy
from vocation_shared.kafka.consumer import TRANSIENT_ERRORS, Subscription
from vocation_shared.logs import get_logger

from vocation_events.adapters.archive_store import ArchiveRow, PostgresArchive, candidate_of
from vocation_events.adapters.raw_batches import subscribe_raw_batches
from vocation_events.core.archive_sealing import ArchiveSeal
from vocation_events.metrics import GatewayMetrics

log = get_logger(__name__)


async def _ignore(_: Any) -> None:
    return None


class Archiver:
    """Stores records of the entity topics; a tombstone deletes the subject's archived events there."""

    def __init__(
        self,
        archive: PostgresArchive,
        consumer: EventConsumer,
        metrics: GatewayMetrics,
        group_id: str,
        seal: ArchiveSeal,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self._archive = archive
        self._seal = seal
        self._consumer = consumer
        self._metrics = metrics
        self._group_id = group_id
        self._retry = retry or RetryPolicy()
        self._sleep = sleep

    def subscribe(self, broker: KafkaBroker, topics: Iterable[str] | None = None) -> None:
        """One batch subscriber on every entity topic, committing after the batch is stored."""
        names = list(topics) if topics is not None else [str(t.name) for t in ENTITY_TOPICS]

        subscribe_raw_batches(
            broker,
            names,
            group_id=self._group_id,
            handle=self.process,
            title=f"{self._group_id}:archive",
            offset_reset="earliest",
        )

    async def process(self, records: Iterable[ConsumerRecord[bytes, bytes]]) -> None:
        """Archive a fetched batch in order: rows are stored in bulk, tombstones applied between."""
        rows: list[ArchiveRow] = []
        for record in records:
            if record.value is None:
                await self._flush(rows)
                rows = []
                if record.key is not None:
                    subject = record.key.decode("utf-8", errors="replace")
                    await self._retrying(functools.partial(self._archive.forget, record.topic, subject))
                continue
            try:
                event = parse_event(record.value)
            except InvalidEvent:
                # The shared rules dead-letter it (with the reason) and log it.
                await self._consumer.process_record(
                    record, Subscription(record.topic, self._group_id, _ignore, frozenset(), None)
                )
                continue
            if record.topic != event.TOPIC:
                await self._consumer.process_record(
                    record, Subscription(record.topic, self._group_id, _ignore, frozenset(), None)
                )
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
                    _jsonb_safe(self._stored_json(event.type, record.value)),
                    candidate_of(record.topic, event.subject, event.data),
                )
            )
        await self._flush(rows)

    def _stored_json(self, event_type: str, value: bytes) -> str:
        """The record's JSON as archived: unchanged, or with its personal fields sealed."""
        if not (self._seal.enabled and self._seal.concerns(event_type)):
            return value.decode()
        document = orjson.loads(value)
        self._seal.seal(document)
        return orjson.dumps(document).decode()

    async def _flush(self, rows: list[ArchiveRow]) -> None:
        if not rows:
            return
        await self._retrying(functools.partial(self._archive.store, rows))
        for topic in {r[0] for r in rows}:
            self._metrics.archived.labels(topic).inc(sum(1 for r in rows if r[0] == topic))

    async def _retrying(self, attempt_once: Callable[[], Awaitable[int]]) -> None:
        """Retry transient failures with backoff for a while, then hand the batch back to Kafka."""
        attempt = 0
        started = asyncio.get_running_loop().time()
        while True:
            attempt += 1
            try:
                await attempt_once()
                return
            except TRANSIENT_ERRORS as exc:
                if asyncio.get_running_loop().time() - started > self._retry.transient_budget_s:
                    raise
                delay = self._retry.delay(attempt)
                log.warning("archive.retrying", error=repr(exc), attempt=attempt, delay_s=round(delay, 3))
                await self._sleep(delay)


def _jsonb_safe(text: str) -> str:
    """PostgreSQL's jsonb refuses the NUL character, which JSON allows: store U+FFFD instead."""
    return text.replace("\\u0000", "\\ufffd") if "\\u0000" in text else text
