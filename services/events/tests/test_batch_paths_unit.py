"""A batch validated from its bytes in one pass answers exactly as the per-event path does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from vocation_events.core.ingestion import validate_batch
from vocation_events.settings import EventsSettings
from vocation_events.testing.fakes import SOURCE, FakeWorld
from vocation_shared.contracts import events as ev
from vocation_shared.testing import samples

pytestmark = pytest.mark.unit

BATCH = "application/cloudevents-batch+json"
CONTACT = {"email": "jeanne.martin@example.fr", "phone": "+33 6 12 34 56 78", "channels": ["email"]}


def vacancy(n: int, data: dict[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    event = samples.cloud_event(
        "fr.vocation.vacancy.posted.v1", f"vac-{n}", data or samples.vacancy(id=f"vac-{n}"), id=f"evt-{n}"
    )
    return {**event, "source": SOURCE, **overrides}


def registration(n: int) -> dict[str, Any]:
    return samples.cloud_event(
        "fr.vocation.candidate.registered.v1",
        f"cand-{n}",
        samples.candidate(id=f"cand-{n}", contact=CONTACT),
        id=f"reg-{n}",
        source=SOURCE,
    )


@pytest.fixture
async def clients() -> AsyncIterator[tuple[FakeWorld, httpx.AsyncClient, FakeWorld, httpx.AsyncClient]]:
    """A gateway taking the one-pass path, and one forced onto the per-event path.

    The fakes' rate limiter holds 2,000 events: with a limit of 5,000 events per batch the
    gateway cannot be sure to grant a full batch, so it parses and checks event by event.
    """
    fast, slow = FakeWorld(), FakeWorld(EventsSettings(max_batch_events=5000))
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=fast.app), base_url="http://gw") as a,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=slow.app), base_url="http://gw") as b,
    ):
        yield fast, a, slow, b


async def both(
    clients: tuple[FakeWorld, httpx.AsyncClient, FakeWorld, httpx.AsyncClient],
    body: bytes,
    key: str = "key-all",
) -> tuple[httpx.Response, httpx.Response]:
    fast, a, slow, b = clients
    headers = {"Content-Type": BATCH, "Authorization": f"Bearer {key}"}
    one = await a.post("/v1/events/batch", content=body, headers=headers)
    two = await b.post("/v1/events/batch", content=body, headers=headers)
    assert one.status_code == two.status_code, (one.text, two.text)
    assert one.json() == two.json()
    assert [(r.topic, r.key, r.value, list(r.headers)) for r in fast.sink.records] == [
        (r.topic, r.key, r.value, list(r.headers)) for r in slow.sink.records
    ]
    return one, two


MIXED = [
    vacancy(1),
    vacancy(2, data=samples.vacancy(id="vac-2", rome_code="Q0000", posts=0)),
    vacancy(1),
    "not an event",
    17,
    None,
    [],
    {"type": "fr.vocation.nothing.v1"},
    {"type": 3},
    vacancy(4, source="urn:partner:other"),
    vacancy(5, time="2026-11-22T08:00:00"),
    vacancy(6, subject="vac-7"),
    registration(8),
    vacancy(9, data=samples.vacancy(id="vac-9", title="  Aide-soignant  ", rome_code="j1501")),
    {**vacancy(10), "extra": True},
    vacancy(11, data={**samples.vacancy(id="vac-11"), "end_date": None}),
]


async def test_a_mixed_batch_answers_and_writes_the_same_on_both_paths(clients: Any) -> None:
    assert validate_batch(orjson.dumps(MIXED)) is not None  # the one-pass path reads it
    one, _ = await both(clients, orjson.dumps(MIXED))
    statuses = [r["status"] for r in one.json()["results"]]
    assert statuses.count("accepted") == 4
    fast = clients[0]
    # The privacy split holds on the one-pass path: the profile has no contact.
    profiles = [r for r in fast.sink.records if r.topic == "candidates"]
    assert profiles and all(b"example.fr" not in (r.value or b"") for r in profiles)


async def test_a_batch_of_valid_events_takes_the_one_pass_path(clients: Any) -> None:
    body = orjson.dumps([vacancy(n) for n in range(20)] + [registration(99)])
    result = validate_batch(body)
    assert result is not None
    items, models = result
    assert all(type(item) in models for item in items)
    one, _ = await both(clients, body)
    assert one.json()["accepted"] == 21


async def test_a_forbidden_type_is_403_per_event_on_both_paths(clients: Any) -> None:
    one, _ = await both(
        clients,
        orjson.dumps(
            [
                vacancy(1),
                samples.cloud_event(
                    "fr.vocation.vacancy.closed.v1", "vac-2", samples.vacancy(id="vac-2"), source=SOURCE
                ),
            ]
        ),
        key="key-vac",
    )
    problem = one.json()["results"][1]["problem"]
    assert problem["status"] == 403 and one.json()["results"][1]["id"] == "evt-vac-2"


@pytest.mark.parametrize(
    "body",
    [
        b"[" + orjson.dumps(vacancy(1)).replace(b'"posts":2', b'"posts":NaN') + b"]",
        b"[" + orjson.dumps(vacancy(1)).replace(b'"posts":2', b'"posts":Infinity') + b"]",
        b"[" + orjson.dumps(vacancy(1)) + b", NaN]",
        b"[" + orjson.dumps(vacancy(1)) + b", 1e400]",
        b"[" + orjson.dumps(vacancy(1)) + b",]",
        b'{"not": "an array"}',
        b"[]",
        b"[" + orjson.dumps(vacancy(1)) + b"] trailing",
        b"\xef\xbb\xbf[]",
        b'["\\ud800"]',
        b"[" * 600 + b"]" * 600,
    ],
)
async def test_bodies_that_only_one_parser_takes_answer_as_before(clients: Any, body: bytes) -> None:
    await both(clients, body)


async def test_a_float_bounded_on_one_side_is_never_taken_from_an_overflowing_number(clients: Any) -> None:
    data = {
        "match_id": "m-1",
        "candidate_id": "cand-1",
        "offer_id": "vac-1",
        "offer_kind": "vacancy",
        "offer_version": 1,
        "offer_title": "Aide-soignant(e)",
        "rome_code": "J1501",
        "commune_insee": "01053",
        "distance_km": 12.5,
        "score": 80,
        "reasons": ["à 12 km de chez vous"],
    }
    event = samples.cloud_event(ev.MatchFound.TYPE, "cand-1", data, id="m-1", source=SOURCE)
    body = orjson.dumps([event])
    one, _ = await both(clients, body)
    # An internal fact now (matching publishes it): refused whatever the partner's rights, on both paths.
    assert one.json()["results"][0]["problem"]["errors"][0]["pointer"] == "/type"
    one, _ = await both(clients, body.replace(b'"distance_km":12.5', b'"distance_km":1e400'))
    assert one.status_code == 400


async def test_too_many_events_is_413_on_both_paths(clients: Any) -> None:
    fast, a, _, _ = clients
    body = orjson.dumps([vacancy(n) for n in range(fast.settings.max_batch_events + 1)])
    response = await a.post(
        "/v1/events/batch", content=body, headers={"Content-Type": BATCH, "Authorization": "Bearer key-all"}
    )
    assert response.status_code == 413


async def test_a_siret_of_non_ascii_digits_is_422_not_a_server_error(clients: Any) -> None:
    establishment = {**samples.vacancy()["establishment"], "siret": "²2345678901234"}
    body = orjson.dumps([vacancy(1, data=samples.vacancy(id="vac-1", establishment=establishment))])
    one, _ = await both(clients, body)
    problem = one.json()["results"][0]["problem"]
    assert problem["status"] == 422
    assert [e["pointer"] for e in problem["errors"]] == ["/data/establishment/siret"]
