"""The KafkaBroker process on its own data dir: adoption, stop/start and SIGKILL keep the data."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from vocation_local.kafka import KafkaBroker, create_topics
from vocation_local.paths import free_port
from vocation_shared.contracts.topics import TopicSpec, spec_of

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def _produce(bootstrap: str, value: bytes) -> tuple[int, int]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        meta = await producer.send_and_wait("matches", value, key=b"k")
    finally:
        await producer.stop()
    return meta.partition, meta.offset


async def _read(bootstrap: str, partition: int, offset: int) -> bytes | None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition("matches", partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        record = await asyncio.wait_for(consumer.getone(), 30)
    finally:
        await consumer.stop()
    value: bytes | None = record.value
    return value


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[KafkaBroker]:
    """A broker of its own (not the session's), with a `matches` topic of 2 partitions."""
    broker = KafkaBroker(tmp_path / "kafka", free_port(), free_port())
    broker.start()
    spec = spec_of("matches")
    small = TopicSpec(spec.name, spec.cleanup, partitions=2, retention_ms=spec.retention_ms)
    broker.ensure_topics([small])
    yield broker
    broker.stop()


async def test_a_fresh_object_adopts_the_running_broker(broker: KafkaBroker) -> None:
    other = KafkaBroker(broker.data_dir)  # default ports: the running broker's are taken
    await asyncio.to_thread(other.start)
    assert other.pid() == broker.pid()
    assert (other.port, other.controller_port) == (broker.port, broker.controller_port)


async def test_stop_then_start_keeps_records(broker: KafkaBroker) -> None:
    partition, offset = await _produce(broker.bootstrap, b"kept")
    await asyncio.to_thread(broker.stop)
    assert not broker.is_running()
    assert not broker.pid_file.exists()

    again = KafkaBroker(broker.data_dir, broker.port, broker.controller_port)
    await asyncio.to_thread(again.start)
    assert await _read(again.bootstrap, partition, offset) == b"kept"
    assert await create_topics(again.bootstrap, [spec_of("matches")]) == []


@pytest.mark.faults
async def test_sigkill_then_start_recovers_acknowledged_records(broker: KafkaBroker) -> None:
    partition, offset = await _produce(broker.bootstrap, b"acked")
    await asyncio.to_thread(broker.kill)
    assert not broker.is_running()
    await asyncio.to_thread(broker.start)
    assert await _read(broker.bootstrap, partition, offset) == b"acked"
