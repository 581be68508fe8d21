"""Publishing events: key = subject (`record_key`), topic = the event type's topic, acknowledged by all replicas."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from faststream.kafka import KafkaBroker

from vocation_shared.contracts.events import AnyEvent
from vocation_shared.contracts.topics import record_key
from vocation_shared.kafka import headers as h


def event_headers(event: AnyEvent) -> list[tuple[str, bytes]]:
    """The headers of `event`'s record (`cloudevent_headers`)."""
    return h.cloudevent_headers(event.type, event.id, event.source)


def _as_text(headers: list[tuple[str, bytes]]) -> dict[str, str]:
    """Headers as FastStream's `publish` takes them."""
    return {name: value.decode() for name, value in headers}


class EventPublisher:
    """Writes events to their topic; `publish` returns once the broker acknowledged (acks=all)."""

    def __init__(self, broker: KafkaBroker) -> None:
        self._broker = broker

    async def publish(self, event: AnyEvent) -> None:
        """Write one event and wait for the acknowledgement."""
        await self._broker.publish(
            event.to_json_bytes(),
            topic=str(event.TOPIC),
            key=record_key(str(event.TOPIC), event.subject, event.data).encode(),
            headers=_as_text(event_headers(event)),
        )

    async def publish_many(self, events: Iterable[AnyEvent]) -> None:
        """Write several events concurrently; returns when all are acknowledged, raises if any failed.

        Events with the same key keep their order: the idempotent producer keeps the order of sends
        within a partition.
        """
        await asyncio.gather(*(self.publish(e) for e in events))

    async def tombstone(self, topic: str, key: str) -> None:
        """Write a tombstone (null value) so that compaction erases every record of `key`."""
        await self._broker.publish(None, topic=topic, key=key.encode())
