"""The archive, erasure, replay and dead letters, against the real Kafka and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from vocation_events.adapters import dead_letters
from vocation_events.adapters.kafka import KafkaSink, ProducerFactory
from vocation_events.app import EventsService, running_service
from vocation_events.cli import replay_slice
from vocation_events.core.partners import Partner, hash_api_key
from vocation_events.settings import EventsSettings
from vocation_events.testing.helpers import make_settings, read_topic
from vocation_shared.contracts.payloads import application_id_of
from vocation_shared.testing import samples

pytestmark = pytest.mark.integration

KEY = "vk_archive-test-key"
SINGLE = {"Content-Type": "application/cloudevents+json", "Authorization": f"Bearer {KEY}"}


@pytest.fixture
def archive_settings(kafka_bootstrap: str, fresh_database: str) -> EventsSettings:
    return make_settings(kafka_bootstrap, fresh_database, archive_enabled=True)


@pytest.fixture
async def archiving(
    archive_settings: EventsSettings,
) -> AsyncIterator[tuple[EventsService, httpx.AsyncClient]]:
    async with running_service(archive_settings) as service:
        await service.partners.create(Partner("p", "urn:partner:test", frozenset({"*"})), hash_api_key(KEY))
        transport = httpx.ASGITransport(app=service.http)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
            yield service, http


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.2)


def registration(run: str) -> dict[str, Any]:
    candidate_id = f"cand-{run}"
    data = samples.candidate(
        id=candidate_id, contact={"email": f"lea.{run}@example.fr", "channels": ["email"]}
    )
    return samples.cloud_event("fr.vocation.candidate.registered.v1", candidate_id, data, id=f"reg-{run}")


async def archived(service: EventsService, subject: str) -> list[dict[str, Any]]:
    return [a.event for a in await service.archive.history(subject)]


async def test_every_event_is_archived_and_the_history_of_an_entity_is_readable(
    archiving: tuple[EventsService, httpx.AsyncClient],
) -> None:
    service, http = archiving
    run = uuid.uuid4().hex[:10]
    vacancy_id = f"vac-{run}"
    for version in (1, 2):
        event_type = "fr.vocation.vacancy.posted.v1" if version == 1 else "fr.vocation.vacancy.updated.v1"
        document = samples.cloud_event(
            event_type, vacancy_id, samples.vacancy(id=vacancy_id, version=version), id=f"evt-{run}-{version}"
        )
        assert (
            await http.post("/v1/events", content=orjson.dumps(document), headers=SINGLE)
        ).status_code == 202

    async def both_archived() -> bool:
        return len(await archived(service, vacancy_id)) == 2

    await eventually(both_archived)
    history = await archived(service, vacancy_id)
    assert [e["data"]["version"] for e in history] == [1, 2]
    rows = await service.pool.fetch(
        "SELECT topic, type, source FROM archived_events WHERE subject = $1", vacancy_id
    )
    assert {r["topic"] for r in rows} == {"vacancies"}
    with pytest.raises(Exception, match="append-only"):
        await service.pool.execute("UPDATE archived_events SET type = 'x' WHERE subject = $1", vacancy_id)


async def applied(kafka_bootstrap: str, http: httpx.AsyncClient, candidate_id: str, run: str) -> None:
    """`candidate_id` applies to the partner's vacancy (the catalogue's fact), and the partner answers."""
    vacancy_id = f"vac-{run}"
    posted = samples.cloud_event(
        "fr.vocation.vacancy.posted.v1", vacancy_id, samples.vacancy(id=vacancy_id), id=f"vac-{run}"
    )
    assert (await http.post("/v1/events", content=orjson.dumps(posted), headers=SINGLE)).status_code == 202
    pair = {"candidate_id": candidate_id, "offer_id": vacancy_id}
    pair["application_id"] = application_id_of(candidate_id, vacancy_id)
    submitted = samples.cloud_event(
        "fr.vocation.application.submitted.v1",
        candidate_id,
        samples.application_submitted(**pair),
        id=f"app-{run}",
        source="urn:vocation:catalogue",
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        key = f"{candidate_id}/{pair['application_id']}".encode()
        await producer.send_and_wait("applications", orjson.dumps(submitted), key=key)
    finally:
        await producer.stop()
    answer = samples.cloud_event(
        "fr.vocation.application.answered.v1",
        candidate_id,
        samples.application_answered(**pair),
        id=f"answer-{run}",
    )
    assert (await http.post("/v1/events", content=orjson.dumps(answer), headers=SINGLE)).status_code == 202


async def test_erasure_publishes_tombstones_and_deletes_the_archived_personal_data(
    archiving: tuple[EventsService, httpx.AsyncClient], kafka_bootstrap: str
) -> None:
    service, http = archiving
    run = uuid.uuid4().hex[:10]
    candidate_id = f"cand-{run}"
    assert (
        await http.post("/v1/events", content=orjson.dumps(registration(run)), headers=SINGLE)
    ).status_code == 202
    await applied(kafka_bootstrap, http, candidate_id, run)

    async def profile_contact_and_application_archived() -> bool:
        return len(await archived(service, candidate_id)) == 4

    await eventually(profile_contact_and_application_archived)
    message = await service.pool.fetchval(
        "SELECT event->'data'->>'message' FROM archived_events WHERE subject = $1 AND topic = 'applications'"
        " AND type = 'fr.vocation.application.submitted.v1'",
        candidate_id,
    )
    assert message.startswith("enc1:"), "the candidate's message is sealed in the archive"
    withdrawal = samples.cloud_event(
        "fr.vocation.candidate.withdrawn.v1",
        candidate_id,
        {"candidate_id": candidate_id, "erasure_requested": True},
        id=f"bye-{run}",
    )
    assert (
        await http.post("/v1/events", content=orjson.dumps(withdrawal), headers=SINGLE)
    ).status_code == 202

    async def erased() -> bool:
        return await archived(service, candidate_id) == []

    await eventually(erased)  # by the eraser, off the claim's transaction
    key = {candidate_id.encode()}
    on_candidates = await read_topic(kafka_bootstrap, "candidates", key)
    on_contacts = await read_topic(kafka_bootstrap, "candidate-contacts", key)
    assert [r.value is None for r in on_candidates] == [False, False, True]
    assert orjson.loads(on_candidates[1].value or b"")["type"] == "fr.vocation.candidate.withdrawn.v1"
    assert [r.value is None for r in on_contacts] == [False, True]
    # The archive consumer reads the withdrawal and the tombstones later: it stores nothing again.
    await asyncio.sleep(1.5)
    assert await archived(service, candidate_id) == []
    assert (
        await service.pool.fetchval(
            """
            SELECT count(*) FROM erasures
            WHERE candidate_pseudonym = $1 AND applied_at IS NOT NULL AND candidate_id IS NULL
            """,
            EventsSettings().pseudonymizer().candidate(candidate_id),
        )
        == 1
    ), "applied, the erasure keeps the pseudonym and not the id"


async def test_a_replay_republishes_a_slice_of_the_archive_unchanged(
    archiving: tuple[EventsService, httpx.AsyncClient], archive_settings: EventsSettings, kafka_bootstrap: str
) -> None:
    service, http = archiving
    run = uuid.uuid4().hex[:10]
    since = datetime.now(UTC) - timedelta(minutes=1)
    ids = []
    for n in range(3):
        vacancy_id = f"vac-{run}-{n}"
        event_type = "fr.vocation.vacancy.closed.v1" if n == 2 else "fr.vocation.vacancy.posted.v1"
        document = samples.cloud_event(
            event_type,
            vacancy_id,
            samples.vacancy(id=vacancy_id, status="closed" if n == 2 else "open"),
            id=f"evt-{run}-{n}",
            time=datetime.now(UTC).isoformat(),
        )
        ids.append(vacancy_id)
        assert (
            await http.post("/v1/events", content=orjson.dumps(document), headers=SINGLE)
        ).status_code == 202

    async def all_archived() -> bool:
        return all([await archived(service, i) for i in ids])

    await eventually(all_archived)
    replayed = await replay_slice(archive_settings, "vacancies", since, None, "fr.vocation.vacancy.posted.v1")
    assert replayed >= 2
    keys = {i.encode() for i in ids}
    records = await read_topic(kafka_bootstrap, "vacancies", keys)
    by_key: dict[bytes, list[bytes]] = {}
    for r in records:
        by_key.setdefault(r.key or b"", []).append(r.value or b"")
    assert len(by_key[ids[0].encode()]) == 2  # the original and its replay
    assert len(by_key[ids[2].encode()]) == 1  # another type: not replayed
    first, again = (orjson.loads(v) for v in by_key[ids[0].encode()])
    assert first == again


async def test_dead_letters_are_listed_and_redriven_once(kafka_bootstrap: str) -> None:
    run = uuid.uuid4().hex[:10]
    good = samples.cloud_event(
        "fr.vocation.training-session.published.v1",
        f"ts-{run}",
        {
            "id": f"ts-{run}",
            "provider_siret": samples.SIRET_EHPAD_BOURG,
            "provider_name": "IFSI de Bourg",
            "title": "Formation aide-soignant",
            "rome_code": "J1501",
            "diploma": "DEAS",
            "commune_insee": "01053",
            "start_date": "2027-01-04",
            "end_date": "2027-12-17",
            "places": 30,
            "places_left": 30,
        },
        id=f"evt-{run}",
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        # As a consumer of `trainings` would have dead-lettered it.
        await producer.send_and_wait(
            "trainings.dlq",
            orjson.dumps(good),
            key=f"ts-{run}".encode(),
            headers=[
                ("dlq.reason", b"rejected"),
                ("dlq.original.topic", b"trainings"),
                ("ce_id", f"evt-{run}".encode()),
            ],
        )
    finally:
        await producer.stop()
    listed = await dead_letters.list_dead_letters(kafka_bootstrap, "trainings")
    mine = [d for d in listed if d.key == f"ts-{run}".encode()]
    assert len(mine) == 1 and mine[0].reason == "rejected"
    sink = KafkaSink(ProducerFactory(kafka_bootstrap, "test-redrive", 512 * 1024, 0), 10)
    try:
        first = await dead_letters.redrive(kafka_bootstrap, "trainings", sink)
        second = await dead_letters.redrive(kafka_bootstrap, "trainings", sink)
    finally:
        await sink.stop()
    assert f"ts-{run}".encode() in [d.key for d in first.redriven]
    assert f"ts-{run}".encode() not in [d.key for d in second.redriven]
    (back,) = await read_topic(kafka_bootstrap, "trainings", {f"ts-{run}".encode()})
    headers = dict(back.headers)
    assert "dlq.reason" not in headers and headers["ce_id"] == f"evt-{run}".encode()
    listed = await dead_letters.list_dead_letters(kafka_bootstrap, "trainings.dlq")
    assert all(d.redriven for d in listed if d.key == f"ts-{run}".encode())
