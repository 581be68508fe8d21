"""Against the real broker and database: each event has exactly one effect, whatever happens."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from vocation_shared.contracts import AnyEvent
from vocation_shared.contracts import events as ev
from vocation_shared.contracts import payloads as p
from vocation_shared.kafka import (
    DeadLetterPublisher,
    EventConsumer,
    EventPublisher,
    PermanentError,
    RetryPolicy,
    make_broker,
)
from vocation_shared.kafka import headers as h
from vocation_shared.testing import samples
from vocation_shared.testing.ledger import running_ledger

pytestmark = pytest.mark.integration


def _vacancy_event(run: str, n: int) -> ev.VacancyPosted:
    vacancy = p.Vacancy.model_validate(samples.vacancy(id=f"vac-{run}-{n}"))
    return ev.VacancyPosted.build(vacancy, source="urn:test:consumption", id=f"evt-{run}-{n}")


async def _eventually(check: Callable[[], Awaitable[bool]], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.1)


async def _count(dsn: str, sql: str, *args: object) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(sql, *args))
    finally:
        await conn.close()


async def _publish(bootstrap: str, events: list[ev.VacancyPosted]) -> None:
    broker = make_broker(bootstrap, client_id="test-publisher")
    await broker.connect()
    try:
        await EventPublisher(broker).publish_many(events)
    finally:
        await broker.stop()


async def _effects_of(dsn: str, run: str) -> int:
    return await _count(dsn, "SELECT count(*) FROM effects WHERE event_id LIKE $1", f"evt-{run}-%")


async def test_published_event_is_consumed_with_one_effect(kafka_bootstrap: str, fresh_database: str) -> None:
    run = uuid.uuid4().hex[:8]
    async with running_ledger(kafka_bootstrap, fresh_database, f"ledger-{run}"):
        await _publish(kafka_bootstrap, [_vacancy_event(run, n) for n in range(20)])
        await _eventually(lambda: _count_is(fresh_database, run, 20))
    assert await _effects_of(fresh_database, run) == 20


async def _count_is(dsn: str, run: str, expected: int) -> bool:
    return await _effects_of(dsn, run) >= expected


async def test_same_event_delivered_twice_has_one_effect(kafka_bootstrap: str, fresh_database: str) -> None:
    run = uuid.uuid4().hex[:8]
    event = _vacancy_event(run, 1)
    async with running_ledger(kafka_bootstrap, fresh_database, f"ledger-{run}"):
        await _publish(kafka_bootstrap, [event])
        await _publish(kafka_bootstrap, [event, _vacancy_event(run, 2)])
        await _eventually(lambda: _delivered(fresh_database, [event.id, event.id, f"evt-{run}-2"]))
    assert await _effects_of(fresh_database, run) == 2
    assert await _count(fresh_database, "SELECT count(*) FROM deliveries WHERE event_id = $1", event.id) == 2


async def _delivered(dsn: str, ids: list[str]) -> bool:
    total = await _count(
        dsn, "SELECT count(*) FROM deliveries WHERE event_id = ANY($1::text[])", list(set(ids))
    )
    return total >= len(ids)


async def test_malformed_message_goes_to_the_dlq_and_the_next_is_processed(
    kafka_bootstrap: str, fresh_database: str
) -> None:
    run = uuid.uuid4().hex[:8]
    bad_key = f"bad-{run}".encode()
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        async with running_ledger(kafka_bootstrap, fresh_database, f"ledger-{run}"):
            await producer.send_and_wait("vacancies", b'{"specversion": "1.0", "oops"', key=bad_key)
            invalid = samples.cloud_event(
                "fr.vocation.vacancy.posted.v1",
                f"vac-{run}-x",
                samples.vacancy(id=f"vac-{run}-x", rome_code="Q0000"),
            )
            await producer.send_and_wait("vacancies", orjson.dumps(invalid), key=bad_key)
            await _publish(kafka_bootstrap, [_vacancy_event(run, 1)])
            await _eventually(lambda: _count_is(fresh_database, run, 1))
    finally:
        await producer.stop()
    dead = await _read_dlq(kafka_bootstrap, "vacancies.dlq", bad_key, expected=2)
    reasons = sorted(d[h.DLQ_REASON] for d in dead)
    assert reasons == ["invalid", "unparsable"]
    invalid_letter = next(d for d in dead if d[h.DLQ_REASON] == "invalid")
    assert "/data/rome_code" in invalid_letter[h.DLQ_ERROR]
    assert invalid_letter[h.DLQ_TOPIC] == "vacancies"
    assert invalid_letter[h.DLQ_OFFSET].isdigit()
    assert invalid_letter[h.DLQ_CONSUMER] == f"ledger-{run}"


async def _read_dlq(bootstrap: str, topic: str, key: bytes, expected: int) -> list[dict[str, str]]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or {0}
        consumer.assign([TopicPartition(topic, n) for n in partitions])
        found: list[dict[str, str]] = []
        deadline = time.monotonic() + 20
        while len(found) < expected and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                found += [h.decode_headers(r.headers) for r in records if r.key == key]
        return found
    finally:
        await consumer.stop()


@pytest.mark.slow
async def test_consumer_killed_after_effect_before_commit_gets_it_again_and_applies_once(
    kafka_bootstrap: str, fresh_database: str
) -> None:
    run = uuid.uuid4().hex[:8]
    group = f"ledger-{run}"
    victim = _vacancy_event(run, 1)
    # Create the schema before the child process uses it.
    async with running_ledger(kafka_bootstrap, fresh_database, f"warmup-{run}"):
        pass
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vocation_shared.testing.ledger_process",
            kafka_bootstrap,
            fresh_database,
            group,
            victim.id,
        ],
    )
    try:
        await _publish(kafka_bootstrap, [victim])
        deadline = time.monotonic() + 60
        while child.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert child.returncode == -9, "the consumer should have killed itself with SIGKILL"
    finally:
        if child.poll() is None:
            child.kill()
    assert await _effects_of(fresh_database, run) == 1
    async with running_ledger(kafka_bootstrap, fresh_database, group):
        await _eventually(lambda: _delivered(fresh_database, [victim.id, victim.id]), timeout=60)
    assert await _effects_of(fresh_database, run) == 1


async def test_a_forged_match_written_straight_to_kafka_is_dead_lettered_and_never_handled(
    kafka_bootstrap: str,
) -> None:
    run = uuid.uuid4().hex[:8]
    group = f"forged-{run}"
    key = f"cand-{run}".encode()
    match = samples.match_found(candidate_id=f"cand-{run}", match_id=f"m-{run}")
    forged = samples.cloud_event(
        "fr.vocation.match.found.v1", f"cand-{run}", match, id=f"forged-{run}", source="urn:partner:intrus"
    )
    genuine = forged | {"id": f"genuine-{run}", "source": "urn:vocation:matching"}
    handled: list[str] = []

    async def handle(event: AnyEvent) -> None:
        if run in event.id:  # the session's broker holds other tests' matches too
            handled.append(event.id)

    broker = make_broker(kafka_bootstrap, client_id=group)
    consumer = EventConsumer(broker, DeadLetterPublisher(broker, group), RetryPolicy(initial_s=0.05))
    consumer.subscribe("matches", group_id=group, handle=handle)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    await broker.start()
    try:
        await producer.send_and_wait("matches", orjson.dumps(forged), key=key)
        await producer.send_and_wait("matches", orjson.dumps(genuine), key=key)
        await _eventually(lambda: _has(handled, f"genuine-{run}"))
    finally:
        await broker.stop()
        await producer.stop()
    assert handled == [f"genuine-{run}"]
    [letter] = await _read_dlq(kafka_bootstrap, "matches.dlq", key, expected=1)
    assert letter[h.DLQ_REASON] == "forged-source"
    assert "published only with source urn:vocation:matching" in letter[h.DLQ_ERROR]
    assert letter[h.DLQ_CONSUMER] == group
    assert h.DLQ_TOMBSTONE not in letter


async def test_a_tombstone_that_fails_is_dead_lettered_as_a_tombstone(kafka_bootstrap: str) -> None:
    run = uuid.uuid4().hex[:8]
    group = f"tombstones-{run}"
    key = f"cand-{run}".encode()

    async def refuse(subject: str) -> None:
        if subject == key.decode():  # other tests' tombstones are on the topic too
            raise PermanentError("cannot erase here")

    async def ignore(_: AnyEvent) -> None:
        return None

    broker = make_broker(kafka_bootstrap, client_id=group)
    consumer = EventConsumer(broker, DeadLetterPublisher(broker, group), RetryPolicy(initial_s=0.05))
    consumer.subscribe("candidates", group_id=group, handle=ignore, on_tombstone=refuse)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    await broker.start()
    try:
        await producer.send_and_wait("candidates", None, key=key)
        letters = await _read_dlq_records(kafka_bootstrap, "candidates.dlq", key, expected=1)
    finally:
        await broker.stop()
        await producer.stop()
    [letter] = letters
    assert letter.value is None
    headers = h.decode_headers(letter.headers)
    assert headers[h.DLQ_TOMBSTONE] == "true"
    assert headers[h.DLQ_REASON] == "rejected"


async def _has(handled: list[str], event_id: str) -> bool:
    return event_id in handled


async def _read_dlq_records(
    bootstrap: str, topic: str, key: bytes, expected: int
) -> list[ConsumerRecord[bytes, bytes]]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, n) for n in consumer.partitions_for_topic(topic) or {0}])
        found: list[ConsumerRecord[bytes, bytes]] = []
        deadline = time.monotonic() + 30
        while len(found) < expected and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                found += [r for r in records if r.key == key]
        return found
    finally:
        await consumer.stop()
