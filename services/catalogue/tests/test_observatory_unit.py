"""The observatory's bounds without a database: its cache, shared computations, busy answers, 422s."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from vocation_catalogue.adapters.http import create_http_app
from vocation_catalogue.adapters.observatory import CachedObservatory, ObservatoryBusy
from vocation_catalogue.core.observatory import ObservatoryQuery, build_observatory_query
from vocation_catalogue.testing import NOW, FakeObservatory, FakeSearch
from vocation_shared.reference import rome_v4

pytestmark = pytest.mark.unit

AS_OF = NOW


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _query(*rome: str, window_days: int = 90, departement: str | None = "01") -> ObservatoryQuery:
    return build_observatory_query(departement, list(rome), False, window_days)


@pytest.fixture
def inner() -> FakeObservatory:
    return FakeObservatory(AS_OF)


@pytest.fixture
async def client(inner: FakeObservatory) -> AsyncIterator[httpx.AsyncClient]:
    app = create_http_app(FakeSearch(), [], inner)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://c") as opened:
        yield opened


async def test_the_same_question_in_json_csv_or_another_order_reaches_the_database_once(
    inner: FakeObservatory, client: httpx.AsyncClient
) -> None:
    first = await client.get("/v1/observatory", params={"departement": "01", "rome": "J1501,J1506"})
    again = await client.get("/v1/observatory", params={"departement": "01", "rome": ["J1506", "J1501"]})
    csv = await client.get(
        "/v1/observatory", params={"departement": "01", "rome": "J1501,J1506", "format": "csv"}
    )
    assert first.status_code == again.status_code == csv.status_code == 200
    assert len(inner.asked) == 1
    assert first.json()["rome_codes"] == ["J1501", "J1506"] and again.json()["rome_codes"] == [
        "J1506",
        "J1501",
    ]
    await client.get("/v1/observatory", params={"departement": "01", "rome": "J1501", "window_days": 30})
    assert len(inner.asked) == 2, "another window is another question"


async def test_an_answer_is_kept_for_a_minute_then_asked_again() -> None:
    inner, clock = FakeObservatory(AS_OF), Clock()
    cached = CachedObservatory(inner, ttl_s=60, monotonic=clock)
    assert (await cached.needs(_query("J1501")))[0][0].open_vacancies == 1
    clock.now += 59
    assert (await cached.needs(_query("J1501")))[0][0].open_vacancies == 1
    clock.now += 2
    assert (await cached.needs(_query("J1501")))[0][0].open_vacancies == 2
    assert len(inner.asked) == 2


async def test_the_cache_keeps_a_bounded_number_of_answers_least_recently_used_first_out() -> None:
    inner = FakeObservatory(AS_OF)
    cached = CachedObservatory(inner, max_entries=2)
    for rome in ("J1501", "J1506", "J1501", "K1302"):
        await cached.needs(_query(rome))
    assert len(cached) == 2
    await cached.needs(_query("J1501"))
    assert len(inner.asked) == 3, "J1501 was used last: kept; J1506 went"
    await cached.needs(_query("J1506"))
    assert len(inner.asked) == 4


async def test_questions_arriving_together_share_one_computation() -> None:
    gate = asyncio.Event()
    inner = FakeObservatory(AS_OF, gate)
    cached = CachedObservatory(inner)
    waiting = [asyncio.create_task(cached.needs(_query("J1501"))) for _ in range(20)]
    await asyncio.sleep(0.01)
    gate.set()
    answers = await asyncio.gather(*waiting)
    assert len(inner.asked) == 1 and all(parts[0].open_vacancies == 1 for parts, _ in answers)


async def test_past_a_few_computations_waiting_a_new_question_is_refused_with_503(
    inner: FakeObservatory,
) -> None:
    inner.gate = asyncio.Event()
    cached = CachedObservatory(inner, max_concurrent=1, max_waiting=2)
    app = create_http_app(FakeSearch(), [], cached)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://c") as client:
        held = [
            asyncio.create_task(client.get("/v1/observatory", params={"window_days": n})) for n in (10, 20)
        ]
        await asyncio.sleep(0.05)
        refused = await client.get("/v1/observatory", params={"window_days": 30})
        assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
        assert len(inner.asked) == 1, "one computation at a time, the second waits for it"
        inner.gate.set()
        assert [r.status_code for r in await asyncio.gather(*held)] == [200, 200]


async def test_the_cache_refuses_a_new_question_while_too_many_are_computed() -> None:
    gate = asyncio.Event()
    cached = CachedObservatory(FakeObservatory(AS_OF, gate), max_concurrent=1, max_waiting=2)
    blocked = [asyncio.create_task(cached.needs(_query(window_days=n))) for n in (40, 50)]
    await asyncio.sleep(0.01)
    with pytest.raises(ObservatoryBusy):
        await cached.needs(_query(window_days=60))
    parts, _ = await asyncio.wait_for(_open_then(gate, cached.needs(_query(window_days=40))), 1)
    await asyncio.gather(*blocked)
    assert parts[0].open_vacancies == 1, "an identical question joins the one in flight"


async def _open_then(gate: asyncio.Event, awaited: Any) -> Any:
    gate.set()
    return await awaited


async def test_a_failed_computation_reaches_its_requests_and_is_not_kept() -> None:
    inner = FakeObservatory(AS_OF, fail_first=1)
    cached = CachedObservatory(inner)
    with pytest.raises(TimeoutError):
        await cached.needs(_query("J1501"))
    parts, _ = await cached.needs(_query("J1501"))
    assert parts[0].open_vacancies == 2 and len(inner.asked) == 2


async def test_a_request_that_goes_away_does_not_cancel_the_computation_others_wait_for() -> None:
    gate = asyncio.Event()
    inner = FakeObservatory(AS_OF, gate)
    cached = CachedObservatory(inner)
    leaving = asyncio.create_task(cached.needs(_query("J1501")))
    staying = asyncio.create_task(cached.needs(_query("J1501")))
    await asyncio.sleep(0.01)
    leaving.cancel()
    gate.set()
    parts, _ = await staying
    assert parts[0].open_vacancies == 1 and len(cached) == 1


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"window_days": 731}, "window_days"),
        ({"window_days": 0}, "window_days"),
        ({"rome": ",".join(sorted(m.code for m in rome_v4().all())[:21])}, "rome"),
        ({"rome": ",".join(["J1501"] * 101)}, "rome"),
        ({"departement": "01,40"}, "departement"),
    ],
)
async def test_an_observatory_question_beyond_its_bounds_is_a_422_naming_the_parameter(
    inner: FakeObservatory, client: httpx.AsyncClient, params: dict[str, Any], named: str
) -> None:
    answer = await client.get("/v1/observatory", params=params)
    assert answer.status_code == 422, answer.text
    assert named == answer.json()["errors"][0]["parameter"]
    assert inner.asked == []


async def test_twenty_metiers_repeated_are_still_one_question(
    inner: FakeObservatory, client: httpx.AsyncClient
) -> None:
    twenty = sorted(m.code for m in rome_v4().all())[:20]
    answer = await client.get("/v1/observatory", params={"rome": ",".join(twenty * 5)})
    assert answer.status_code == 200 and answer.json()["rome_codes"] == twenty
