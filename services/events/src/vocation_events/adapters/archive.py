"""The archive's Kafka side: a raw batch subscriber on every entity topic, and its dead letters.

The use case is `handlers/archive.py`; invalid records go to the shared consumer's rules
(dead-lettered with the reason), so the dead-letter topics keep them for a year (`vocation dlq list`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker
from vocation_shared.contracts.topics import ENTITY_TOPICS
from vocation_shared.kafka import EventConsumer
from vocation_shared.kafka.consumer import Subscription

from vocation_events.adapters.raw_batches import subscribe_raw_batches
from vocation_events.handlers.archive import Archive
from vocation_events.ports import RawRecord


async def _ignore(_: Any) -> None:
    return None


class ConsumerDeadLetters:
    """The `DeadLetters` port: the shared consumer's rules find the reason, log and dead-letter."""

    def __init__(self, consumer: EventConsumer, group_id: str) -> None:
        self._consumer = consumer
        self._group_id = group_id

    async def reject(self, record: RawRecord) -> None:
        """Dead-letter a record that is not an event of its topic."""
        assert isinstance(record, ConsumerRecord)
        await self._consumer.process_record(
            record, Subscription(record.topic, self._group_id, _ignore, frozenset(), None)
        )


def subscribe_archive(
    broker: KafkaBroker, archive: Archive, group_id: str, topics: Iterable[str] | None = None
) -> None:
    """One batch subscriber on every entity topic, committing after the batch is stored."""
    names = list(topics) if topics is not None else [str(t.name) for t in ENTITY_TOPICS]
    subscribe_raw_batches(
        broker,
        names,
        group_id=group_id,
        handle=archive.process,
        title=f"{group_id}:archive",
        offset_reset="earliest",
    )
