"""Against the real database: search filters, distances on real communes, ordering and stable pages."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from vocation_catalogue.adapters.http import create_http_app
from vocation_catalogue.adapters.postgres import search as postgres_search
from vocation_catalogue.adapters.postgres.search import PostgresSearch
from vocation_catalogue.core.search import Catalogue, QueryError, SearchParams, Sort, build_query
from vocation_catalogue.handlers import Handlers
from vocation_catalogue.testing import (
    NOW,
    FakeSink,
    days,
    fixed_clock,
    slot_event,
    training_event,
    vacancy_event,
)
from vocation_catalogue.testing.harness import postgres_handlers
from vocation_shared.contracts import events as ev
from vocation_shared.contracts import payloads as p
from vocation_shared.reference import haversine_km
from vocation_shared.testing import samples

pytestmark = pytest.mark.integration

BOURG = (46.20513, 5.22523)
NORTH_OF_BOURG = {"lat": 46.30, "lon": 5.23}
# Great-circle distances computed by hand (haversine, R = 6371.0088 km) from the town halls.
BOURG_TO_AMBERIEU_KM = 29.336
BOURG_TO_MONT_DE_MARSAN_KM = 517.836


@pytest.fixture
async def handlers(pool: asyncpg.Pool) -> Handlers:
    """Handlers writing to the test database (bookings unused here)."""
    return postgres_handlers(pool, FakeSink())


@pytest.fixture
async def client(pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the catalogue's API, without the network."""
    app = create_http_app(PostgresSearch(pool, clock=fixed_clock()), [])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://catalogue") as opened:
        yield opened


async def _seed_territory(handlers: Handlers) -> None:
    """Vacancies at Bourg-en-Bresse, just north of it, Ambérieu-en-Bugey and Mont-de-Marsan."""
    events = [
        vacancy_event("v-bourg", at=NOW - days(3)),
        vacancy_event("v-north", position=NORTH_OF_BOURG, title="Aide-soignant de jour", at=NOW - days(4)),
        vacancy_event(
            "v-amberieu",
            rome_code="J1506",
            title="Infirmière de jour en EHPAD",
            contract_type="cdd",
            end_date="2027-06-30",
            required_diploma="DEI",
            schedule={"night": False, "weekend": False},
            housing_offered=False,
            commune_insee=samples.AMBERIEU_EN_BUGEY,
            at=NOW - days(1),
        ),
        vacancy_event(
            "v-landes",
            title="Apprenti aide-soignant",
            contract_type="apprentissage",
            end_date="2028-08-31",
            commune_insee=samples.MONT_DE_MARSAN,
            housing_offered=False,
            at=NOW - days(2),
        ),
        vacancy_event("v-closed", at=NOW - days(5)),
        vacancy_event("v-closed", version=2, kind=ev.VacancyClosed, status="closed", at=NOW),
    ]
    for event in events:
        await handlers.on_entity(event)


async def _ids(client: httpx.AsyncClient, **params: Any) -> list[str]:
    answer = await client.get("/v1/offers", params=params)
    assert answer.status_code == 200, answer.text
    return [item["id"] for item in answer.json()["items"]]


async def test_search_around_bourg_finds_offers_within_the_radius_nearest_first_with_their_distance(
    handlers: Handlers, client: httpx.AsyncClient
) -> None:
    await _seed_territory(handlers)
    answer = await client.get("/v1/offers", params={"commune": "01053", "radius_km": 50})
    assert answer.status_code == 200
    items = answer.json()["items"]
    north_km = haversine_km(*BOURG, NORTH_OF_BOURG["lat"], NORTH_OF_BOURG["lon"])
    assert [(i["id"], i["distance_km"]) for i in items] == [
        ("v-bourg", 0.0),
        ("v-north", pytest.approx(north_km, abs=1e-3)),
        ("v-amberieu", pytest.approx(BOURG_TO_AMBERIEU_KM, abs=1e-3)),
    ]
    assert items[2]["commune_name"] == "Ambérieu-en-Bugey"
    assert items[2]["metier_label"]


async def test_radius_just_below_the_distance_leaves_the_farther_commune_out(
    handlers: Handlers, client: httpx.AsyncClient
) -> None:
    await _seed_territory(handlers)
    assert await _ids(client, commune="01053", radius_km=29.3) == ["v-bourg", "v-north"]
    assert await _ids(client, commune="01053", radius_km=29.4) == ["v-bourg", "v-north", "v-amberieu"]


