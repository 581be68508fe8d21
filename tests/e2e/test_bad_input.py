"""Malformed records written straight to every topic end in the dead-letter topics; consumers go on."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from vocation_local.e2e import Platform
from vocation_local.faults import Written, produce_raw, read_topics, wait_for
from vocation_local.partners import create_partner
from vocation_shared.contracts.codec import parse_event
from vocation_shared.contracts.events import EVENT_TYPES
from vocation_shared.contracts.topics import ENTITY_TOPICS, Topic
from vocation_shared.kafka import headers as h
from vocation_shared.testing import samples

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SOURCE = "urn:partner:e2e-bad-input"

# Who reads which topic (each dead-letters under its consumer name): the archive reads them all.
READERS: dict[str, frozenset[str]] = {
    "events-archive": frozenset(t.name for t in ENTITY_TOPICS),
    "catalogue": frozenset(
        {
            Topic.ESTABLISHMENTS,
            Topic.VACANCIES,
            Topic.TRAININGS,
            Topic.IMMERSION_SLOTS,
            Topic.IMMERSION_BOOKINGS,
        }
    ),
    "matching": frozenset({Topic.CANDIDATES, Topic.VACANCIES, Topic.IMMERSION_SLOTS, Topic.TRAININGS}),
    "notifications": frozenset(
        {
            Topic.CANDIDATE_CONTACTS,
            Topic.ESTABLISHMENTS,
            Topic.IMMERSION_SLOTS,
            Topic.MATCHES,
            Topic.IMMERSION_BOOKINGS,
        }
    ),
}


def _envelope(event_type: str, subject: str, data: dict[str, Any]) -> dict[str, Any]:
    return samples.cloud_event(event_type, subject, data, id=f"bad-{uuid.uuid4().hex}", source=SOURCE)


def _establishment_event(run: str) -> dict[str, Any]:
    data = {
        "id": f"etab-bad-{run}",
        "siret": samples.SIRET_EHPAD_BOURG,
        "name": "EHPAD Les Tilleuls",
        "kind": "ehpad",
        "commune_insee": samples.BOURG_EN_BRESSE,
    }
    return _envelope("fr.vocation.establishment.registered.v1", data["id"], data)


def _own_establishment(run: str) -> dict[str, Any]:
    """The sample establishment under an id of this module's partner: the first source naming an id owns it."""
    return {**samples.vacancy()["establishment"], "id": f"etab-bad-{run}"}


def _vacancy_event(run: str) -> dict[str, Any]:
    data = samples.vacancy(id=f"vac-bad-{run}", establishment=_own_establishment(run))
    return _envelope("fr.vocation.vacancy.posted.v1", data["id"], data)


def _type_of(topic: str) -> str:
    """The first event type the registry puts on `topic`."""
    return next(t for t, model in EVENT_TYPES.items() if topic == model.TOPIC)


def malformed(topic: str, run: str) -> dict[str, bytes]:
    """Six kinds of garbage for one topic, by the dead-letter reason each must get."""
    other = _vacancy_event(run) if topic == Topic.ESTABLISHMENTS else _establishment_event(run)
    parse_event(other)  # a valid event, only on the wrong topic
    return {
        "unparsable": b"\xff\xfe{this is not JSON",
        "not-an-event": b"[1, 2, 3]",
        "invalid": json.dumps({"hello": "world", "note": "JSON, but no CloudEvent"}).encode(),
        "unknown-type": json.dumps(_envelope("fr.vocation.unicorn.sighted.v1", f"u-{run}", {})).encode(),
        "wrong-topic": json.dumps(other).encode(),
        "invalid-payload": json.dumps(
            _envelope(_type_of(topic), f"x-{run}", {"id": f"x-{run}", "siret": "123"})
        ).encode(),
    }


def _reason(kind: str) -> str:
    return "invalid" if kind == "invalid-payload" else kind


