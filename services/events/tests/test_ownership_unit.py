"""Partners share the platform: owners of entities, internal facts, events from the future (on fakes)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from vocation_events.core.ownership import Ref, decide
from vocation_events.core.partners import (
    Partner,
    ReservedSource,
    UnknownEventType,
    check_allowed_types,
    check_source,
)
from vocation_events.testing.fakes import OTHER_SOURCE, SOURCE, FakeWorld
from vocation_shared.contracts import events as ev
from vocation_shared.contracts.payloads import application_id_of
from vocation_shared.testing import samples

pytestmark = pytest.mark.unit

SINGLE = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
THIRD_SOURCE = "urn:partner:third"


@pytest.fixture
def world() -> FakeWorld:
    w = FakeWorld()
    w.partners.add("key-third", Partner("third", THIRD_SOURCE, frozenset({"*"})))
    return w


@pytest.fixture
async def http(world: FakeWorld) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=world.app), base_url="http://gw"
    ) as client:
        yield client


_SOURCES = {"key-all": SOURCE, "key-other": OTHER_SOURCE, "key-third": THIRD_SOURCE}


async def post(http: httpx.AsyncClient, key: str, body: Any, batch: bool = False) -> httpx.Response:
    return await http.post(
        "/v1/events/batch" if batch else "/v1/events",
        content=orjson.dumps(body),
        headers={"Content-Type": BATCH if batch else SINGLE, "Authorization": f"Bearer {key}"},
    )


def vacancy(
    key: str, vacancy_id: str, event_type: str = ev.VacancyPosted.TYPE, n: int = 1, **data: Any
) -> dict[str, Any]:
    return samples.cloud_event(
        event_type,
        vacancy_id,
        samples.vacancy(id=vacancy_id, version=n, **data),
        id=f"{key}-{vacancy_id}-{n}",
        source=_SOURCES[key],
    )


def establishment(key: str, establishment_id: str) -> dict[str, Any]:
    data = {
        "id": establishment_id,
        "siret": samples.SIRET_EHPAD_BOURG,
        "name": "EHPAD Les Tilleuls",
        "kind": "ehpad",
        "commune_insee": samples.BOURG_EN_BRESSE,
    }
    return samples.cloud_event(
        ev.EstablishmentRegistered.TYPE,
        establishment_id,
        data,
        id=f"{key}-{establishment_id}",
        source=_SOURCES[key],
    )


def candidate(key: str, candidate_id: str) -> dict[str, Any]:
    return samples.cloud_event(
        ev.CandidateRegistered.TYPE,
        candidate_id,
        samples.candidate(id=candidate_id),
        id=f"{key}-{candidate_id}",
        source=_SOURCES[key],
    )


def slot(key: str, slot_id: str) -> dict[str, Any]:
    data = {
        "id": slot_id,
        "establishment": samples.vacancy()["establishment"] | {"id": f"etab-{key}"},
        "rome_code": "J1501",
        "title": "Découvrir le métier d'aide-soignant",
        "commune_insee": samples.BOURG_EN_BRESSE,
        "start_date": "2026-12-14",
        "end_date": "2026-12-18",
        "capacity": 2,
        "places_left": 2,
    }
    return samples.cloud_event(
        ev.ImmersionSlotOffered.TYPE, slot_id, data, id=f"{key}-{slot_id}", source=_SOURCES[key]
    )


def request(key: str, request_id: str, slot_id: str, candidate_id: str) -> dict[str, Any]:
    data = {
        "request_id": request_id,
        "slot_id": slot_id,
        "candidate_id": candidate_id,
        "start_date": "2026-12-14",
        "end_date": "2026-12-18",
    }
    return samples.cloud_event(
        ev.ImmersionRequested.TYPE, slot_id, data, id=f"{key}-{request_id}", source=_SOURCES[key]
    )


def cancel(key: str, request_id: str, slot_id: str, by: str) -> dict[str, Any]:
    data = {"request_id": request_id, "slot_id": slot_id, "candidate_id": "cand-b", "cancelled_by": by}
    return samples.cloud_event(
        ev.ImmersionCancelled.TYPE, slot_id, data, id=f"{key}-cancel-{request_id}", source=_SOURCES[key]
    )


def answer(key: str, offer_id: str, candidate_id: str = "cand-x", **data: Any) -> dict[str, Any]:
    """The owner's recruiter screen proposes an exchange (an `application.answered`)."""
    pair = {"candidate_id": candidate_id, "offer_id": offer_id}
    payload = samples.application_answered(application_id=application_id_of(**pair), **pair) | data
    event_id, source = f"{key}-answer-{offer_id}", _SOURCES[key]
    return samples.cloud_event(ev.ApplicationAnswered.TYPE, candidate_id, payload, id=event_id, source=source)