async def test_search_by_position_with_the_largest_radius_reaches_two_hundred_km_only(
    handlers: Handlers, client: httpx.AsyncClient
) -> None:
    await _seed_territory(handlers)
    answer = await client.get("/v1/offers", params={"lat": 43.89348, "lon": -0.49978, "radius_km": 200})
    [only] = answer.json()["items"]
    assert only["id"] == "v-landes"
    assert only["distance_km"] == pytest.approx(0.0, abs=1e-6)
    far = haversine_km(*BOURG, 43.89348, -0.49978)
    assert far == pytest.approx(BOURG_TO_MONT_DE_MARSAN_KM, abs=1e-3)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"contract": "cdd"}, ["v-amberieu"]),
        ({"contract": ["cdi", "apprentissage"]}, ["v-landes", "v-bourg", "v-north"]),
        ({"night": "false"}, ["v-amberieu"]),
        ({"night": "true", "weekend": "true"}, ["v-landes", "v-bourg", "v-north"]),
        ({"housing": "true"}, ["v-bourg", "v-north"]),
        ({"apprenticeship": "true"}, ["v-landes"]),
        ({"departement": "40"}, ["v-landes"]),
        ({"rome": "J1506"}, ["v-amberieu"]),
        ({"rome": "J1506,J1501", "departement": "01"}, ["v-amberieu", "v-bourg", "v-north"]),
        ({"q": "infirmiere"}, ["v-amberieu"]),
        ({"q": "de la", "sort": "date"}, ["v-amberieu", "v-landes", "v-bourg", "v-north"]),
        ({"q": "aide soign", "sort": "date"}, ["v-landes", "v-bourg", "v-north"]),
        ({"working_time": "full_time", "contract": "cdi", "commune": "01053"}, ["v-bourg", "v-north"]),
    ],
)
async def test_filters_select_the_matching_open_offers_newest_first(
    handlers: Handlers, client: httpx.AsyncClient, params: dict[str, Any], expected: list[str]
) -> None:
    await _seed_territory(handlers)
    assert await _ids(client, **params) == expected


async def test_relevance_puts_the_best_text_match_first(
    handlers: Handlers, client: httpx.AsyncClient
) -> None:
    await _seed_territory(handlers)
    ids = await _ids(client, q="aide soignant jour", sort="relevance")
    assert ids == ["v-north"]
    ids = await _ids(client, q="aide soignant", sort="relevance")
    assert set(ids) == {"v-bourg", "v-north", "v-landes"}


async def test_closed_vacancy_leaves_search_at_once_but_stays_readable(
    handlers: Handlers, client: httpx.AsyncClient
) -> None:
    await _seed_territory(handlers)
    assert "v-bourg" in await _ids(client, commune="01053")
    await handlers.on_entity(vacancy_event("v-bourg", version=2, kind=ev.VacancyClosed, status="filled"))
    assert "v-bourg" not in await _ids(client, commune="01053")
    answer = await client.get("/v1/offers/v-bourg")
    assert answer.status_code == 200
    assert (answer.json()["status"], answer.json()["version"]) == ("filled", 2)
    assert (await client.get("/v1/offers/v-nothing")).status_code == 404


async def test_offer_detail_adds_the_establishment_without_its_contact_address(
    handlers: Handlers, client: httpx.AsyncClient
) -> None:
    await handlers.on_entity(vacancy_event("v-1", contract_type="apprentissage", end_date="2028-06-30"))
    establishment = p.Establishment(
        id="etab-ehpad-bourg",
        siret=samples.SIRET_EHPAD_BOURG,
        name="EHPAD Les Tilleuls",
        kind="ehpad",
        commune_insee=samples.BOURG_EN_BRESSE,
        address="12 rue des Tilleuls",
        immersion_contact_email="tutrice@ehpad-tilleuls.example.org",
    )
    await handlers.on_entity(ev.EstablishmentRegistered.build(establishment, source="urn:test:partner"))
    answer = await client.get("/v1/offers/v-1")
    offer = answer.json()
    assert offer["establishment"]["address"] == "12 rue des Tilleuls"
    assert offer["offer_kind"] == "apprenticeship"
    assert "tutrice" not in answer.text


