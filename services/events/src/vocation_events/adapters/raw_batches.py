"""A consumer group handing raw record batches (bytes, tombstones included) to a callback."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Literal

from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.middlewares import AckPolicy

RawBatchHandler = Callable[[Iterable[ConsumerRecord[bytes, bytes]]], Awaitable[Any]]


async def _raw_body(message: Any) -> Any:
    return message.body


def subscribe_raw_batches(
    broker: KafkaBroker,
    topics: Sequence[str],
    *,
    group_id: str,
    handle: RawBatchHandler,
    title: str,
    offset_reset: Literal["earliest", "latest"],
) -> None:
    """Subscribe `group_id` to `topics` in batches of up to 500 records; offsets are committed once
    `handle` returned (an exception leaves them for the next fetch)."""

    async def on_batch(message: KafkaMessage) -> None:
        raw = message.raw_message
        await handle(raw if isinstance(raw, tuple) else (raw,))

    broker.subscriber(
        *topics,
        group_id=group_id,
        batch=True,
        max_records=500,
        batch_timeout_ms=100,
        auto_offset_reset=offset_reset,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=_raw_body,
        title=title,
    )(on_batch)