def assert_refused(response: httpx.Response, status: int, kind: str, pointer: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == f"urn:vocation:problem:{kind}"
    assert [e["pointer"] for e in body["errors"]] == [pointer]


# --- owners ------------------------------------------------------------------------------------


async def test_another_partner_cannot_close_or_rewrite_a_vacancy_and_nothing_is_published(
    http: httpx.AsyncClient, world: FakeWorld
) -> None:
    assert (await post(http, "key-all", vacancy("key-all", "vac-a"))).status_code == 202
    written = len(world.sink.records)
    closing = vacancy("key-other", "vac-a", ev.VacancyClosed.TYPE, n=2, status="closed")
    assert_refused(await post(http, "key-other", closing), 403, "not-owner", "/subject")
    rewrite = vacancy("key-other", "vac-a", ev.VacancyUpdated.TYPE, n=3, title="Autre chose")
    assert_refused(await post(http, "key-other", rewrite), 403, "not-owner", "/subject")
    assert len(world.sink.records) == written
    # The refused event was not claimed: once the entities are given to it, the same event goes.
    world.db.owners[("vacancy", "vac-a")] = (OTHER_SOURCE, datetime.now(UTC))
    world.db.owners[("establishment", "etab-ehpad-bourg")] = (OTHER_SOURCE, datetime.now(UTC))
    assert (await post(http, "key-other", closing)).status_code == 202
    # and its former owner is refused in turn
    again = vacancy("key-all", "vac-a", ev.VacancyUpdated.TYPE, n=4)
    assert_refused(await post(http, "key-all", again), 403, "not-owner", "/subject")


async def test_in_a_batch_only_the_events_about_another_partners_entities_are_refused(
    http: httpx.AsyncClient, world: FakeWorld
) -> None:
    assert (await post(http, "key-all", vacancy("key-all", "vac-a"))).status_code == 202
    batch = [
        vacancy("key-other", "vac-b", establishment={**samples.vacancy()["establishment"], "id": "etab-b"}),
        vacancy("key-other", "vac-a", ev.VacancyClosed.TYPE, n=2, status="closed"),
        vacancy("key-other", "vac-c", establishment={**samples.vacancy()["establishment"], "id": "etab-b"}),
    ]
    response = await post(http, "key-other", batch, batch=True)
    assert response.status_code == 202
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["accepted", "rejected", "accepted"]
    problem = results[1]["problem"]
    assert (problem["status"], problem["type"]) == (403, "urn:vocation:problem:not-owner")
    assert problem["errors"][0]["pointer"] == "/subject"
    assert [r.key for r in world.sink.records] == [b"vac-a", b"vac-b", b"vac-c"]
    assert (OTHER_SOURCE, "key-other-vac-a-2") not in world.db.accepted


async def test_a_vacancy_cannot_take_another_partners_establishment(
    http: httpx.AsyncClient, world: FakeWorld
) -> None:
    assert (await post(http, "key-all", establishment("key-all", "etab-a"))).status_code == 202
    ref = {**samples.vacancy()["establishment"], "id": "etab-a"}
    response = await post(http, "key-other", vacancy("key-other", "vac-b", establishment=ref))
    assert_refused(response, 403, "not-owner", "/data/establishment/id")
    # an establishment first named by a vacancy belongs to the vacancy's publisher
    ref = {**samples.vacancy()["establishment"], "id": "etab-new"}
    assert (
        await post(http, "key-other", vacancy("key-other", "vac-c", establishment=ref))
    ).status_code == 202
    assert_refused(
        await post(http, "key-all", establishment("key-all", "etab-new")), 403, "not-owner", "/subject"
    )
    assert ("vacancy", "vac-b") not in world.db.owners  # the refused event claimed nothing


async def test_candidates_and_their_contacts_belong_to_their_partner(http: httpx.AsyncClient) -> None:
    assert (await post(http, "key-all", candidate("key-all", "cand-a"))).status_code == 202
    withdrawal = samples.cloud_event(
        ev.CandidateWithdrawn.TYPE,
        "cand-a",
        {"candidate_id": "cand-a", "erasure_requested": True},
        id="erase-a",
        source=OTHER_SOURCE,
    )
    assert_refused(await post(http, "key-other", withdrawal), 403, "not-owner", "/subject")
    contact = samples.cloud_event(
        ev.ContactRegistered.TYPE,
        "cand-a",
        {"candidate_id": "cand-a", "email": "autre@example.org", "channels": ["email"]},
        id="contact-a",
        source=OTHER_SOURCE,
    )
    assert_refused(await post(http, "key-other", contact), 403, "not-owner", "/subject")


async def test_an_immersion_request_is_for_the_requesters_own_candidate(http: httpx.AsyncClient) -> None:
    assert (await post(http, "key-all", candidate("key-all", "cand-a"))).status_code == 202
    assert (await post(http, "key-all", slot("key-all", "slot-a"))).status_code == 202
    response = await post(http, "key-other", request("key-other", "req-1", "slot-a", "cand-a"))
    assert_refused(response, 403, "not-owner", "/data/candidate_id")
    # its own candidate, on another partner's slot: that is what immersions are for
    assert (await post(http, "key-other", candidate("key-other", "cand-b"))).status_code == 202
    assert (
        await post(http, "key-other", request("key-other", "req-2", "slot-a", "cand-b"))
    ).status_code == 202
    # and the request id is the requester's: no one else may reuse it
    assert_refused(
        await post(http, "key-third", request("key-third", "req-2", "slot-a", "cand-c")),
        403,
        "not-owner",
        "/data/request_id",
    )


async def test_the_requester_and_the_slots_owner_may_cancel_a_request_no_one_else(
    http: httpx.AsyncClient,
) -> None:
    assert (await post(http, "key-all", slot("key-all", "slot-a"))).status_code == 202
    assert (
        await post(http, "key-other", request("key-other", "req-1", "slot-a", "cand-b"))
    ).status_code == 202
    assert (
        await post(http, "key-other", request("key-other", "req-2", "slot-a", "cand-b2"))
    ).status_code == 202
    assert_refused(
        await post(http, "key-third", cancel("key-third", "req-1", "slot-a", "operator")),
        403,
        "not-owner",
        "/data/request_id",
    )
    assert (
        await post(http, "key-other", cancel("key-other", "req-1", "slot-a", "candidate"))
    ).status_code == 202
    assert (await post(http, "key-all", cancel("key-all", "req-2", "slot-a", "host"))).status_code == 202


@pytest.mark.parametrize("batch", [False, True])
async def test_only_the_vacancys_owner_answers_its_applications_and_nothing_else_is_published(
    http: httpx.AsyncClient, world: FakeWorld, batch: bool
) -> None:
    assert (await post(http, "key-all", vacancy("key-all", "vac-a"))).status_code == 202
    written = len(world.sink.records)
    response = await post(
        http,
        "key-other",
        [answer("key-other", "vac-a")] if batch else answer("key-other", "vac-a"),
        batch=batch,
    )
    problem = response.json()["results"][0]["problem"] if batch else response.json()
    if not batch:
        assert_refused(response, 403, "not-owner", "/data/offer_id")
    assert (problem["status"], problem["type"]) == (403, "urn:vocation:problem:not-owner")
    assert problem["errors"][0]["pointer"] == "/data/offer_id"
    assert "cand-x" not in orjson.dumps(problem).decode()  # nothing about the candidate in the answer
    assert len(world.sink.records) == written
    assert (OTHER_SOURCE, "key-other-answer-vac-a") not in world.db.accepted
    # The owner answers, about a candidate another partner registered: only the offer counts.
    assert (await post(http, "key-other", candidate("key-other", "cand-x"))).status_code == 202
    response = await post(
        http, "key-all", [answer("key-all", "vac-a")] if batch else answer("key-all", "vac-a"), batch=batch
    )
    assert response.status_code == 202
    if batch:
        assert response.json()["results"][0]["status"] == "accepted"
    record = world.sink.records[-1]
    assert (record.topic, record.key) == (
        "applications",
        f"cand-x/{application_id_of('cand-x', 'vac-a')}".encode(),
    )


async def test_an_answer_about_a_vacancy_no_one_owns_is_refused_and_claims_nothing(
    http: httpx.AsyncClient, world: FakeWorld
) -> None:
    response = await post(http, "key-all", answer("key-all", "vac-unknown"))
    assert_refused(response, 403, "not-owner", "/data/offer_id")
    # the same answer as for another partner's vacancy: it tells nothing about who owns what
    assert "is not one of this partner's" in response.json()["detail"]
    assert ("vacancy", "vac-unknown") not in world.db.owners
    assert world.sink.records == []


async def test_an_answer_whose_application_id_is_not_the_pairs_is_422(http: httpx.AsyncClient) -> None:
    assert (await post(http, "key-all", vacancy("key-all", "vac-a"))).status_code == 202
    forged = answer("key-all", "vac-a", application_id=application_id_of("cand-other", "vac-a"))
    response = await post(http, "key-all", forged)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_transfer_of_the_vacancy_moves_the_right_to_answer(
    http: httpx.AsyncClient, world: FakeWorld
) -> None:
    assert (await post(http, "key-all", vacancy("key-all", "vac-a"))).status_code == 202
    world.db.owners[("vacancy", "vac-a")] = (OTHER_SOURCE, datetime.now(UTC))
    assert_refused(
        await post(http, "key-all", answer("key-all", "vac-a")), 403, "not-owner", "/data/offer_id"
    )
    assert (await post(http, "key-other", answer("key-other", "vac-a"))).status_code == 202


def test_a_required_ref_refuses_unless_the_source_owns_it_and_never_claims() -> None:
    mine, theirs = "urn:partner:me", "urn:partner:them"
    required = Ref("vacancy", "v1", "/data/offer_id", claims=False, required=True)
    refs = [(required,), (required._replace(entity_id="v2"),), (required._replace(entity_id="v3"),)]
    refused, claim = decide(refs, {("vacancy", "v1"): mine, ("vacancy", "v2"): theirs}, mine)
    assert refused == {1: (0, theirs), 2: (0, None)}
    assert claim == []


def test_decide_claims_each_unowned_entity_once_sorted_and_nothing_for_refused_events() -> None:
    mine, theirs = "urn:partner:me", "urn:partner:them"
    refs = [
        (Ref("vacancy", "v2", "/subject"), Ref("establishment", "e1", "/data/establishment/id")),
        (Ref("vacancy", "v1", "/subject"), Ref("establishment", "e1", "/data/establishment/id")),
        (Ref("vacancy", "v3", "/subject"), Ref("establishment", "e9", "/data/establishment/id")),
    ]
    refused, claim = decide(refs, {("establishment", "e9"): theirs}, mine)
    assert refused == {2: (1, theirs)}
    assert claim == [("establishment", "e1"), ("vacancy", "v1"), ("vacancy", "v2")]


def test_every_partner_type_has_an_owned_entity() -> None:
    from vocation_events.core.ownership import (
        _SUBJECT_KIND,
        APPLICATION_ANSWERED,
        IMMERSION_CANCELLED,
        IMMERSION_REQUESTED,
    )
    from vocation_shared.contracts.events import EVENT_TYPES
    from vocation_shared.contracts.producers import is_partner_type

    partner_types = {t for t in EVENT_TYPES if is_partner_type(t)}
    assert partner_types == {*_SUBJECT_KIND, IMMERSION_REQUESTED, IMMERSION_CANCELLED, APPLICATION_ANSWERED}


# --- GET /v1/entities --------------------------------------------------------------------------


async def test_a_partner_reads_its_own_entities_page_by_page(http: httpx.AsyncClient) -> None:
    for n in range(5):
        assert (await post(http, "key-all", vacancy("key-all", f"vac-a{n}"))).status_code == 202
    assert (
        await post(
            http,
            "key-other",
            vacancy(
                "key-other", "vac-b0", establishment={**samples.vacancy()["establishment"], "id": "etab-b"}
            ),
        )
    ).status_code == 202
    headers = {"Authorization": "Bearer key-all"}
    page = (await http.get("/v1/entities", params={"kind": "vacancy", "limit": 3}, headers=headers)).json()
    assert [i["id"] for i in page["items"]] == ["vac-a0", "vac-a1", "vac-a2"]
    rest = (await http.get(page["next"], headers=headers)).json()
    assert [i["id"] for i in rest["items"]] == ["vac-a3", "vac-a4"]
    assert rest["next"] is None
    theirs = (await http.get("/v1/entities?kind=vacancy", headers={"X-API-Key": "key-other"})).json()
    assert [i["id"] for i in theirs["items"]] == ["vac-b0"]
    establishments = (await http.get("/v1/entities?kind=establishment", headers=headers)).json()
    assert [i["id"] for i in establishments["items"]] == ["etab-ehpad-bourg"]


async def test_entities_of_an_unknown_kind_or_without_a_key_are_problems(http: httpx.AsyncClient) -> None:
    response = await http.get("/v1/entities?kind=vacancies", headers={"Authorization": "Bearer key-all"})
    assert_refused(response, 422, "invalid-request", "/query/kind")
    response = await http.get("/v1/entities?kind=vacancy")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    response = await http.get("/v1/entities", headers={"Authorization": "Bearer key-all"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


# --- internal facts ----------------------------------------------------------------------------


def match_found() -> dict[str, Any]:
    data = {
        "match_id": "m-1",
        "candidate_id": "cand-a",
        "offer_id": "vac-1",
        "offer_kind": "vacancy",
        "offer_version": 1,
        "offer_title": "Cliquez ici",
        "rome_code": "J1501",
        "commune_insee": "01053",
        "distance_km": 12.5,
        "score": 80,
        "reasons": ["à 12 km de chez vous"],
    }
    return samples.cloud_event(ev.MatchFound.TYPE, "cand-a", data, id="m-1", source=SOURCE)


@pytest.mark.parametrize("batch", [False, True])
async def test_an_internal_fact_is_403_whatever_the_partners_rights(
    http: httpx.AsyncClient, world: FakeWorld, batch: bool
) -> None:
    # A partner stored with an internal type in its rights (created before the check) still cannot.
    world.partners.add("key-old", Partner("old", SOURCE, frozenset({ev.MatchFound.TYPE, "*"})))
    response = await post(http, "key-old", [match_found()] if batch else match_found(), batch=batch)
    if batch:
        problem = response.json()["results"][0]["problem"]
        assert (problem["status"], problem["type"]) == (403, "urn:vocation:problem:forbidden")
        assert problem["errors"][0]["pointer"] == "/type"
    else:
        assert_refused(response, 403, "forbidden", "/type")
        assert "internal fact" in response.json()["detail"]
    assert world.sink.records == []


def consent(origin: str) -> dict[str, Any]:
    data = {
        "candidate_id": "cand-a",
        "email": "a@example.org",
        "channels": [],
        "change": {
            "channel": "email",
            "consented": False,
            "origin": origin,
            "at": "2026-11-22T08:00:00+01:00",
        },
    }
    return samples.cloud_event(ev.ConsentUpdated.TYPE, "cand-a", data, id=f"consent-{origin}", source=SOURCE)


@pytest.mark.parametrize("origin", ["sms_stop", "email_unsubscribe"])
@pytest.mark.parametrize("batch", [False, True])
async def test_a_consent_change_only_the_platform_states_is_403(
    http: httpx.AsyncClient, world: FakeWorld, origin: str, batch: bool
) -> None:
    response = await post(http, "key-all", [consent(origin)] if batch else consent(origin), batch=batch)
    if batch:
        problem = response.json()["results"][0]["problem"]
        assert problem["status"] == 403
        assert problem["errors"][0]["pointer"] == "/data/change/origin"
    else:
        assert_refused(response, 403, "forbidden", "/data/change/origin")
    assert world.sink.records == []


async def test_a_partners_own_consent_change_is_accepted(http: httpx.AsyncClient) -> None:
    assert (await post(http, "key-all", consent("partner"))).status_code == 202


def test_star_means_partner_types_and_internal_types_are_refused_at_creation() -> None:
    everything = Partner("p", SOURCE, check_allowed_types(["*"]))
    assert everything.may_send(ev.VacancyPosted.TYPE)
    assert not everything.may_send(ev.MatchFound.TYPE)
    assert not everything.may_send(ev.ImmersionBooked.TYPE)
    with pytest.raises(UnknownEventType, match="internal facts"):
        check_allowed_types([ev.VacancyPosted.TYPE, ev.MatchFound.TYPE])
    with pytest.raises(ReservedSource):
        check_source("urn:vocation:matching")
    assert check_source("urn:partner:ain") == "urn:partner:ain"


# --- time --------------------------------------------------------------------------------------


@pytest.mark.parametrize("batch", [False, True])
async def test_an_event_from_the_future_is_422_at_time(
    http: httpx.AsyncClient, world: FakeWorld, batch: bool
) -> None:
    ahead = (datetime.now(UTC) + timedelta(days=365)).isoformat()
    event = vacancy("key-all", "vac-f") | {"time": ahead}
    response = await post(http, "key-all", [event] if batch else event, batch=batch)
    if batch:
        problem = response.json()["results"][0]["problem"]
        assert (problem["status"], problem["type"]) == (422, "urn:vocation:problem:time-in-the-future")
        assert problem["errors"][0]["pointer"] == "/time"
    else:
        assert_refused(response, 422, "time-in-the-future", "/time")
    assert world.sink.records == []


async def test_a_clock_a_few_minutes_ahead_is_tolerated(http: httpx.AsyncClient) -> None:
    ahead = (datetime.now(UTC) + timedelta(minutes=4)).isoformat()
    assert (await post(http, "key-all", vacancy("key-all", "vac-f") | {"time": ahead})).status_code == 202


async def test_an_entity_whose_first_event_was_not_accepted_is_not_owned(
    http: httpx.AsyncClient, world: FakeWorld
) -> None:
    world.sink.down = True  # Kafka unreachable: 503, the claim transaction rolls back
    assert (await post(http, "key-all", vacancy("key-all", "vac-x"))).status_code == 503
    world.sink.down = False
    assert world.db.owners == {}
    establishment = {**samples.vacancy()["establishment"], "id": "etab-b"}
    response = await post(http, "key-other", vacancy("key-other", "vac-x", establishment=establishment))
    assert response.status_code == 202