async def test_an_immersion_slot_is_served_without_its_tutors_name(
    handlers: Handlers, client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    await handlers.on_entity(slot_event("s-tutor", tutor_name="Claire Mercier"))
    listed = await client.get("/v1/immersions", params={"commune": "01053"})
    one = await client.get("/v1/immersions/s-tutor")
    assert [i["id"] for i in listed.json()["items"]] == ["s-tutor"]
    assert one.json()["establishment"]["name"] == "EHPAD Les Tilleuls" and one.json()["commune_name"]
    for answer in (listed, one):
        assert answer.status_code == 200 and "Mercier" not in answer.text
    stored = await pool.fetchval("SELECT data->>'tutor_name' FROM immersion_slots WHERE id = 's-tutor'")
    assert stored == "Claire Mercier", "kept for the slot's state the catalogue republishes"


async def test_a_vacancy_dated_in_2099_is_as_new_as_its_arrival_and_does_not_pin_the_top(
    handlers: Handlers, client: httpx.AsyncClient
) -> None:
    """A partner writing straight to Kafka sets `time` far ahead: the date order must not trust it."""
    await _seed_territory(handlers)
    await handlers.on_entity(vacancy_event("v-2099", at=datetime(2099, 1, 1, tzinfo=UTC)))
    await handlers.on_entity(vacancy_event("v-later", at=datetime.now(UTC)))
    items = (await client.get("/v1/offers", params={"sort": "date"})).json()["items"]
    assert [i["id"] for i in items][:2] == ["v-later", "v-2099"]
    assert datetime.fromisoformat(items[1]["posted_at"]) <= datetime.now(UTC)
    # A later version with a sane time keeps the earliest date seen, clamped as it was.
    await handlers.on_entity(vacancy_event("v-2099", version=2, kind=ev.VacancyUpdated, at=NOW))
    assert (await _ids(client, sort="date"))[0] == "v-later"


async def test_pages_follow_each_other_without_gap_or_repeat_even_with_equal_distances(
    handlers: Handlers, client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    for n in range(23):
        commune = samples.BOURG_EN_BRESSE if n % 2 else samples.AMBERIEU_EN_BUGEY
        await handlers.on_entity(vacancy_event(f"v-{n:02d}", commune_insee=commune, at=NOW - days(n % 4)))
    for sort in ("distance", "date"):
        everything = await _ids(client, commune="01053", sort=sort, limit=100)
        assert len(everything) == 23
        seen: list[str] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"commune": "01053", "sort": sort, "limit": 5}
            if cursor:
                params["cursor"] = cursor
            page = (await client.get("/v1/offers", params=params)).json()
            seen += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == everything


async def test_cursor_of_another_search_is_refused(handlers: Handlers, client: httpx.AsyncClient) -> None:
    for n in range(3):
        await handlers.on_entity(vacancy_event(f"v-{n}"))
    page = (await client.get("/v1/offers", params={"commune": "01053", "limit": 1})).json()
    answer = await client.get("/v1/offers", params={"commune": "01004", "cursor": page["next_cursor"]})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["parameter"] == "cursor"


async def test_distance_search_uses_the_position_index(pool: asyncpg.Pool) -> None:
    search = PostgresSearch(pool, clock=fixed_clock())
    query = build_query(Catalogue.VACANCIES, SearchParams(commune="01053", radius_km=50, sort=Sort.DISTANCE))
    sql, args = search.sql(query)
    async with pool.acquire() as conn:
        await conn.execute("SET enable_seqscan = off")
        plan = "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN {sql}", *args))
    assert "vacancies_open_position" in plan


async def test_immersions_list_open_slots_with_places_left_around_a_place(
    handlers: Handlers, client: httpx.AsyncClient
) -> None:
    await handlers.on_entity(slot_event("s-open"))
    await handlers.on_entity(slot_event("s-full", places_left=0))
    await handlers.on_entity(slot_event("s-past", start_date="2026-11-02", end_date="2026-11-13"))
    await handlers.on_entity(slot_event("s-far", commune_insee=samples.MONT_DE_MARSAN))
    answer = await client.get("/v1/immersions", params={"commune": "01004"})
    items = answer.json()["items"]
    assert [(i["id"], i["distance_km"]) for i in items] == [
        ("s-open", pytest.approx(BOURG_TO_AMBERIEU_KM, abs=1e-3))
    ]
    assert items[0]["places_left"] == 5
    assert (await client.get("/v1/immersions/s-full")).json()["status"] == "filled"


