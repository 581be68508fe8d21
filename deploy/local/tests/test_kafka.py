"""Integration tests of the real Kafka broker given by the `kafka_bootstrap` fixture."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from vocation_local.kafka import KafkaBroker, create_topics, describe_topics
from vocation_shared.contracts.topics import all_topics

pytestmark = pytest.mark.integration

COMPACTED = {
    "vacancies",
    "candidates",
    "candidate-contacts",
    "establishments",
    "trainings",
    "immersion-slots",
}
# Facts about people: deleted past their retention, and compacted so that a tombstone erases.
COMPACTED_AND_DELETED = {"immersion-bookings", "matches", "applications", "notifications"}


async def test_produce_consume_round_trip(kafka_bootstrap: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        value = uuid.uuid4().bytes
        meta = await producer.send_and_wait("vacancies", value, key=b"vacancy-1")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partition = TopicPartition("vacancies", meta.partition)
        consumer.assign([partition])
        consumer.seek(partition, meta.offset)
        record = await consumer.getone()
    finally:
        await consumer.stop()
    assert (record.key, record.value) == (b"vacancy-1", value)


async def test_consumer_group_commits(kafka_bootstrap: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        marker = uuid.uuid4().hex.encode()
        await producer.send_and_wait("matches", marker, key=b"offer-1")
    finally:
        await producer.stop()
    group = f"test-{uuid.uuid4().hex}"
    consumer = AIOKafkaConsumer(
        "matches",
        bootstrap_servers=kafka_bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        async with asyncio.timeout(30):
            async for record in consumer:
                if record.value == marker:
                    await consumer.commit()
                    break
    finally:
        await consumer.stop()
    # A new member of the group reads the commit back from the broker: the next record to read.
    again = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False)
    await again.start()
    try:
        committed = await again.committed(TopicPartition("matches", record.partition))
    finally:
        await again.stop()
    assert committed == record.offset + 1


async def test_registry_topics_have_their_partitions_and_policy(
    kafka_bootstrap: str, kafka_broker: KafkaBroker | None
) -> None:
    specs = all_topics(partitions=3)
    described = await describe_topics(kafka_bootstrap, [s.name for s in specs])
    assert set(described) == {s.name for s in specs}
    for spec in specs:
        topic = described[spec.name]
        if spec.name.endswith(".dlq"):
            assert topic.partitions == 1, spec.name
        elif kafka_broker is not None:  # a broker of this session: topics made by the fixture
            assert topic.partitions == 3, spec.name
        else:  # a shared broker (`vocation-infra up` makes 6): existing topics are kept as they are
            assert topic.partitions in (3, 6), spec.name
        if spec.name in COMPACTED:
            assert topic.cleanup_policy == "compact", spec.name
        elif spec.name in COMPACTED_AND_DELETED:
            assert topic.cleanup_policy == "compact,delete", spec.name
        else:
            assert spec.name.endswith(".dlq"), spec.name
            assert topic.cleanup_policy == "delete", spec.name
        for key, value in spec.kafka_config().items():
            assert topic.config.get(key) == value, (spec.name, key)


async def test_create_topics_is_idempotent(kafka_bootstrap: str) -> None:
    assert await create_topics(kafka_bootstrap, all_topics(partitions=3)) == []


async def test_auto_topic_creation_is_off(kafka_bootstrap: str) -> None:
    unknown = f"no-such-topic-{uuid.uuid4().hex}"
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, request_timeout_ms=3000)
    await producer.start()
    try:
        with pytest.raises(KafkaError):
            await producer.send_and_wait(unknown, b"x")
    finally:
        await producer.stop()
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        assert unknown not in await admin.list_topics()
    finally:
        await admin.close()
