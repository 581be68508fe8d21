"""The transactional outbox against a real PostgreSQL and a real Kafka: what was committed is
published once, in its order, tombstones as null values; what was rolled back never is."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from vocation_local.faults import read_topics
from vocation_shared.contracts import events as ev
from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.codec import parse_event
from vocation_shared.contracts.topics import Topic
from vocation_shared.kafka import EventPublisher, make_broker
from vocation_shared.postgres import create_pool
from vocation_shared.postgres.outbox import OutboxRelay, TransactionalOutbox, table_name
from vocation_shared.testing import samples

TABLE = "facts_outbox"
CREATE = f"""
CREATE TABLE {TABLE} (
    seq       bigserial PRIMARY KEY,
    event_id  text      NOT NULL UNIQUE,
    event     jsonb     NOT NULL
)
"""


class Run:
    """Events of one test run, all on one key of `vacancies` (so one partition: one order)."""

    def __init__(self) -> None:
        self.key = f"vac-outbox-{uuid.uuid4().hex[:10]}"

    def event(self, n: int) -> ev.VacancyPosted:
        vacancy = p.Vacancy.model_validate(samples.vacancy(id=self.key))
        return ev.VacancyPosted.build(vacancy, source="urn:test:outbox", id=f"{self.key}.{n}")

    async def published(self, bootstrap: str) -> list[str | None]:
        """What `vacancies` holds under this run's key, in order: event ids, None for a tombstone."""
        records = await read_topics(bootstrap, [str(Topic.VACANCIES)])
        found: list[str | None] = []
        for record in sorted(records, key=lambda r: r.offset):
            if record.key == self.key.encode():
                found.append(None if record.value is None else parse_event(record.value).id)
        return found


@contextlib.asynccontextmanager
async def _outbox_database(dsn: str) -> AsyncIterator[asyncpg.Pool]:
    async with create_pool(dsn, max_size=4) as pool:
        await pool.execute(CREATE)
        yield pool


@contextlib.asynccontextmanager
async def _publisher(bootstrap: str, name: str) -> AsyncIterator[EventPublisher]:
    broker = make_broker(bootstrap, client_id=name)
    await broker.connect()
    try:
        yield EventPublisher(broker)
    finally:
        await broker.stop()


@pytest.mark.integration
async def test_facts_queued_in_a_rolled_back_transaction_are_never_published(
    fresh_database: str, kafka_bootstrap: str
) -> None:
    run = Run()
    async with (
        _outbox_database(fresh_database) as pool,
        _publisher(kafka_bootstrap, "outbox-test") as publisher,
    ):

        async def change_that_fails() -> None:
            async with pool.acquire() as conn, conn.transaction():
                outbox = TransactionalOutbox(conn, TABLE)
                await outbox.queue([run.event(1), run.event(2)])
                await outbox.queue_tombstone(str(Topic.VACANCIES), run.key)
                raise RuntimeError("the change failed")

        with pytest.raises(RuntimeError):
            await change_that_fails()
        async with pool.acquire() as conn, conn.transaction():
            await TransactionalOutbox(conn, TABLE).queue([run.event(3)])
        assert await OutboxRelay(pool, TABLE, publisher).relay() == 1
        assert await pool.fetchval(f"SELECT count(*) FROM {TABLE}") == 0
    assert await run.published(kafka_bootstrap) == [f"{run.key}.3"]


@pytest.mark.integration
async def test_committed_facts_are_published_once_in_order_with_tombstones_as_nulls_by_two_relays(
    fresh_database: str, kafka_bootstrap: str
) -> None:
    run = Run()
    expected: list[str | None] = []
    writing = True

    async def write() -> None:
        """Twenty transactions of three events, every fifth followed by a tombstone."""
        nonlocal writing
        async with create_pool(fresh_database, max_size=2) as pool:
            for t in range(20):
                events = [run.event(3 * t + n) for n in range(3)]
                async with pool.acquire() as conn, conn.transaction():
                    outbox = TransactionalOutbox(conn, TABLE)
                    await outbox.queue(events)
                    await outbox.queue([events[0]])  # the same id again: queued once
                    if t % 5 == 4:
                        await outbox.queue_tombstone(str(Topic.VACANCIES), run.key)
                expected.extend(e.id for e in events)
                if t % 5 == 4:
                    expected.append(None)
        writing = False

    async def relay(name: str) -> int:
        """A relay of its own (its pool, its producer), as another instance runs it."""
        relayed = 0
        async with create_pool(fresh_database, max_size=2) as pool, _publisher(kafka_bootstrap, name) as pub:
            relay = OutboxRelay(pool, TABLE, pub)
            while writing or await pool.fetchval(f"SELECT count(*) FROM {TABLE}"):
                relayed += await relay.relay(limit=4)
                await asyncio.sleep(0.005)
        return relayed

    async with _outbox_database(fresh_database):
        pass
    _, by_a, by_b = await asyncio.gather(write(), relay("relay-a"), relay("relay-b"))
    assert by_a + by_b == len(expected) == 64
    assert await run.published(kafka_bootstrap) == expected


@pytest.mark.unit
def test_a_table_name_is_a_plain_identifier() -> None:
    assert table_name("outcome_events") == "outcome_events"
    assert table_name("notifications.outcome_events") == "notifications.outcome_events"
    for bad in ("", "Outcome", "t; DROP TABLE x", "a.b.c", "1t"):
        with pytest.raises(ValueError, match="not an outbox table name"):
            table_name(bad)
