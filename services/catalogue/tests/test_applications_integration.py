"""Against the real broker and database: the running catalogue reads candidates and matches, takes
applications, publishes their facts through its outbox, applies a partner's hire, fills the vacancy,
withdraws the other applications and tombstones an erased person's applications."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest
from aiokafka import AIOKafkaConsumer
from vocation_catalogue.app import running_service
from vocation_catalogue.core.applications import EmployerAnswer
from vocation_catalogue.settings import CatalogueSettings
from vocation_catalogue.testing import candidate_event, match_event, run_id, vacancy_event
from vocation_shared.contracts import events as ev
from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.codec import parse_event
from vocation_shared.contracts.events import AnyEvent
from vocation_shared.contracts.topics import Topic, partition_key
from vocation_shared.contracts.vocabulary import ApplicationAnswer, ApplicationWithdrawalReason
from vocation_shared.kafka import EventPublisher, make_broker

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def _eventually(check: Callable[[], Awaitable[bool]], timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.2)


async def _publish(bootstrap: str, events: list[AnyEvent]) -> None:
    broker = make_broker(bootstrap, client_id="catalogue-applications-test")
    await broker.connect()
    try:
        publisher = EventPublisher(broker)
        for event in events:
            await publisher.publish(event)
    finally:
        await broker.stop()


async def _records(bootstrap: str, candidate_id: str) -> list[tuple[str, AnyEvent | None]]:
    """(key, event or None for a tombstone) of the candidate's records on `applications`, in order."""
    consumer = AIOKafkaConsumer(
        str(Topic.APPLICATIONS),
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        partitions = list(consumer.assignment())
        ends = await consumer.end_offsets(partitions)
        found: list[tuple[str, AnyEvent | None]] = []
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                found += [
                    (r.key.decode(), None if r.value is None else parse_event(r.value))
                    for r in batch
                    if r.key is not None and partition_key(r.key) == candidate_id.encode()
                ]
        return found
    finally:
        await consumer.stop()


async def test_from_application_to_hire_over_kafka(kafka_bootstrap: str, fresh_database: str) -> None:
    run = run_id()
    vacancy, hired, other = f"vac-{run}", f"cand-{run}-hired", f"cand-{run}-other"
    settings = CatalogueSettings(
        kafka_bootstrap=kafka_bootstrap,
        database_url=fresh_database,
        consumer_group=f"catalogue-{run}",
        applications_relay_every_s=0.2,
    )
    async with running_service(settings) as catalogue:
        pool, desk = catalogue.pool, catalogue.applications
        await _publish(
            kafka_bootstrap,
            [
                vacancy_event(vacancy, posts=1),
                candidate_event(hired),
                candidate_event(other),
                match_event(hired, vacancy),
            ],
        )

        async def read() -> bool:
            people = await pool.fetchval(
                "SELECT count(*) FROM candidate_supply WHERE id = ANY($1)", [hired, other]
            )
            matched = await pool.fetchval("SELECT count(*) FROM pair_matches WHERE offer_id = $1", vacancy)
            offers = await pool.fetchval("SELECT count(*) FROM vacancies WHERE id = $1", vacancy)
            return (people, matched, offers) == (2, 1, 1)

        await _eventually(read)
        for candidate in (hired, other):
            outcome = await desk.submit(
                candidate, vacancy, message="Bonjour", share_email=True, share_phone=False
            )
            assert outcome.changed

        async def submitted() -> bool:
            return any(
                isinstance(e, ev.ApplicationSubmitted) for _, e in await _records(kafka_bootstrap, hired)
            )

        await _eventually(submitted)
        # The employer's « Embauché(e) » (a partner's answer joins when the gateway accepts them:
        # until then the consumer dead-letters it as a forged source).
        assert (await desk.answer(hired, vacancy, EmployerAnswer(ApplicationAnswer.HIRED))).changed

        async def withdrawn() -> bool:
            return any(
                isinstance(e, ev.ApplicationWithdrawn) for _, e in await _records(kafka_bootstrap, other)
            )

        await _eventually(withdrawn)
        status = await pool.fetchval("SELECT status FROM vacancies WHERE id = $1", vacancy)
        erased = p.CandidateWithdrawn(candidate_id=hired, erasure_requested=True)
        await _publish(kafka_bootstrap, [ev.CandidateWithdrawn.build(erased, source="urn:test:partner")])

        async def tombstoned() -> bool:
            return any(e is None for _, e in await _records(kafka_bootstrap, hired))

        await _eventually(tombstoned)
        left = await pool.fetchval("SELECT count(*) FROM applications WHERE candidate_id = $1", hired)
        outbox = await pool.fetchval("SELECT count(*) FROM application_outbox")

    assert status == "filled" and left == 0 and outbox == 0
    key = f"{hired}/{p.application_id_of(hired, vacancy)}"
    records = await _records(kafka_bootstrap, hired)
    (sent,) = [e for k, e in records if isinstance(e, ev.ApplicationSubmitted)]
    assert sent.data.summary.distance_km == 12.4 and [str(d) for d in sent.data.summary.diplomas] == ["DEAS"]
    assert sent.data.match_id == f"m-{hired}-{vacancy}"
    assert [k for k, e in records if e is None] == [key], "one tombstone, on the application's key"
    assert [type(e) for k, e in records if e is not None] == [ev.ApplicationSubmitted, ev.ApplicationAnswered]
    (gone,) = [e for _, e in await _records(kafka_bootstrap, other) if isinstance(e, ev.ApplicationWithdrawn)]
    assert gone.data.reason is ApplicationWithdrawalReason.OFFER_FILLED