async def test_trainings_list_sessions_still_open_for_applications(
    handlers: Handlers, client: httpx.AsyncClient
) -> None:
    await handlers.on_entity(training_event("t-open"))
    await handlers.on_entity(training_event("t-late", application_deadline="2026-11-01"))
    await handlers.on_entity(training_event("t-no-apprentice", apprenticeship_possible=False))
    listed = (await client.get("/v1/trainings", params={"departement": "40"})).json()
    assert [i["id"] for i in listed["items"]] == ["t-no-apprentice", "t-open"]
    found = (await client.get("/v1/trainings", params={"diploma": "DEAS", "apprenticeship": "true"})).json()
    assert [i["id"] for i in found["items"]] == ["t-open"]
    everything = (await client.get("/v1/trainings", params={"commune": "40192", "radius_km": 10})).json()
    assert sorted(i["id"] for i in everything["items"]) == ["t-no-apprentice", "t-open"]


async def test_nearest_first_matches_a_brute_force_ordering_across_pages_and_strategies(
    handlers: Handlers, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(4)
    positions = {}
    for n in range(120):
        lat, lon = 46.2 + rng.uniform(-0.9, 0.9), 5.2 + rng.uniform(-1.2, 1.2)
        positions[f"v-{n:03d}"] = (lat, lon)
        await handlers.on_entity(
            vacancy_event(f"v-{n:03d}", position={"lat": lat, "lon": lon}, at=NOW - days(n % 7))
        )
    expected = sorted(
        (d, vid) for vid, (lat, lon) in positions.items() if (d := haversine_km(*BOURG, lat, lon)) <= 80
    )

    async def walk(**params: Any) -> list[str]:
        seen: list[str] = []
        cursor = None
        while True:
            page = (
                await client.get("/v1/offers", params={**params, **({"cursor": cursor} if cursor else {})})
            ).json()
            seen += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                return seen

    assert await walk(commune="01053", radius_km=80, limit=7) == [vid for _, vid in expected]
    by_date = await walk(commune="01053", radius_km=80, sort="date", limit=9)
    monkeypatch.setattr(postgres_search, "DENSE_AREA_ROWS", 1)
    assert await walk(commune="01053", radius_km=80, sort="date", limit=9) == by_date
    assert sorted(by_date) == sorted(vid for _, vid in expected)


async def test_any_valid_combination_of_filters_runs_on_the_database(
    handlers: Handlers, pool: asyncpg.Pool
) -> None:
    await _seed_territory(handlers)
    search = PostgresSearch(pool, clock=fixed_clock())
    rng = random.Random(11)
    choices: dict[str, list[Any]] = {
        "rome": [(), ("J1501",), ("J1506", "K1306")],
        "commune": [None, "01053", "40192", "97411", "2A004"],
        "radius_km": [None, 0.001, 1, 199.99, 200],
        "departement": [None, "01", "2A", "974"],
        "night": [None, True, False],
        "housing": [None, True],
        "apprenticeship": [None, True],
        "q": [None, "", "de la", "l'aide", "œuvre éducative", "a" * 200, "infirm* | !", "x&y"],
        "sort": [None, Sort.DATE, Sort.DISTANCE, Sort.RELEVANCE],
        "limit": [1, 3, 100],
    }
    ran = 0
    for _ in range(150):
        picked = {name: rng.choice(values) for name, values in choices.items()}
        catalogue = rng.choice(list(Catalogue))
        if catalogue is not Catalogue.VACANCIES:
            picked.pop("night")
            picked.pop("housing")
        if catalogue is Catalogue.IMMERSIONS:
            picked.pop("apprenticeship")
        try:
            query = build_query(catalogue, SearchParams(**picked))
        except QueryError:
            continue
        page = await search.search(query)
        ran += 1
        if page.next_cursor:
            await search.search(build_query(catalogue, SearchParams(**picked, cursor=page.next_cursor)))
    assert ran > 50


async def test_a_taken_replacement_shift_leaves_the_search_and_a_second_acceptance_changes_nothing(
    handlers: Handlers, client: httpx.AsyncClient
) -> None:
    shift = vacancy_event(
        "v-shift", contract_type="remplacement", start_date="2026-11-23", end_date="2026-11-23", urgent=True
    )
    await handlers.on_entity(shift)
    assert await _ids(client, departement="01") == ["v-shift"]
    for n, who in enumerate(("cand-1", "cand-2")):  # the pool's first acceptance wins
        taken = p.ShiftAccepted(vacancy_id="v-shift", candidate_id=who, accepted_at=NOW + n * days(1) / 24)
        await handlers.on_entity(
            ev.ShiftAccepted.build(taken, source="urn:test:pool", time=taken.accepted_at)
        )
    assert await _ids(client, departement="01") == []
    answer = (await client.get("/v1/offers/v-shift")).json()
    assert answer["status"] == "filled"
    assert answer["posts_filled"] == answer["posts"]
