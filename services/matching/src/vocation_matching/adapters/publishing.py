"""Sending many events at once and waiting for every acknowledgement together (acks=all)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from vocation_shared.contracts.events import AnyEvent
from vocation_shared.contracts.topics import record_key
from vocation_shared.kafka.batches import send_in_batches
from vocation_shared.kafka.producer import make_producer
from vocation_shared.kafka.publisher import event_headers


@dataclass(frozen=True, slots=True)
class EncodedEvent:
    """An event ready for Kafka: its topic, key (the subject), JSON value and headers; value None is a tombstone."""

    topic: str
    key: bytes
    value: bytes | None
    headers: list[tuple[str, bytes]]


def tombstone(topic: str, key: str) -> EncodedEvent:
    """A tombstone of `key`: compaction removes every earlier record of the key."""
    return EncodedEvent(topic, key.encode(), None, [])


def encode(event: AnyEvent) -> EncodedEvent:
    """An event as written by `EventPublisher`: structured-mode JSON, key = subject (`record_key`), CloudEvents headers."""
    return EncodedEvent(
        str(event.TOPIC),
        record_key(str(event.TOPIC), event.subject, event.data).encode(),
        event.to_json_bytes(),
        event_headers(event),
    )


class PublishesMany(Protocol):
    """Writes events and returns once the broker acknowledged every one of them."""

    async def publish_many(self, events: Iterable[AnyEvent]) -> None:
        """Write the events; raise if any was not acknowledged."""
        ...

    async def publish_encoded(self, records: Sequence[EncodedEvent]) -> None:
        """Write events already encoded; raise if any was not acknowledged."""
        ...


class KafkaBatchPublisher:
    """Hands every record to the producer first, then waits for all the acknowledgements.

    Its own aiokafka producer (`make_producer`: the platform's guarantees, acks=all and
    idempotence), with larger batches (`max_batch_size`: the default 16 KB holds ~20 match
    events). Records go in one batch per partition (`send_in_batches`, the default
    partitioner's placement) and every batch's acknowledgement is awaited; the first failure
    is raised. Records with the same key keep their order (idempotent producer).
    """

    def __init__(self, bootstrap: str, *, client_id: str, max_batch_size: int, **kwargs: Any) -> None:
        self._producer = make_producer(
            bootstrap, client_id=client_id, max_batch_size=max_batch_size, **kwargs
        )
        self._started = False

    async def start(self) -> None:
        """Connect."""
        await self._producer.start()
        self._started = True

    async def stop(self) -> None:
        """Send what is pending and disconnect."""
        if self._started:
            self._started = False
            await self._producer.stop()

    async def publish_many(self, events: Iterable[AnyEvent]) -> None:
        """Write the events; returns once all are acknowledged, raises the first failure."""
        await self.publish_encoded([encode(e) for e in events])

    async def publish_encoded(self, records: Sequence[EncodedEvent]) -> None:
        """Write the records; returns once all are acknowledged, raises the first failure."""
        batches = await send_in_batches(
            self._producer, ((r.topic, r.key, r.value, r.headers) for r in records)
        )
        outcomes = await asyncio.gather(*batches, return_exceptions=True)  # every batch settled, then judged
        failure = next((o for o in outcomes if isinstance(o, BaseException)), None)
        if failure is not None:
            raise failure