@pytest.fixture(scope="module")
def api_key(platform: Platform) -> str:
    """A partner allowed every event type."""
    return create_partner(
        platform.environments["events"], f"bad-input-{uuid.uuid4().hex[:6]}", SOURCE, share_source=True
    ).key


async def test_malformed_records_on_every_topic_are_dead_lettered_by_every_reader(
    platform: Platform, api_key: str
) -> None:
    run = uuid.uuid4().hex[:8]
    started = time.monotonic()
    planned: list[tuple[str, str]] = []  # (topic, kind) in the order written
    records: list[tuple[str, bytes | None, bytes | None]] = []
    for spec in ENTITY_TOPICS:
        for kind, value in malformed(spec.name, run).items():
            planned.append((spec.name, kind))
            records.append((spec.name, f"bad-{run}-{kind}".encode(), value))
    written = await produce_raw(platform.kafka_bootstrap, records)
    where: dict[Written, str] = {w: kind for w, (_, kind) in zip(written, planned, strict=True)}
    expected = {
        (consumer, w.topic, w.partition, w.offset)
        for w in written
        for consumer, topics in READERS.items()
        if w.topic in topics
    }

    found: dict[tuple[str, str, int, int], dict[str, str]] = {}

    async def all_dead_lettered() -> bool:
        dlqs = [spec.dlq for spec in ENTITY_TOPICS]
        for record in await read_topics(platform.kafka_bootstrap, dlqs):
            headers = h.decode_headers(record.headers)
            key = (
                headers.get(h.DLQ_CONSUMER, ""),
                headers.get(h.DLQ_TOPIC, ""),
                int(headers.get(h.DLQ_PARTITION, "-1")),
                int(headers.get(h.DLQ_OFFSET, "-1")),
            )
            if key in expected:
                found[key] = headers | {
                    "value": record.value.decode("utf-8", "replace") if record.value else ""
                }
        return expected <= found.keys()

    await wait_for(all_dead_lettered, "every reader dead-lettering every malformed record", within_s=45)
    for consumer, topic, partition, offset in expected:
        headers = found[consumer, topic, partition, offset]
        kind = where[Written(topic, partition, offset)]
        assert headers[h.DLQ_REASON] == _reason(kind), (consumer, topic, kind, headers)
        assert headers[h.DLQ_ERROR], (consumer, topic, kind)
    assert len(found) == sum(6 * len(topics) for topics in READERS.values())

    # The consumers went on: a vacancy posted afterwards is searchable, matched and mailed.
    email = f"apres.{run}@example.org"
    person = samples.candidate(
        id=f"cand-bad-{run}",
        contact={"email": email, "channels": ["email"]},
        mobility_radius_km=40,
    )
    vacancy = samples.vacancy(
        id=f"vac-after-{run}", title=f"Aide-soignant(e) de nuit {run}", establishment=_own_establishment(run)
    )
    events = [
        _envelope("fr.vocation.candidate.registered.v1", person["id"], person),
        _envelope("fr.vocation.vacancy.posted.v1", vacancy["id"], vacancy),
    ]
    async with httpx.AsyncClient(timeout=30) as client:
        for event in events:
            answer = await client.post(
                f"{platform.urls['events']}/v1/events",
                content=json.dumps(event),
                headers={
                    "Authorization": f"Bearer {api_key}",
                    "Content-Type": "application/cloudevents+json",
                },
            )
            assert answer.status_code == 202, answer.text

        async def searchable() -> bool:
            answer = await client.get(
                f"{platform.urls['catalogue']}/v1/offers",
                params={"commune": samples.BOURG_EN_BRESSE, "rome": "J1501", "limit": 100, "q": run},
            )
            return answer.status_code == 200 and any(i["id"] == vacancy["id"] for i in answer.json()["items"])

        async def mailed() -> bool:
            answer = await client.get(f"{platform.mailbox_url}/api/messages")
            return any(email in m["to"] and run in m["subject"] for m in answer.json())

        await wait_for(searchable, "the vacancy in the catalogue's search", within_s=30)
        await wait_for(mailed, "the match email to the candidate", within_s=45)

    connection = await asyncpg.connect(platform.databases["events"])
    try:
        archived = await connection.fetchval(
            "SELECT count(*) FROM archived_events WHERE source = $1 AND event_id = ANY($2::text[])",
            SOURCE,
            [e["id"] for e in events],
        )
    finally:
        await connection.close()
    assert archived == len(events), "the archive stopped after the malformed records"
    assert time.monotonic() - started < 60


