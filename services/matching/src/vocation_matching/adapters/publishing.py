"""Sending many events at once and waiting for every acknowledgement together (acks=all)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Protocol

from faststream.kafka import KafkaBroker
from vocation_shared.contracts.events import AnyEvent
from vocation_shared.kafka.publisher import event_headers


class PublishesMany(Protocol):
    """Writes events and returns once the broker acknowledged every one of them."""

    async def publish_many(self, events: Iterable[AnyEvent]) -> None:
        """Write the events; raise if any was not acknowledged."""
        ...


class BatchPublisher:
    """Hands every event to the producer first, then waits for all the acknowledgements.

    ``EventPublisher.publish_many`` runs one task per event, each waiting for its own
    acknowledgement; here the records are appended to the producer's batches without waiting
    (``no_confirm``), so they leave in a few produce requests, and the delivery futures are
    awaited together. The producer is the broker's: acks=all, idempotent, so records with the
    same key keep their order.
    """

    def __init__(self, broker: KafkaBroker) -> None:
        self._broker = broker

    async def publish_many(self, events: Iterable[AnyEvent]) -> None:
        """Write the events; returns once all are acknowledged, raises the first failure."""
        deliveries: list[asyncio.Future[object]] = []
        try:
            for event in events:
                deliveries.append(
                    await self._broker.publish(
                        event.to_json_bytes(),
                        topic=str(event.TOPIC),
                        key=event.subject.encode(),
                        headers=event_headers(event),
                        no_confirm=True,
                    )
                )
        finally:
            # Even when appending failed, wait for what was handed over (and retrieve its errors).
            outcomes = await asyncio.gather(*deliveries, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
