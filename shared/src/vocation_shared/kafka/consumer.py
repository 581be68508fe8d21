"""Consuming events at least once: parse, dead-letter the bad, retry the transient, commit after."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

import asyncpg
from aiokafka import ConsumerRecord
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, NotEnoughReplicasError
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.middlewares import AckPolicy

from vocation_shared.backoff import Backoff
from vocation_shared.contracts.codec import InvalidEvent, parse_event
from vocation_shared.contracts.events import AnyEvent
from vocation_shared.contracts.producers import forged_reason
from vocation_shared.kafka.dead_letters import DeadLetterPublisher, DeadLetterReason
from vocation_shared.kafka.headers import CE_TYPE
from vocation_shared.logs import bound_contextvars, get_logger

EventHandler = Callable[[AnyEvent], Awaitable[None]]
BatchHandler = Callable[[list[AnyEvent]], Awaitable[None]]
TombstoneHandler = Callable[[str], Awaitable[None]]

log = get_logger(__name__)


class TransientError(Exception):
    """A failure that goes away by itself (a dependency down): retry with backoff, never dead-letter."""


class PermanentError(Exception):
    """A well-formed event the domain can never apply: dead-letter it at once with this reason."""


TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    TransientError,
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    asyncpg.InterfaceError,
    KafkaConnectionError,
    KafkaTimeoutError,
    NotEnoughReplicasError,
)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a consumer retries: exponential backoff with jitter (`vocation_shared.backoff`).

    Transient errors are retried for at most `transient_budget_s`; then the batch is handed
    back to Kafka (seek to its first record) so the consumer keeps polling and stays in its
    group, and it is processed again: nothing is skipped. Unexpected errors get
    `max_attempts` tries, then go to the dead-letter topic.
    """

    initial_s: float = 0.2
    max_s: float = 30.0
    max_attempts: int = 3
    transient_budget_s: float = 120.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt number `attempt + 1` (the platform's `Backoff`)."""
        return Backoff(self.initial_s, self.max_s, self.max_attempts).delay(attempt)


@dataclass(frozen=True, slots=True)
class Subscription:
    """What one consumer group does with one topic."""

    topic: str
    group_id: str
    handle: EventHandler
    accepts: frozenset[str] | None
    on_tombstone: TombstoneHandler | None


class EventConsumer:
    """Registers subscribers on a FastStream broker that handle CloudEvents safely.

    For each record, in order: a tombstone goes to `on_tombstone`; bytes that are not a
    valid event of a known type go to the dead-letter topic; types the subscriber does
    not accept are skipped; an accepted event whose source may not publish it (a match not
    from matching, a partner fact under a service's source: `forged_reason`) goes to the
    dead-letter topic as `forged-source`; the rest go to the handler, with retries. Offsets are
    committed only after every record of a fetched batch is done (AckPolicy.NACK_ON_ERROR:
    an escaping error rewinds to the batch's first record instead).
    """

    def __init__(
        self,
        broker: KafkaBroker,
        dead_letters: DeadLetterPublisher,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self._broker = broker
        self._dead_letters = dead_letters
        self._retry = retry or RetryPolicy()
        self._sleep = sleep

    def subscribe(
        self,
        topic: str,
        *,
        group_id: str,
        handle: EventHandler,
        accepts: Iterable[str] | None = None,
        on_tombstone: TombstoneHandler | None = None,
        max_records: int = 200,
        from_beginning: bool = True,
    ) -> None:
        """Consume `topic` in group `group_id`, calling `handle` for each accepted event."""
        subscription = Subscription(
            topic,
            group_id,
            handle,
            frozenset(accepts) if accepts is not None else None,
            on_tombstone,
        )

        async def on_batch(message: KafkaMessage) -> None:
            raw = message.raw_message
            records = raw if isinstance(raw, tuple) else (raw,)
            await self.process_batch(records, subscription)

        self._broker.subscriber(
            topic,
            group_id=group_id,
            batch=True,
            max_records=max_records,
            batch_timeout_ms=50,
            auto_offset_reset="earliest" if from_beginning else "latest",
            ack_policy=AckPolicy.NACK_ON_ERROR,
            decoder=_raw_body,
            title=f"{group_id}:{topic}",
        )(on_batch)

    def subscribe_batch(
        self,
        topic: str,
        *,
        group_id: str,
        handle_batch: BatchHandler,
        accepts: Iterable[str] | None = None,
        max_records: int = 500,
        from_beginning: bool = True,
        on_tombstone: TombstoneHandler | None = None,
    ) -> None:
        """Consume `topic` handing every fetched batch of valid events to `handle_batch` at once.

        For throughput: the handler applies the whole batch in one transaction. If the batch
        keeps failing with an unexpected error, its events are retried one by one so that only
        the faulty one is dead-lettered. With `on_tombstone`, each tombstone is handed over in
        its place in the order: the events before it are applied first, then `on_tombstone(key)`
        (with the consumer's retries), then the events after it.
        """
        accepted = frozenset(accepts) if accepts is not None else None

        async def on_batch(message: KafkaMessage) -> None:
            raw = message.raw_message
            records = raw if isinstance(raw, tuple) else (raw,)
            await self.process_fetched_batch(records, topic, group_id, handle_batch, accepted, on_tombstone)

        self._broker.subscriber(
            topic,
            group_id=group_id,
            batch=True,
            max_records=max_records,
            batch_timeout_ms=50,
            auto_offset_reset="earliest" if from_beginning else "latest",
            ack_policy=AckPolicy.NACK_ON_ERROR,
            decoder=_raw_body,
            title=f"{group_id}:{topic}",
        )(on_batch)

    async def process_fetched_batch(
        self,
        records: Iterable[ConsumerRecord[bytes, bytes]],
        topic: str,
        group_id: str,
        handle_batch: BatchHandler,
        accepts: frozenset[str] | None,
        on_tombstone: TombstoneHandler | None,
    ) -> None:
        """One fetched batch: the runs of events between tombstones in bulk, the tombstones between."""
        if on_tombstone is None:
            await self.process_records_in_bulk(records, topic, group_id, handle_batch, accepts)
            return
        run: list[ConsumerRecord[bytes, bytes]] = []
        for record in records:
            if record.value is not None:
                run.append(record)
                continue
            if run:
                await self.process_records_in_bulk(run, topic, group_id, handle_batch, accepts)
                run = []
            if record.key is not None:
                key = record.key.decode("utf-8", errors="replace")
                where = {"topic": record.topic, "partition": record.partition, "offset": record.offset}
                await self._with_retries(partial(on_tombstone, key), record, where)
        if run:
            await self.process_records_in_bulk(run, topic, group_id, handle_batch, accepts)

    async def process_records_in_bulk(
        self,
        records: Iterable[ConsumerRecord[bytes, bytes]],
        topic: str,
        group_id: str,
        handle_batch: BatchHandler,
        accepts: frozenset[str] | None,
        chunk_size: int = 250,
    ) -> None:
        """Dead-letter the invalid records and apply the valid ones in chunks, in order.

        Validating chunk k+1 overlaps with the database applying chunk k: the store of a
        chunk is started, then the next chunk is parsed while the database works, then
        the store is awaited before the next one starts, so the order is kept.
        """
        in_flight: asyncio.Task[None] | None = None
        chunk: list[tuple[ConsumerRecord[bytes, bytes], AnyEvent]] = []
        for record in records:
            if record.value is None:
                continue
            event = await self._parse_or_dead_letter(record)
            if event is None or (accepts is not None and event.type not in accepts):
                continue
            if await self._forged(record, event):
                continue
            chunk.append((record, event))
            if len(chunk) >= chunk_size:
                if in_flight is not None:
                    await in_flight
                in_flight = asyncio.create_task(self._apply_chunk(chunk, topic, handle_batch))
                await asyncio.sleep(0)  # let the store send its first query before parsing on
                chunk = []
        if in_flight is not None:
            await in_flight
        if chunk:
            await self._apply_chunk(chunk, topic, handle_batch)

    async def _apply_chunk(
        self,
        valid: list[tuple[ConsumerRecord[bytes, bytes], AnyEvent]],
        topic: str,
        handle_batch: BatchHandler,
    ) -> None:
        events = [event for _, event in valid]
        try:
            await self._with_retries(
                partial(handle_batch, events),
                valid[0][0],
                {"topic": topic, "batch": len(events)},
                escalate=True,
            )
            return
        except _BatchFailed:
            log.warning("batch.failed_falling_back_to_single_events", topic=topic, size=len(events))
        for record, event in valid:
            with bound_contextvars(event_id=event.id, event_type=event.type):
                await self._with_retries(partial(handle_batch, [event]), record, _where(record))

    async def _parse_or_dead_letter(self, record: ConsumerRecord[bytes, bytes]) -> AnyEvent | None:
        assert record.value is not None
        try:
            event = parse_event(record.value, _type_header(record))
        except InvalidEvent as exc:
            log.warning("event.dead_lettered", reason=exc.kind, error=str(exc), **_where(record))
            await self._dead_letters.send(record, DeadLetterReason(exc.kind), str(exc))
            return None
        if record.topic != event.TOPIC:
            message = f"event type {event.type} belongs on topic {event.TOPIC}, not {record.topic}"
            log.warning("event.dead_lettered", reason="wrong-topic", event_id=event.id, **_where(record))
            await self._dead_letters.send(record, DeadLetterReason.WRONG_TOPIC, message)
            return None
        return event

    async def _forged(self, record: ConsumerRecord[bytes, bytes], event: AnyEvent) -> bool:
        """Dead-letter `event` if its source may not publish its type; whether it was."""
        reason = forged_reason(event.type, event.source, event.data)
        if reason is None:
            return False
        log.warning(
            "event.dead_lettered",
            reason=str(DeadLetterReason.FORGED_SOURCE),
            event_id=event.id,
            event_type=event.type,
            **_where(record),
        )
        await self._dead_letters.send(record, DeadLetterReason.FORGED_SOURCE, reason)
        return True

    async def process_batch(
        self, records: Iterable[ConsumerRecord[bytes, bytes]], subscription: Subscription
    ) -> None:
        """Process records in order; returns when each is applied, skipped or dead-lettered."""
        for record in records:
            await self.process_record(record, subscription)

    async def process_record(self, record: ConsumerRecord[bytes, bytes], subscription: Subscription) -> None:
        """Process one record (see the class docstring)."""
        where = _where(record)
        if record.value is None:
            if subscription.on_tombstone is not None and record.key is not None:
                key = record.key.decode("utf-8", errors="replace")
                await self._with_retries(lambda: subscription.on_tombstone(key), record, where)  # type: ignore[misc]
            return
        event = await self._parse_or_dead_letter(record)
        if event is None:
            return
        if subscription.accepts is not None and event.type not in subscription.accepts:
            return
        if await self._forged(record, event):
            return
        with bound_contextvars(event_id=event.id, event_type=event.type):
            await self._with_retries(lambda: subscription.handle(event), record, where)

    async def _with_retries(
        self,
        attempt_once: Callable[[], Awaitable[None]],
        record: ConsumerRecord[bytes, bytes],
        where: dict[str, Any],
        escalate: bool = False,
    ) -> None:
        attempt = 0
        failures = 0
        started = time.monotonic()
        while True:
            attempt += 1
            try:
                await attempt_once()
                return
            except PermanentError as exc:
                if escalate:
                    raise _BatchFailed from exc
                log.warning("event.rejected", error=str(exc), **where)
                await self._dead_letters.send(record, DeadLetterReason.REJECTED, str(exc), attempt)
                return
            except TRANSIENT_ERRORS as exc:
                if time.monotonic() - started > self._retry.transient_budget_s:
                    log.error("event.transient_budget_spent", error=repr(exc), attempts=attempt, **where)
                    raise
                delay = self._retry.delay(attempt)
                log.warning(
                    "event.retrying",
                    error=repr(exc),
                    attempt=attempt,
                    delay_s=round(delay, 3),
                    **where,
                )
                await self._sleep(delay)
            except Exception as exc:
                failures += 1
                if failures >= self._retry.max_attempts and escalate:
                    raise _BatchFailed from exc
                if failures >= self._retry.max_attempts:
                    log.exception("event.processing_failed", attempts=attempt, **where)
                    await self._dead_letters.send(
                        record,
                        DeadLetterReason.PROCESSING_FAILED,
                        f"{type(exc).__name__}: {exc}",
                        attempt,
                    )
                    return
                delay = self._retry.delay(attempt)
                log.warning(
                    "event.retrying",
                    error=repr(exc),
                    attempt=attempt,
                    delay_s=round(delay, 3),
                    **where,
                )
                await self._sleep(delay)


class _BatchFailed(Exception):
    """A batch failed for a reason that is not transient: retry its events one by one."""


def _type_header(record: ConsumerRecord[bytes, bytes]) -> str | None:
    for name, value in record.headers or ():
        if name == CE_TYPE:
            return bytes(value).decode("utf-8", errors="replace")
    return None


def _where(record: ConsumerRecord[bytes, bytes]) -> dict[str, Any]:
    return {"topic": record.topic, "partition": record.partition, "offset": record.offset}


def _raw_body(message: Any) -> Any:
    """Keep bodies as bytes: parsing is ours, so a malformed body reaches us instead of failing earlier."""
    return message.body
