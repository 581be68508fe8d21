"""Dead letters: what a consumer could not process goes to `<topic>.dlq`, with the reason in headers."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker

from vocation_shared.contracts.topics import DLQ_SUFFIX
from vocation_shared.kafka import headers as h
from vocation_shared.logs import redact

MAX_ERROR_LENGTH = 4000


class DeadLetterReason(StrEnum):
    """Why a message was dead-lettered: client mistakes first, then processing failures."""

    UNPARSABLE = "unparsable"
    NOT_AN_EVENT = "not-an-event"
    UNKNOWN_TYPE = "unknown-type"
    INVALID = "invalid"
    WRONG_TOPIC = "wrong-topic"
    FORGED_SOURCE = "forged-source"
    """A valid event whose `source` may not publish its type (an internal fact not from its service)."""
    REJECTED = "rejected"
    """The event is well-formed but the domain cannot apply it (e.g. refers to nothing known)."""
    PROCESSING_FAILED = "processing-failed"
    """An unexpected error (a bug) persisted through every attempt."""


class DeadLetterPublisher:
    """Copies a record, untouched, to its topic's dead-letter topic with the reason.

    A tombstone stays a tombstone (null value, header `dlq.tombstone: true`), so that a re-drive
    writes an erasure back as an erasure, never as an empty value that compaction would keep.
    """

    def __init__(self, broker: KafkaBroker, consumer_name: str) -> None:
        self._broker = broker
        self._consumer_name = consumer_name

    async def send(
        self,
        record: ConsumerRecord[bytes, bytes],
        reason: DeadLetterReason,
        error: str,
        attempts: int = 1,
    ) -> None:
        """Publish the record to `<topic>.dlq` and wait for the acknowledgement."""
        original = h.decode_headers(record.headers)
        original.update(
            {
                h.DLQ_REASON: str(reason),
                h.DLQ_ERROR: redact(error)[:MAX_ERROR_LENGTH],
                h.DLQ_TOPIC: record.topic,
                h.DLQ_PARTITION: str(record.partition),
                h.DLQ_OFFSET: str(record.offset),
                h.DLQ_CONSUMER: self._consumer_name,
                h.DLQ_FAILED_AT: datetime.now(UTC).isoformat(),
                h.DLQ_ATTEMPTS: str(attempts),
            }
        )
        if record.value is None:
            original[h.DLQ_TOMBSTONE] = "true"
        await self._broker.publish(
            record.value,  # None with a key: FastStream writes a real tombstone
            topic=record.topic + DLQ_SUFFIX,
            key=record.key,
            headers=original,
        )
