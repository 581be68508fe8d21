"""Against the real broker and database: the running catalogue consumes its topics and books over Kafka."""

from __future__ import annotations

import asyncpg
import orjson
import pytest
from vocation_catalogue.adapters import metrics
from vocation_catalogue.adapters.kafka import group_for
from vocation_catalogue.app import running_service
from vocation_catalogue.settings import CatalogueSettings
from vocation_catalogue.testing import request_event, run_id, slot_event, vacancy_event
from vocation_catalogue.testing.kafka import eventually, publish, records_of
from vocation_local.kafka_admin import start_groups_at_end
from vocation_shared.contracts import events as ev
from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.codec import parse_event
from vocation_shared.contracts.events import AnyEvent
from vocation_shared.contracts.topics import Topic
from vocation_shared.kafka.batches import KeyPrefixPartitioner
from vocation_shared.kafka.producer import make_producer

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def _read_records(bootstrap: str, topic: str, key: str) -> list[bytes]:
    """The values of every record with `key` on `topic`, from the beginning to the current end."""
    # `immersion-bookings` keys are `<slot id>/<request id>`: the slot's records.
    return [value for _, _, value in await records_of(bootstrap, topic, key) if value is not None]


async def _slot_records(bootstrap: str, slot_id: str) -> list[tuple[int, bytes, bytes | None]]:
    """(partition, key, value) of every record of a slot on `immersion-bookings`, tombstones included."""
    return await records_of(bootstrap, str(Topic.IMMERSION_BOOKINGS), slot_id)


async def test_an_erased_candidates_requests_are_tombstoned_on_their_slots_partition(
    kafka_bootstrap: str, fresh_database: str
) -> None:
    run = run_id()
    slot_id, erased, kept = f"slot-{run}", f"cand-{run}-erased", f"cand-{run}-kept"
    settings = CatalogueSettings(
        kafka_bootstrap=kafka_bootstrap, database_url=fresh_database, consumer_group=f"catalogue-{run}"
    )
    async with running_service(settings) as catalogue:
        await publish(kafka_bootstrap, [slot_event(slot_id, capacity=3, places_left=3)])
        await eventually(lambda: _known_slot(catalogue.pool, slot_id))
        await publish(
            kafka_bootstrap,
            [request_event(slot_id, f"req-{run}-1", erased), request_event(slot_id, f"req-{run}-2", kept)],
        )
        await eventually(lambda: _decided(catalogue.pool, f"req-{run}-2"))
        withdrawn = p.CandidateWithdrawn(candidate_id=erased, erasure_requested=True)
        await publish(kafka_bootstrap, [ev.CandidateWithdrawn.build(withdrawn, source="urn:test:partner")])
        # A request of theirs read after the erasure is not decided: it is tombstoned too.
        await publish(kafka_bootstrap, [request_event(slot_id, f"req-{run}-3", erased)])

        async def tombstoned() -> bool:
            records = await _slot_records(kafka_bootstrap, slot_id)
            return len([r for r in records if r[2] is None]) >= 2

        await eventually(tombstoned)
        ledger = await catalogue.pool.fetch("SELECT candidate_pseudonym FROM erased_candidates")
        keys = await catalogue.pool.fetch("SELECT key FROM immersion_outcomes WHERE key LIKE 'erasure:%'")

    records = await _slot_records(kafka_bootstrap, slot_id)
    assert len({partition for partition, _, _ in records}) == 1, "a slot's records on one partition"
    tombstones = [key.decode() for _, key, value in records if value is None]
    assert sorted(tombstones) == [f"{slot_id}/req-{run}-1", f"{slot_id}/req-{run}-3"]
    # Every record of the erased candidate has its key tombstoned after it; the other's has none.
    theirs = {key.decode() for _, key, value in records if value is not None and erased.encode() in value}
    assert theirs and theirs <= set(tombstones)
    assert f"{slot_id}/req-{run}-2" not in tombstones
    assert erased not in str([r[0] for r in ledger]) and erased not in str([r[0] for r in keys])


async def _known_slot(pool: asyncpg.Pool, slot_id: str) -> bool:
    return bool(await pool.fetchval("SELECT count(*) FROM immersion_slots WHERE id = $1", slot_id))


async def _read(bootstrap: str, topic: str, key: str) -> list[AnyEvent]:
    """Every event with `key` on `topic`."""
    return [parse_event(value) for value in await _read_records(bootstrap, topic, key)]


async def _decided(pool: asyncpg.Pool, request_id: str) -> bool:
    """Whether the catalogue kept an outcome for this request."""
    return bool(
        await pool.fetchval("SELECT count(*) FROM immersion_outcomes WHERE key = $1", f"request:{request_id}")
    )


