"""Sending many records at once and waiting for every acknowledgement together (acks=all)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from vocation_shared.contracts.events import AnyEvent
from vocation_shared.contracts.topics import record_key
from vocation_shared.kafka.batches import OutgoingRecord, send_in_batches
from vocation_shared.kafka.producer import make_producer
from vocation_shared.kafka.publisher import event_headers


def tombstone(topic: str, key: str) -> OutgoingRecord:
    """A tombstone of `key`: compaction removes every earlier record of the key."""
    return topic, key.encode(), None, []


def encode(event: AnyEvent) -> OutgoingRecord:
    """An event as written by `EventPublisher`: structured-mode JSON, key = subject (`record_key`), CloudEvents headers."""
    return (
        str(event.TOPIC),
        record_key(str(event.TOPIC), event.subject, event.data).encode(),
        event.to_json_bytes(),
        event_headers(event),
    )


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

    async def publish(self, records: Iterable[OutgoingRecord]) -> None:
        """Write the records; returns once all are acknowledged, raises the first failure."""
        batches = await send_in_batches(self._producer, records)
        outcomes = await asyncio.gather(*batches, return_exceptions=True)  # every batch settled, then judged
        failure = next((o for o in outcomes if isinstance(o, BaseException)), None)
        if failure is not None:
            raise failure
