"""Helpers of the catalogue's Kafka integration tests: wait for a condition, publish events, read a
subject's records."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer
from vocation_shared.contracts.events import AnyEvent
from vocation_shared.contracts.topics import partition_key
from vocation_shared.kafka import EventPublisher, make_broker


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 40.0) -> None:
    """Wait until `check()` is true; AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.2)


async def publish(bootstrap: str, events: list[AnyEvent]) -> None:
    """Publish `events` in order, as a partner or another service would."""
    broker = make_broker(bootstrap, client_id="catalogue-test-publisher")
    await broker.connect()
    try:
        publisher = EventPublisher(broker)
        for event in events:
            await publisher.publish(event)
    finally:
        await broker.stop()


async def records_of(bootstrap: str, topic: str, subject: str) -> list[tuple[int, bytes, bytes | None]]:
    """(partition, key, value) of every record of `subject` on `topic` (keys `<subject>` or
    `<subject>/<record id>`) from the beginning to the current end, tombstones (value None) included."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        partitions = list(consumer.assignment())
        ends = await consumer.end_offsets(partitions)
        found: list[tuple[int, bytes, bytes | None]] = []
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found += [
                    (r.partition, r.key, r.value)
                    for r in records
                    if r.key is not None and partition_key(r.key) == subject.encode()
                ]
        return found
    finally:
        await consumer.stop()