async def test_running_catalogue_projects_topics_and_books_over_kafka_once_per_request(
    kafka_bootstrap: str, fresh_database: str
) -> None:
    run = run_id()
    slot_id = f"slot-{run}"
    settings = CatalogueSettings(
        kafka_bootstrap=kafka_bootstrap,
        database_url=fresh_database,
        consumer_group=f"catalogue-{run}",
        consumer_retry_initial_s=0.05,
    )
    requests = [request_event(slot_id, f"req-{run}-{n}", f"cand-{run}-{n}") for n in range(12)]
    async with running_service(settings) as catalogue:
        pool: asyncpg.Pool = catalogue.pool
        await publish(
            kafka_bootstrap,
            [
                vacancy_event(f"vac-{run}", version=2, kind=ev.VacancyUpdated, title="Version deux"),
                vacancy_event(f"vac-{run}", version=1),
                slot_event(slot_id, capacity=3, places_left=3),
            ],
        )

        async def slot_known() -> bool:
            return bool(await pool.fetchval("SELECT count(*) FROM immersion_slots WHERE id = $1", slot_id))

        await eventually(slot_known)
        await publish(kafka_bootstrap, [*requests, *requests])

        async def all_outcomes_published_twice() -> bool:
            outcomes = [
                e
                for e in await _read(kafka_bootstrap, "immersion-bookings", slot_id)
                if isinstance(e, ev.ImmersionBooked | ev.ImmersionRefused)
            ]
            return len(outcomes) >= 24

        await eventually(all_outcomes_published_twice)
        stored = await pool.fetchrow("SELECT version, data FROM vacancies WHERE id = $1", f"vac-{run}")

    assert (stored["version"], stored["data"]["title"]) == (2, "Version deux")
    outcomes = [
        e
        for e in await _read(kafka_bootstrap, "immersion-bookings", slot_id)
        if isinstance(e, ev.ImmersionBooked | ev.ImmersionRefused)
    ]
    by_id: dict[str, set[bytes]] = {}
    for outcome in outcomes:
        by_id.setdefault(outcome.id, set()).add(orjson.dumps(outcome.to_json_dict()))
    assert len(by_id) == 12
    assert all(len(versions) == 1 for versions in by_id.values()), "a republished outcome differs"
    booked = {e.id for e in outcomes if isinstance(e, ev.ImmersionBooked)}
    assert len(booked) == 3
    slot_states = [
        e for e in await _read(kafka_bootstrap, "immersion-slots", slot_id) if e.source.endswith("catalogue")
    ]
    assert max(e.data.version for e in slot_states) == 4
    assert min(e.data.places_left for e in slot_states) == 0


async def test_malformed_booking_message_goes_to_the_dead_letters_and_booking_goes_on(
    kafka_bootstrap: str, fresh_database: str
) -> None:
    run = run_id()
    slot_id = f"slot-{run}"
    settings = CatalogueSettings(
        kafka_bootstrap=kafka_bootstrap, database_url=fresh_database, consumer_group=f"catalogue-{run}"
    )
    async with running_service(settings) as catalogue:
        producer = make_producer(kafka_bootstrap, client_id="catalogue-test-garbage")
        await producer.start()
        try:
            await producer.send_and_wait("immersion-bookings", b"{not json", key=slot_id.encode())
        finally:
            await producer.stop()
        await publish(kafka_bootstrap, [request_event(slot_id, f"req-{run}", f"cand-{run}")])

        await eventually(lambda: _decided(catalogue.pool, f"req-{run}"))
    dead = await _read_records(kafka_bootstrap, "immersion-bookings.dlq", slot_id)
    assert dead == [b"{not json"]


async def _slot_on_the_same_partition(bootstrap: str, slot_id: str) -> str:
    """Another slot id that every producer puts on `slot_id`'s partition of `immersion-slots`."""
    producer = make_producer(bootstrap, client_id="catalogue-test-partitions")
    await producer.start()
    try:
        count = len(await producer.partitions_for("immersion-slots"))
    finally:
        await producer.stop()

    partitions = list(range(count))

    def partition(key: str) -> int:
        return KeyPrefixPartitioner()(key.encode(), partitions, partitions)

    return next(
        f"{slot_id}-before-{n}"
        for n in range(1000)
        if partition(f"{slot_id}-before-{n}") == partition(slot_id)
    )


async def test_a_request_read_before_its_slot_waits_for_it_instead_of_being_refused(
    kafka_bootstrap: str, fresh_database: str
) -> None:
    """After a restart the bookings may be read before a slot offered meanwhile: no "unknown slot".

    The slots' consumer is held up on an earlier slot of the same partition (its table locked),
    so the requested slot is published but not read when the request comes.
    """
    run = run_id()
    slot_id = f"slot-{run}"
    earlier = await _slot_on_the_same_partition(kafka_bootstrap, slot_id)
    settings = CatalogueSettings(
        kafka_bootstrap=kafka_bootstrap,
        database_url=fresh_database,
        consumer_group=f"catalogue-{run}",
        consumer_retry_initial_s=0.05,
        consumer_retry_max_s=0.5,
    )
    # A catalogue that handled the history already (the other tests' requests and slots on this
    # shared broker), so that only this test's events are read while the slots' table is locked.
    await start_groups_at_end(
        kafka_bootstrap,
        {
            group_for(settings.consumer_group, topic): str(topic)
            for topic in (Topic.IMMERSION_SLOTS, Topic.IMMERSION_BOOKINGS)
        },
    )
    waits_before = metrics.SLOT_WAITS._value.get()
    async with running_service(settings) as catalogue:

        async def decided() -> bool:
            return await _decided(catalogue.pool, f"req-{run}")

        async def waiting_or_decided() -> bool:
            return bool(metrics.SLOT_WAITS._value.get() > waits_before) or await decided()

        # The slots' consumer cannot store anything while this lock is held (reads stay possible).
        blocker = await asyncpg.connect(fresh_database)
        holding = blocker.transaction()
        await holding.start()
        try:
            await blocker.execute("LOCK TABLE immersion_slots IN SHARE MODE")
            await publish(
                kafka_bootstrap,
                [
                    slot_event(earlier),
                    slot_event(slot_id, capacity=2, places_left=2),
                    request_event(slot_id, f"req-{run}", f"cand-{run}"),
                ],
            )
            await eventually(waiting_or_decided)
            assert not await decided(), "decided before its slot was read"
        finally:
            await holding.rollback()
            await blocker.close()
        await eventually(decided)
    [outcome] = [
        e
        for e in await _read(kafka_bootstrap, "immersion-bookings", slot_id)
        if isinstance(e, ev.ImmersionBooked | ev.ImmersionRefused)
    ]
    assert isinstance(outcome, ev.ImmersionBooked), outcome