async def test_a_match_forged_straight_to_kafka_is_dead_lettered_and_never_emailed(
    platform: Platform, api_key: str
) -> None:
    """A system with Kafka access writes a match under a partner's source: nobody is emailed."""
    run = uuid.uuid4().hex[:8]
    candidate_id, email = f"cand-forged-{run}", f"cible.{run}@example.org"
    person = samples.candidate(id=candidate_id, contact={"email": email, "channels": ["email"]})
    registration = _envelope("fr.vocation.candidate.registered.v1", candidate_id, person)
    async with httpx.AsyncClient(timeout=30) as client:
        answer = await client.post(
            f"{platform.urls['events']}/v1/events",
            content=json.dumps(registration),
            headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/cloudevents+json"},
        )
        assert answer.status_code == 202, answer.text

        def found(offer: str, title: str, source: str) -> dict[str, Any]:
            data = samples.match_found(
                match_id=f"m-{offer}", candidate_id=candidate_id, offer_id=offer, offer_title=title
            )
            event_type = "fr.vocation.match.found.v1"
            now = datetime.now(UTC).isoformat()  # a match older than a week is never told
            return samples.cloud_event(
                event_type, candidate_id, data, id=f"found.{offer}", source=source, time=now
            )

        forged = found(f"vac-forged-{run}", f"Offre piégée {run}", SOURCE)
        genuine = found(f"vac-genuine-{run}", f"Offre vraie {run}", "urn:vocation:matching")
        key = candidate_id.encode()
        [where, _] = await produce_raw(
            platform.kafka_bootstrap,
            [
                (Topic.MATCHES, key, json.dumps(forged).encode()),
                (Topic.MATCHES, key, json.dumps(genuine).encode()),
            ],
        )

        async def subjects() -> list[str]:
            answer = await client.get(f"{platform.mailbox_url}/api/messages")
            return [m["subject"] for m in answer.json() if email in m["to"]]

        async def genuine_mailed() -> bool:
            return any(f"Offre vraie {run}" in s for s in await subjects())

        # The genuine match, written after the forged one on the same partition, is told: the
        # forged one was looked at, and not told.
        await wait_for(genuine_mailed, "the email of the genuine match", within_s=45)
        assert not [s for s in await subjects() if "piégée" in s]

    letters: list[dict[str, str]] = []

    async def dead_lettered() -> bool:
        letters.clear()
        for record in await read_topics(platform.kafka_bootstrap, [f"{Topic.MATCHES}.dlq"]):
            headers = h.decode_headers(record.headers)
            if headers.get(h.DLQ_OFFSET) == str(where.offset) and headers.get(h.DLQ_PARTITION) == str(
                where.partition
            ):
                letters.append(headers)
        return bool(letters)

    # Every reader of `matches` refuses it: notifications (it would email it) and the catalogue (it
    # would show its distance and reasons on the personal page).
    expected = {("notifications", "forged-source"), ("catalogue", "forged-source")}

    async def both_dead_lettered() -> bool:
        return await dead_lettered() and {(d[h.DLQ_CONSUMER], d[h.DLQ_REASON]) for d in letters} == expected

    await wait_for(both_dead_lettered, "the forged match refused by both readers", within_s=30)
    assert "published only with source urn:vocation:matching" in letters[0][h.DLQ_ERROR]
    assert not [v for d in letters for v in d.values() if email in v or "piégée" in v]
