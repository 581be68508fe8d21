"""Against the real database: the observatory counts posts to fill and how fast they fill, per territory."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from vocation_catalogue.adapters.http import create_http_app
from vocation_catalogue.adapters.postgres.observatory import PostgresObservatory
from vocation_catalogue.adapters.postgres.search import PostgresSearch
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
from vocation_shared.testing import samples

pytestmark = pytest.mark.integration


@pytest.fixture
async def client(pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    """The catalogue's API with the observatory, its clock at NOW, after the territory's events."""
    handlers = postgres_handlers(pool, FakeSink())
    for event in _territory():
        await handlers.on_entity(event)
    for event in _people():
        await handlers.on_candidate(event)
    app = create_http_app(
        PostgresSearch(pool, clock=fixed_clock()), [], PostgresObservatory(pool, clock=fixed_clock())
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://catalogue"
    ) as opened:
        yield opened


def _territory() -> list[Any]:
    """Aides-soignants and nurses wanted in the Ain, one training place in the Landes."""
    return [
        # Ain, aide-soignant (J1501): two open (3 posts to fill, one urgent), one filled in 10 days.
        vacancy_event("as-1", posts=2, posts_filled=0, at=NOW - days(4)),
        vacancy_event("as-2", urgent=True, posts=1, at=NOW - days(20)),
        vacancy_event("as-3", at=NOW - days(30)),
        vacancy_event(
            "as-3", version=2, kind=ev.VacancyClosed, status="filled", posts_filled=1, at=NOW - days(20)
        ),
        # Filled long ago: outside the 90-day window.
        vacancy_event("as-old", at=NOW - days(400)),
        vacancy_event(
            "as-old", version=2, kind=ev.VacancyClosed, status="filled", posts_filled=1, at=NOW - days(380)
        ),
        # Ain, infirmier (J1506): one closed without being filled.
        vacancy_event("ide-1", rome_code="J1506", required_diploma="DEI", at=NOW - days(50)),
        vacancy_event(
            "ide-1",
            version=2,
            kind=ev.VacancyClosed,
            status="closed",
            rome_code="J1506",
            required_diploma="DEI",
            at=NOW - days(5),
        ),
        # An immersion slot in the Ain: 5 places, 2 taken.
        slot_event("imm-1", places_left=3),
        # A training session in the Landes with 12 places left.
        training_event("deas-1"),
        # Landes, aide-soignant: one open post.
        vacancy_event("as-landes", commune_insee=samples.MONT_DE_MARSAN, posts=1, at=NOW - days(2)),
    ]


def _candidate(candidate_id: str, *wanted: str, event: Any = ev.CandidateRegistered, **fields: Any) -> Any:
    profile = samples.candidate(id=candidate_id, wanted_rome_codes=list(wanted), **fields)
    model = p.CandidateProfile if event is ev.CandidateUpdated else p.CandidateRegistration
    return event.build(
        model.model_validate(profile), source="urn:test:partner", id=f"{candidate_id}-{event.TYPE}"
    )


def _people() -> list[Any]:
    """Six aides-soignants looking in the Ain (one also for nursing), one who left, one who moved away."""
    ain = [_candidate(f"c-ain-{n}", "J1501") for n in range(5)]
    both = _candidate("c-ain-both", "J1501", "J1506")
    gone = _candidate("c-gone", "J1501")
    withdrawn = ev.CandidateWithdrawn.build(
        p.CandidateWithdrawn(candidate_id="c-gone"), source="urn:test:partner"
    )
    moving = _candidate("c-moving", "J1501")
    moved = _candidate(
        "c-moving", "J1501", event=ev.CandidateUpdated, version=2, home_commune_insee=samples.MONT_DE_MARSAN
    )
    return [*ain, both, gone, withdrawn, moving, moved]


def _need(answer: dict[str, Any], departement: str, rome: str) -> dict[str, Any]:
    [need] = [n for n in answer["needs"] if n["departement"] == departement and n["rome_code"] == rome]
    return need


async def test_open_posts_and_time_to_fill_are_counted_per_departement_and_metier(
    client: httpx.AsyncClient,
) -> None:
    answer = (await client.get("/v1/observatory")).json()
    ain = _need(answer, "01", "J1501")
    assert ain["metier"] is not None and ain["priority"] is True
    assert (ain["open_vacancies"], ain["open_posts"], ain["urgent_open"]) == (2, 3, 1)
    assert ain["posted_in_window"] == 3, "posted in the last 90 days: as-1, as-2, as-3"
    assert (ain["filled_in_window"], ain["median_days_to_fill"]) == (1, 10.0)
    assert ain["median_days_open"] == 12.0, "open for 4 and 20 days"
    assert (ain["immersion_places"], ain["immersion_places_taken"]) == (5, 2)
    assert (ain["candidates"], ain["candidates_per_open_post"]) == (6, 2.0), "six people for three posts"
    nurses = _need(answer, "01", "J1506")
    assert (nurses["candidates"], nurses["candidates_per_open_post"]) == (None, None), "one person: hidden"
    assert (nurses["open_posts"], nurses["closed_unfilled_in_window"], nurses["median_days_open"]) == (
        0,
        1,
        None,
    )
    landes = _need(answer, "40", "J1501")
    assert (landes["open_posts"], landes["training_places_left"], landes["candidates"]) == (1, 12, None)
    assert answer["needs"][0]["departement"] == "01", "the most posts to fill first"
    assert answer["totals"]["open_posts"] == 4 and answer["totals"]["training_places_left"] == 12
    assert (answer["totals"]["candidates"], answer["people_counts_hidden"]) == (6, 2)


async def test_the_observatory_narrows_to_a_departement_and_metiers(client: httpx.AsyncClient) -> None:
    answer = (await client.get("/v1/observatory", params={"departement": "40"})).json()
    assert {(n["departement"], n["rome_code"]) for n in answer["needs"]} == {("40", "J1501")}
    answer = (await client.get("/v1/observatory", params={"rome": "J1506"})).json()
    assert {n["rome_code"] for n in answer["needs"]} == {"J1506"}
    longer = (await client.get("/v1/observatory", params={"window_days": 730})).json()
    assert _need(longer, "01", "J1501")["filled_in_window"] == 2, "the old fill is in a two-year window"


async def test_the_observatory_reads_as_csv_for_a_spreadsheet(client: httpx.AsyncClient) -> None:
    answer = await client.get("/v1/observatory", params={"format": "csv", "departement": "01"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert {r["rome_code"]: r["open_posts"] for r in rows} == {"J1501": "3", "J1506": "0"}
    assert [r["median_days_open"] for r in rows if r["rome_code"] == "J1506"] == [""]


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"departement": "ZZ"}, "departement"),
        ({"rome": "X9999"}, "rome"),
        ({"window_days": 0}, "window_days"),
        ({"format": "xml"}, "format"),
        ({"region": "84"}, "region"),
    ],
)
async def test_a_bad_observatory_parameter_is_refused_by_name(
    client: httpx.AsyncClient, params: dict[str, Any], param: str
) -> None:
    answer = await client.get("/v1/observatory", params=params)
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["parameter"] == param


async def test_an_erased_candidate_leaves_the_supply(pool: asyncpg.Pool, client: httpx.AsyncClient) -> None:
    handlers = postgres_handlers(pool, FakeSink())
    erased = p.CandidateWithdrawn(candidate_id="c-ain-0", erasure_requested=True)
    await handlers.on_candidate(ev.CandidateWithdrawn.build(erased, source="urn:test:partner"))
    assert await pool.fetchval("SELECT count(*) FROM candidate_supply WHERE id = 'c-ain-0'") == 0
    answer = (await client.get("/v1/observatory", params={"departement": "01", "rome": "J1501"})).json()
    assert _need(answer, "01", "J1501")["candidates"] == 5


async def test_a_repeated_question_is_answered_from_the_cache_without_reading_the_tables_again(
    pool: asyncpg.Pool, client: httpx.AsyncClient
) -> None:
    first = (await client.get("/v1/observatory", params={"departement": "40"})).json()
    handlers = postgres_handlers(pool, FakeSink())
    await handlers.on_entity(
        vacancy_event("as-landes-2", commune_insee=samples.MONT_DE_MARSAN, posts=3, at=NOW - days(1))
    )
    again = (await client.get("/v1/observatory", params={"departement": "40", "format": "csv"})).text
    assert _need(first, "40", "J1501")["open_posts"] == 1
    [row] = [r for r in csv.DictReader(io.StringIO(again)) if r["rome_code"] == "J1501"]
    assert row["open_posts"] == "1", "the same question within a minute: the kept answer"
    other = (await client.get("/v1/observatory", params={"departement": "40", "window_days": 30})).json()
    assert _need(other, "40", "J1501")["open_posts"] == 4, "another question reads the tables"


async def test_an_aggregate_stuck_past_its_time_limit_is_a_503_not_a_hung_request(pool: asyncpg.Pool) -> None:
    app = create_http_app(
        PostgresSearch(pool, clock=fixed_clock()),
        [],
        PostgresObservatory(pool, clock=fixed_clock(), statement_timeout_ms=300),
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://catalogue"
    ) as client:
        async with pool.acquire() as locker, locker.transaction():
            await locker.execute("LOCK TABLE vacancies IN ACCESS EXCLUSIVE MODE")
            answer = await asyncio.wait_for(client.get("/v1/observatory"), timeout=10)
        assert answer.status_code == 503
        again = await client.get("/v1/observatory")
        assert again.status_code == 200, "the failure was not kept: once the lock is gone, it answers"
