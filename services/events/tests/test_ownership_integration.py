"""Owners of entities on the real PostgreSQL and Kafka: two first publishers racing, transfer, listing, backfill."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from typer.testing import CliRunner
from vocation_events.adapters.postgres import PostgresOwners
from vocation_events.app import MIGRATIONS, EventsService, running_service
from vocation_events.cli import partners_app
from vocation_events.core.partners import Partner, hash_api_key
from vocation_events.settings import EventsSettings
from vocation_events.testing.helpers import AddPartner, make_settings, read_topic
from vocation_local.paths import free_port
from vocation_shared.contracts.payloads import application_id_of
from vocation_shared.postgres.migrations import apply_migrations, load_migrations
from vocation_shared.testing import samples

pytestmark = pytest.mark.integration

SINGLE = {"Content-Type": "application/cloudevents+json"}
SOURCE_A, SOURCE_B = "urn:partner:a", "urn:partner:b"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **SINGLE}


def vacancy(
    source: str, vacancy_id: str, event_id: str, establishment_id: str, **data: Any
) -> dict[str, Any]:
    establishment = {**samples.vacancy()["establishment"], "id": establishment_id}
    return samples.cloud_event(
        "fr.vocation.vacancy.posted.v1" if not data else "fr.vocation.vacancy.updated.v1",
        vacancy_id,
        samples.vacancy(id=vacancy_id, establishment=establishment, **data),
        id=event_id,
        source=source,
    )


async def owners_of(service: EventsService, kind: str, ids: list[str]) -> dict[str, str]:
    rows = await service.pool.fetch(
        "SELECT entity_id, owner FROM entity_owners WHERE kind = $1 AND entity_id = ANY($2::text[])",
        kind,
        ids,
    )
    return {r[0]: r[1] for r in rows}


async def test_of_two_first_publishers_racing_exactly_one_owns_each_entity(
    service: EventsService, client: httpx.AsyncClient, add_partner: AddPartner, kafka_bootstrap: str
) -> None:
    key_a = await add_partner(source=SOURCE_A)
    key_b = await add_partner(source=SOURCE_B)
    run = uuid.uuid4().hex[:8]
    ids = [f"vac-race-{run}-{n}" for n in range(20)]

    async def send(key: str, source: str, vacancy_id: str) -> tuple[str, int, dict[str, Any]]:
        event = vacancy(source, vacancy_id, f"{source}-{vacancy_id}", f"etab-{source}-{run}")
        response = await client.post("/v1/events", content=orjson.dumps(event), headers=auth(key))
        return source, response.status_code, response.json()

    # Every id is sent by both at once; half the pairs start with A, half with B.
    sends = []
    for n, vacancy_id in enumerate(ids):
        pair = [send(key_a, SOURCE_A, vacancy_id), send(key_b, SOURCE_B, vacancy_id)]
        sends += pair if n % 2 else pair[::-1]
    answers = await asyncio.gather(*sends)

    owners = await owners_of(service, "vacancy", ids)
    assert set(owners) == set(ids)
    for vacancy_id in ids:
        pair = answers[2 * ids.index(vacancy_id) : 2 * ids.index(vacancy_id) + 2]
        statuses = {source: status for source, status, _ in pair}
        assert sorted(statuses.values()) == [202, 403], (vacancy_id, pair)
        winner = next(s for s, status in statuses.items() if status == 202)
        assert owners[vacancy_id] == winner
        loser = next(body for s, status, body in pair if status == 403)
        assert loser["type"] == "urn:vocation:problem:not-owner"
        assert loser["errors"][0]["pointer"] == "/subject"
    # Only the winners' events reached Kafka, one per entity.
    records = await read_topic(kafka_bootstrap, "vacancies", {i.encode() for i in ids})
    assert sorted((r.key or b"").decode() for r in records) == sorted(ids)
    for r in records:
        assert dict(r.headers)["ce_source"].decode() == owners[(r.key or b"").decode()]


async def test_concurrent_batches_naming_the_same_new_entities_in_opposite_orders_do_not_deadlock(
    service: EventsService, client: httpx.AsyncClient, add_partner: AddPartner
) -> None:
    key_a = await add_partner(source=SOURCE_A)
    key_b = await add_partner(source=SOURCE_B)
    run = uuid.uuid4().hex[:8]
    ids = [f"vac-batch-{run}-{n:03d}" for n in range(200)]

    def batch(source: str, order: list[str]) -> bytes:
        return orjson.dumps([vacancy(source, i, f"{source}-{i}", f"etab-{source}-{run}") for i in order])

    headers = {"Content-Type": "application/cloudevents-batch+json"}
    a, b = await asyncio.gather(
        client.post(
            "/v1/events/batch", content=batch(SOURCE_A, ids), headers={**headers, "X-API-Key": key_a}
        ),
        client.post(
            "/v1/events/batch", content=batch(SOURCE_B, ids[::-1]), headers={**headers, "X-API-Key": key_b}
        ),
    )
    assert a.status_code == b.status_code == 202, (a.text, b.text)
    assert a.json()["accepted"] + b.json()["accepted"] == len(ids)
    assert a.json()["rejected"] + b.json()["rejected"] == len(ids)


async def test_an_operator_transfers_an_entity_and_the_former_owner_is_refused(
    service: EventsService,
    client: httpx.AsyncClient,
    add_partner: AddPartner,
    settings: EventsSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = uuid.uuid4().hex[:8]
    key_a = await add_partner(name=f"a-{run}", source=SOURCE_A)
    key_b = await add_partner(name=f"b-{run}", source=SOURCE_B)
    vacancy_id, establishment_id = f"vac-{run}", f"etab-{run}"
    posted = vacancy(SOURCE_A, vacancy_id, f"a-{run}-1", establishment_id)
    assert (
        await client.post("/v1/events", content=orjson.dumps(posted), headers=auth(key_a))
    ).status_code == 202
    closing = vacancy(SOURCE_B, vacancy_id, f"b-{run}-2", establishment_id, version=2, status="closed")
    refused = await client.post("/v1/events", content=orjson.dumps(closing), headers=auth(key_b))
    assert refused.status_code == 403

    monkeypatch.setenv("VOCATION_DATABASE_URL", settings.database_url)
    runner = CliRunner()

    def cli(*args: str) -> tuple[int, str]:
        result = runner.invoke(partners_app, list(args))
        return result.exit_code, result.output

    code, out = await asyncio.to_thread(
        cli, "transfer", "vacancy", vacancy_id, "--to", f"b-{run}", "--reason", "fusion"
    )
    assert code == 0, out
    assert f"owner {SOURCE_A} -> {SOURCE_B}" in out
    assert (await asyncio.to_thread(cli, "transfer", "establishment", establishment_id, "--to", f"b-{run}"))[
        0
    ] == 0
    assert (await asyncio.to_thread(cli, "transfer", "vacancies", vacancy_id, "--to", f"b-{run}"))[0] == 2
    assert (await asyncio.to_thread(cli, "transfer", "vacancy", vacancy_id, "--to", "nobody"))[0] == 1

    accepted = await client.post("/v1/events", content=orjson.dumps(closing), headers=auth(key_b))
    assert accepted.status_code == 202, accepted.text
    again = vacancy(SOURCE_A, vacancy_id, f"a-{run}-3", establishment_id, version=3)
    answer = await client.post("/v1/events", content=orjson.dumps(again), headers=auth(key_a))
    assert answer.status_code == 403
    assert answer.json()["errors"][0]["pointer"] == "/subject"

    code, out = await asyncio.to_thread(cli, "owner", "vacancy", vacancy_id)
    assert code == 0 and f"owner={SOURCE_B}" in out
    assert f"transferred {SOURCE_A} -> {SOURCE_B} (b-{run})" in out and "fusion" in out
    audit = await service.pool.fetch(
        "SELECT kind, from_owner, to_owner FROM ownership_transfers ORDER BY seq"
    )
    assert [tuple(r) for r in audit] == [
        ("vacancy", SOURCE_A, SOURCE_B),
        ("establishment", SOURCE_A, SOURCE_B),
    ]
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await service.pool.execute("DELETE FROM ownership_transfers")


async def test_a_partner_lists_its_own_entities(client: httpx.AsyncClient, add_partner: AddPartner) -> None:
    key_a = await add_partner(source=SOURCE_A)
    key_b = await add_partner(source=SOURCE_B)
    run = uuid.uuid4().hex[:8]
    batch = [vacancy(SOURCE_A, f"vac-{run}-{n}", f"a-{run}-{n}", f"etab-a-{run}") for n in range(5)]
    posted = await client.post(
        "/v1/events/batch",
        content=orjson.dumps(batch),
        headers={"Content-Type": "application/cloudevents-batch+json", "X-API-Key": key_a},
    )
    assert posted.json()["accepted"] == 5
    theirs = vacancy(SOURCE_B, f"vac-{run}-b", f"b-{run}", f"etab-b-{run}")
    assert (
        await client.post("/v1/events", content=orjson.dumps(theirs), headers=auth(key_b))
    ).status_code == 202

    page = await client.get("/v1/entities", params={"kind": "vacancy", "limit": 2}, headers=auth(key_a))
    assert page.status_code == 200, page.text
    seen = [i["id"] for i in page.json()["items"]]
    next_page = page.json()["next"]
    while next_page:
        more = (await client.get(next_page, headers=auth(key_a))).json()
        seen += [i["id"] for i in more["items"]]
        next_page = more["next"]
    assert seen == [f"vac-{run}-{n}" for n in range(5)]
    establishments = await client.get("/v1/entities?kind=establishment", headers=auth(key_a))
    assert [i["id"] for i in establishments.json()["items"]] == [f"etab-a-{run}"]
    bad = await client.get("/v1/entities?kind=nope", headers=auth(key_a))
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"


async def test_the_migration_gives_entities_published_before_it_to_their_first_publisher(
    fresh_database: str,
) -> None:
    migrations = load_migrations("events", Path(MIGRATIONS))
    before = [m for m in migrations if m.version < 5]
    conn = await asyncpg.connect(fresh_database)
    try:
        await apply_migrations(conn, before)
        await conn.execute(
            """
            INSERT INTO ingested_events (source, event_id, type, subject, partner, accepted_at) VALUES
              ('urn:partner:a', 'e1', 'fr.vocation.vacancy.posted.v1', 'vac-1', 'a', '2026-01-01'),
              ('urn:partner:b', 'e2', 'fr.vocation.vacancy.closed.v1', 'vac-1', 'b', '2026-01-02'),
              ('urn:partner:b', 'e3', 'fr.vocation.candidate.registered.v1', 'cand-1', 'b', '2026-01-03'),
              ('urn:partner:b', 'e4', 'fr.vocation.match.found.v1', 'cand-9', 'b', '2026-01-01')
            """
        )
        vacancy_event = samples.cloud_event(
            "fr.vocation.vacancy.posted.v1", "vac-2", samples.vacancy(id="vac-2"), source="urn:partner:c"
        )
        request = samples.cloud_event(
            "fr.vocation.immersion.requested.v1",
            "slot-1",
            {"request_id": "req-1", "slot_id": "slot-1", "candidate_id": "cand-1"},
            source="urn:partner:b",
        )
        booked = samples.cloud_event(
            "fr.vocation.immersion-slot.updated.v1",
            "slot-1",
            {"id": "slot-1"},
            source="urn:vocation:catalogue",
        )
        for n, (topic, event) in enumerate(
            [("vacancies", vacancy_event), ("immersion-bookings", request), ("immersion-slots", booked)]
        ):
            await conn.execute(
                """
                INSERT INTO archived_events (topic, partition, "offset", source, event_id, type, subject, time, event)
                VALUES ($1, 0, $2, $3, $4, $5, $6, now(), $7::jsonb)
                """,
                topic,
                n,
                event["source"],
                event["id"],
                event["type"],
                event["subject"],
                orjson.dumps(event).decode(),
            )
        await apply_migrations(conn, migrations)
        rows = await conn.fetch("SELECT kind, entity_id, owner FROM entity_owners ORDER BY kind, entity_id")
    finally:
        await conn.close()
    assert [tuple(r) for r in rows] == [
        ("candidate", "cand-1", "urn:partner:b"),
        ("establishment", "etab-ehpad-bourg", "urn:partner:c"),
        ("immersion-request", "req-1", "urn:partner:b"),
        ("vacancy", "vac-1", "urn:partner:a"),
        ("vacancy", "vac-2", "urn:partner:c"),
    ]


async def test_a_first_publisher_whose_write_failed_owns_nothing(
    kafka_bootstrap: str, fresh_database: str
) -> None:
    run = uuid.uuid4().hex[:8]
    key_a, key_b = f"vk_a-{run}", f"vk_b-{run}"
    dead = make_settings(
        f"127.0.0.1:{free_port()}", fresh_database, archive_enabled=False, publish_timeout_s=2
    )
    async with running_service(dead) as service:
        await service.partners.create(Partner("a", SOURCE_A, frozenset({"*"})), hash_api_key(key_a))
        await service.partners.create(Partner("b", SOURCE_B, frozenset({"*"})), hash_api_key(key_b))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=service.http), base_url="http://gw"
        ) as http:
            event = vacancy(SOURCE_A, f"vac-{run}", f"a-{run}", f"etab-a-{run}")
            assert (
                await http.post("/v1/events", content=orjson.dumps(event), headers=auth(key_a))
            ).status_code == 503
        assert await owners_of(service, "vacancy", [f"vac-{run}"]) == {}
    alive = make_settings(kafka_bootstrap, fresh_database, archive_enabled=False)
    async with running_service(alive) as service:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=service.http), base_url="http://gw"
        ) as http:
            event = vacancy(SOURCE_B, f"vac-{run}", f"b-{run}", f"etab-b-{run}")
            assert (
                await http.post("/v1/events", content=orjson.dumps(event), headers=auth(key_b))
            ).status_code == 202
        assert await owners_of(service, "vacancy", [f"vac-{run}"]) == {f"vac-{run}": SOURCE_B}


async def test_an_erased_candidate_leaves_no_owner_behind(
    service: EventsService, client: httpx.AsyncClient, add_partner: AddPartner
) -> None:
    key = await add_partner(source=SOURCE_A)
    candidate_id = f"cand-erased-{uuid.uuid4().hex[:8]}"
    registered = samples.cloud_event(
        "fr.vocation.candidate.registered.v1",
        candidate_id,
        samples.candidate(id=candidate_id),
        id=f"reg-{candidate_id}",
        source=SOURCE_A,
    )
    response = await client.post("/v1/events", content=orjson.dumps(registered), headers=auth(key))
    assert response.status_code == 202, response.text
    assert await owners_of(service, "candidate", [candidate_id]) == {candidate_id: SOURCE_A}

    withdrawn = samples.cloud_event(
        "fr.vocation.candidate.withdrawn.v1",
        candidate_id,
        {"candidate_id": candidate_id, "erasure_requested": True},
        id=f"erase-{candidate_id}",
        source=SOURCE_A,
    )
    response = await client.post("/v1/events", content=orjson.dumps(withdrawn), headers=auth(key))
    assert response.status_code == 202, response.text
    assert await owners_of(service, "candidate", [candidate_id]) == {}, "the erased id is still owned"


def answered(source: str, offer_id: str, candidate_id: str, event_id: str) -> dict[str, Any]:
    pair = {"candidate_id": candidate_id, "offer_id": offer_id}
    data = samples.application_answered(application_id=application_id_of(**pair), **pair)
    return samples.cloud_event(
        "fr.vocation.application.answered.v1", candidate_id, data, id=event_id, source=source
    )


async def test_only_the_vacancys_owner_answers_its_applications_and_a_transfer_moves_the_right(
    service: EventsService, client: httpx.AsyncClient, add_partner: AddPartner, kafka_bootstrap: str
) -> None:
    run = uuid.uuid4().hex[:8]
    key_a = await add_partner(name=f"a-{run}", source=SOURCE_A)
    key_b = await add_partner(name=f"b-{run}", source=SOURCE_B)
    offer, candidate = f"vac-{run}", f"cand-{run}"
    posted = vacancy(SOURCE_A, offer, f"a-{run}-1", f"etab-{run}")
    assert (
        await client.post("/v1/events", content=orjson.dumps(posted), headers=auth(key_a))
    ).status_code == 202
    key = f"{candidate}/{application_id_of(candidate, offer)}".encode()

    refused = await client.post(
        "/v1/events",
        content=orjson.dumps(answered(SOURCE_B, offer, candidate, f"b-{run}")),
        headers=auth(key_b),
    )
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["type"] == "urn:vocation:problem:not-owner"
    assert problem["errors"][0]["pointer"] == "/data/offer_id"
    assert candidate not in refused.text, "the problem names no person"
    nobody = answered(SOURCE_B, f"vac-nobody-{run}", candidate, f"b-{run}-nobody")
    assert (
        await client.post("/v1/events", content=orjson.dumps(nobody), headers=auth(key_b))
    ).status_code == 403
    assert await owners_of(service, "vacancy", [f"vac-nobody-{run}"]) == {}, "an answer claims no vacancy"
    assert await read_topic(kafka_bootstrap, "applications", {key}) == [], "nothing refused was published"

    accepted = await client.post(
        "/v1/events",
        content=orjson.dumps(answered(SOURCE_A, offer, candidate, f"a-{run}-2")),
        headers=auth(key_a),
    )
    assert accepted.status_code == 202, accepted.text
    [record] = await read_topic(kafka_bootstrap, "applications", {key})
    assert orjson.loads(record.value)["id"] == f"a-{run}-2"

    b = await service.partners.by_name(f"b-{run}")
    assert b is not None
    assert await PostgresOwners(service.pool).transfer("vacancy", offer, b, "ops", "fusion") == SOURCE_A
    again = answered(SOURCE_A, offer, candidate, f"a-{run}-3")
    assert (
        await client.post("/v1/events", content=orjson.dumps(again), headers=auth(key_a))
    ).status_code == 403
    now_b = answered(SOURCE_B, offer, candidate, f"b-{run}-3")
    assert (
        await client.post("/v1/events", content=orjson.dumps(now_b), headers=auth(key_b))
    ).status_code == 202
