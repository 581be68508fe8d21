"""Against the real Kafka and PostgreSQL: acknowledged writes, idempotency, split, erasure, failures."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import orjson
import pytest
from vocation_events.app import running_service
from vocation_events.settings import EventsSettings
from vocation_events.testing.helpers import AddPartner, make_settings, read_topic
from vocation_local.paths import free_port
from vocation_shared.testing import samples

pytestmark = pytest.mark.integration

SINGLE = {"Content-Type": "application/cloudevents+json"}
BATCH = {"Content-Type": "application/cloudevents-batch+json"}


def run_id() -> str:
    return uuid.uuid4().hex[:10]


def vacancy(run: str, n: int, **data: Any) -> dict[str, Any]:
    vacancy_id = f"vac-{run}-{n}"
    return samples.cloud_event(
        "fr.vocation.vacancy.posted.v1",
        vacancy_id,
        samples.vacancy(id=vacancy_id, **data),
        id=f"evt-{run}-{n}",
    )


def auth(key: str, headers: dict[str, str] = SINGLE) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **headers}


async def test_an_accepted_event_is_on_its_topic_keyed_by_subject(
    client: httpx.AsyncClient, add_partner: AddPartner, kafka_bootstrap: str
) -> None:
    key, run = await add_partner(), run_id()
    response = await client.post("/v1/events", content=orjson.dumps(vacancy(run, 1)), headers=auth(key))
    assert response.status_code == 202, response.text
    (record,) = await read_topic(kafka_bootstrap, "vacancies", {f"vac-{run}-1".encode()})
    body = orjson.loads(record.value or b"")
    assert (body["id"], body["subject"], body["type"]) == (
        f"evt-{run}-1",
        f"vac-{run}-1",
        "fr.vocation.vacancy.posted.v1",
    )
    assert dict(record.headers)["ce_id"] == f"evt-{run}-1".encode()


async def test_a_resent_event_is_a_duplicate_and_published_once(
    client: httpx.AsyncClient, add_partner: AddPartner, kafka_bootstrap: str
) -> None:
    key, run = await add_partner(), run_id()
    body = orjson.dumps(vacancy(run, 1))
    assert (await client.post("/v1/events", content=body, headers=auth(key))).status_code == 202
    again = await client.post("/v1/events", content=body, headers=auth(key))
    assert again.status_code == 200
    assert again.json()["status"] == "duplicate"
    assert len(await read_topic(kafka_bootstrap, "vacancies", {f"vac-{run}-1".encode()})) == 1


async def test_concurrent_copies_of_an_event_give_one_accepted_and_duplicates(
    client: httpx.AsyncClient, add_partner: AddPartner, kafka_bootstrap: str
) -> None:
    key, run = await add_partner(), run_id()
    body = orjson.dumps(vacancy(run, 1))
    answers = await asyncio.gather(
        *(client.post("/v1/events", content=body, headers=auth(key)) for _ in range(5))
    )
    statuses = sorted(a.json()["status"] for a in answers)
    assert statuses == ["accepted"] + ["duplicate"] * 4
    assert len(await read_topic(kafka_bootstrap, "vacancies", {f"vac-{run}-1".encode()})) == 1


async def test_concurrent_batches_overlapping_on_two_gateways_accept_each_event_once(
    settings: EventsSettings, client: httpx.AsyncClient, add_partner: AddPartner, kafka_bootstrap: str
) -> None:
    key, run = await add_partner(), run_id()
    events = [vacancy(run, n) for n in range(40)]
    async with running_service(settings) as second:
        transport = httpx.ASGITransport(app=second.http)
        async with httpx.AsyncClient(transport=transport, base_url="http://second") as other:
            answers = await asyncio.gather(
                client.post("/v1/events/batch", content=orjson.dumps(events[:30]), headers=auth(key, BATCH)),
                other.post(
                    "/v1/events/batch", content=orjson.dumps(events[10:][::-1]), headers=auth(key, BATCH)
                ),
            )
    assert [a.status_code for a in answers] == [202, 202]
    assert sum(a.json()["accepted"] for a in answers) == 40
    assert sum(a.json()["duplicates"] for a in answers) == 20
    keys = {f"vac-{run}-{n}".encode() for n in range(40)}
    assert len(await read_topic(kafka_bootstrap, "vacancies", keys)) == 40


async def test_a_batch_mixing_good_and_bad_events_accepts_the_good_ones(
    client: httpx.AsyncClient, add_partner: AddPartner, kafka_bootstrap: str
) -> None:
    key, run = await add_partner(types=frozenset({"fr.vocation.vacancy.posted.v1"})), run_id()
    batch = [
        vacancy(run, 1),
        vacancy(run, 2, commune_insee="00000"),
        samples.cloud_event(
            "fr.vocation.candidate.registered.v1", f"cand-{run}", samples.candidate(id=f"cand-{run}")
        ),
        vacancy(run, 3),
    ]
    response = await client.post("/v1/events/batch", content=orjson.dumps(batch), headers=auth(key, BATCH))
    assert response.status_code == 202
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["accepted", "rejected", "rejected", "accepted"]
    assert results[1]["problem"]["errors"][0]["pointer"] == "/data/commune_insee"
    assert results[2]["problem"]["status"] == 403
    found = await read_topic(kafka_bootstrap, "vacancies", {f"vac-{run}-{n}".encode() for n in (1, 2, 3)})
    assert sorted(r.key for r in found) == [f"vac-{run}-1".encode(), f"vac-{run}-3".encode()]


async def test_a_registration_is_split_between_candidates_and_candidate_contacts(
    client: httpx.AsyncClient, add_partner: AddPartner, kafka_bootstrap: str
) -> None:
    key, run = await add_partner(), run_id()
    candidate_id = f"cand-{run}"
    contact = {
        "email": f"camille.{run}@example.fr",
        "phone": "+33 6 12 34 56 78",
        "channels": ["email", "sms"],
    }
    document = samples.cloud_event(
        "fr.vocation.apprentice.registered.v1",
        candidate_id,
        samples.candidate(
            id=candidate_id,
            kind="apprentice",
            contact=contact,
            apprenticeship={
                "school_name": "IFAS de Bourg-en-Bresse",
                "school_commune_insee": "01053",
                "diploma_prepared": "DEAS",
                "programme_start": "2026-09-01",
            },
        ),
        id=f"evt-{run}",
    )
    response = await client.post("/v1/events", content=orjson.dumps(document), headers=auth(key))
    assert response.status_code == 202, response.text
    (profile,) = await read_topic(kafka_bootstrap, "candidates", {candidate_id.encode()})
    (contact_record,) = await read_topic(kafka_bootstrap, "candidate-contacts", {candidate_id.encode()})
    assert b"@example.fr" not in (profile.value or b"") and b"+336" not in (profile.value or b"")
    assert "contact" not in orjson.loads(profile.value or b"")["data"]
    contact_event = orjson.loads(contact_record.value or b"")
    assert contact_event["type"] == "fr.vocation.contact.registered.v1"
    assert contact_event["id"] == f"evt-{run}.contact"
    assert contact_event["data"]["phone"] == "+33612345678"
    # A retry of the registration publishes neither part again.
    again = await client.post("/v1/events", content=orjson.dumps(document), headers=auth(key))
    assert again.json()["status"] == "duplicate"
    assert len(await read_topic(kafka_bootstrap, "candidate-contacts", {candidate_id.encode()})) == 1


async def test_kafka_unreachable_answers_503_and_accepts_nothing(
    kafka_bootstrap: str, fresh_database: str
) -> None:
    dead = make_settings(
        f"127.0.0.1:{free_port()}", fresh_database, archive_enabled=False, publish_timeout_s=2
    )
    run = run_id()
    async with running_service(dead) as service:
        from vocation_events.core.partners import Partner, hash_api_key

        key = "vk_test-" + run
        await service.partners.create(Partner("p", "urn:partner:test", frozenset({"*"})), hash_api_key(key))
        transport = httpx.ASGITransport(app=service.http)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
            response = await http.post("/v1/events", content=orjson.dumps(vacancy(run, 1)), headers=auth(key))
            assert response.status_code == 503
            assert response.headers["content-type"] == "application/problem+json"
            assert "not accepted" in response.json()["title"]
            assert "retry-after" in response.headers
            assert (await http.get("/health/ready")).status_code == 503
    # Nothing was claimed: with Kafka back, the same event is accepted.
    alive = make_settings(kafka_bootstrap, fresh_database, archive_enabled=False)
    async with running_service(alive) as service:
        transport = httpx.ASGITransport(app=service.http)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
            response = await http.post("/v1/events", content=orjson.dumps(vacancy(run, 1)), headers=auth(key))
            assert response.status_code == 202


async def test_health_and_metrics(client: httpx.AsyncClient, add_partner: AddPartner) -> None:
    key, run = await add_partner(name=f"metrics-{run_id()}"), run_id()
    await client.post("/v1/events", content=orjson.dumps(vacancy(run, 1)), headers=auth(key))
    assert (await client.get("/health/live")).status_code == 200
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"kafka": "ok", "postgresql": "ok"}
    metrics = (await client.get("/metrics")).text
    assert 'vocation_events_gateway_events_total{outcome="accepted"' in metrics
    assert "vocation_events_gateway_publish_seconds_bucket" in metrics


async def test_a_revoked_key_is_refused(
    client: httpx.AsyncClient, add_partner: AddPartner, service: Any
) -> None:
    name, run = f"revoked-{run_id()}", run_id()
    key = await add_partner(name=name)
    assert await service.partners.revoke(name)
    response = await client.post("/v1/events", content=orjson.dumps(vacancy(run, 1)), headers=auth(key))
    assert response.status_code == 401
