"""The HTTP API without infrastructure: reference endpoints, and 422s naming the bad parameter."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from vocation_catalogue.adapters.http import create_http_app
from vocation_catalogue.testing import FakeSearch

pytestmark = pytest.mark.unit


@pytest.fixture
def fake_search() -> FakeSearch:
    """The fake behind the API."""
    return FakeSearch()


@pytest.fixture
async def client(fake_search: FakeSearch) -> AsyncIterator[httpx.AsyncClient]:
    """A client on the API backed by the fake search."""
    transport = httpx.ASGITransport(app=create_http_app(fake_search, []))
    async with httpx.AsyncClient(transport=transport, base_url="http://catalogue") as opened:
        yield opened


@pytest.mark.parametrize(
    ("path", "params", "named"),
    [
        ("/v1/offers", {"radius_km": "300", "commune": "01053"}, "radius_km"),
        ("/v1/offers", {"radius_km": "0", "commune": "01053"}, "radius_km"),
        ("/v1/offers", {"radius_km": "-5", "lat": "46", "lon": "5"}, "radius_km"),
        ("/v1/offers", {"radius_km": "nan", "lat": "46", "lon": "5"}, "radius_km"),
        ("/v1/offers", {"radius_km": "20"}, "radius_km"),
        ("/v1/offers", {"radius_km": "many", "commune": "01053"}, "radius_km"),
        ("/v1/offers", {"commune": "99999"}, "commune"),
        ("/v1/offers", {"commune": "0105300"}, "commune"),
        ("/v1/offers", {"commune": "01053", "lat": "46", "lon": "5"}, "commune"),
        ("/v1/offers", {"lat": "46"}, "lon"),
        ("/v1/offers", {"lon": "5"}, "lat"),
        ("/v1/offers", {"lat": "91", "lon": "5"}, "lat"),
        ("/v1/offers", {"lat": "inf", "lon": "5"}, "lat"),
        ("/v1/offers", {"lat": "46", "lon": "-181"}, "lon"),
        ("/v1/offers", {"lat": "north", "lon": "5"}, "lat"),
        ("/v1/offers", {"rome": "J9999"}, "rome"),
        ("/v1/offers", {"rome": "J1501,nope"}, "rome"),
        ("/v1/offers", {"departement": "100"}, "departement"),
        ("/v1/offers", {"contract": "freelance"}, "contract"),
        ("/v1/offers", {"working_time": "sometimes"}, "working_time"),
        ("/v1/offers", {"night": "maybe"}, "night"),
        ("/v1/offers", {"housing": "2"}, "housing"),
        ("/v1/offers", {"sort": "price"}, "sort"),
        ("/v1/offers", {"sort": "distance"}, "sort"),
        ("/v1/offers", {"sort": "relevance"}, "sort"),
        ("/v1/offers", {"limit": "0"}, "limit"),
        ("/v1/offers", {"limit": "1000"}, "limit"),
        ("/v1/offers", {"limit": "99999999999999999999999"}, "limit"),
        ("/v1/offers", {"cursor": "not-a-cursor"}, "cursor"),
        ("/v1/offers", {"cursor": "eyJmIjoxfQ"}, "cursor"),
        ("/v1/offers", {"q": "x" * 201}, "q"),
        ("/v1/offers", {"q": "aide\x00soignant"}, "q"),
        ("/v1/immersions", {"contract": "cdi"}, "contract"),
        ("/v1/immersions", {"radius_km": "201", "commune": "01053"}, "radius_km"),
        ("/v1/trainings", {"diploma": "BAC"}, "diploma"),
        ("/v1/trainings", {"night": "true"}, "night"),
        ("/v1/metiers", {"domain": "Z"}, "domain"),
        ("/v1/metiers", {"limit": "-1"}, "limit"),
        ("/v1/communes", {}, "q"),
        ("/v1/communes", {"q": ""}, "q"),
        ("/v1/metiers/J15", {}, "rome"),
    ],
)
async def test_bad_parameter_gets_a_422_that_names_it(
    client: httpx.AsyncClient, path: str, params: dict[str, str], named: str
) -> None:
    answer = await client.get(path, params=params)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["type"] == "urn:vocation:problem:invalid-request"
    assert named in [error["parameter"] for error in problem["errors"]]


async def test_validation_errors_do_not_echo_the_input(client: httpx.AsyncClient) -> None:
    answer = await client.get("/v1/offers", params={"lat": "jean.dupont@example.org", "lon": "5"})
    assert answer.status_code == 422
    assert "dupont" not in answer.text


async def test_good_parameters_reach_the_search_validated(
    client: httpx.AsyncClient, fake_search: FakeSearch
) -> None:
    answer = await client.get(
        "/v1/offers",
        params=[("rome", "j1501"), ("rome", "K1306,J1501"), ("commune", "01053"), ("contract", "cdi")],
    )
    assert answer.status_code == 200
    assert answer.json() == {"items": [], "count": 0, "next_cursor": None}
    [query] = fake_search.queries
    assert query.rome_codes == ("J1501", "K1306")
    assert query.area is not None and query.area.radius_km == 30
    assert query.sort == "distance"


async def test_unknown_or_odd_offer_id_is_a_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/offers/vac-unknown")).status_code == 404
    assert (await client.get("/v1/offers/%00%01")).status_code == 404
    assert (await client.get("/v1/trainings/" + "x" * 500)).status_code == 404


async def test_metiers_filter_by_text_domain_and_priority(client: httpx.AsyncClient) -> None:
    found = (await client.get("/v1/metiers", params={"q": "aide soignant"})).json()["items"]
    assert found[0]["code"] == "J1501"
    assert found[0]["priority"] is True
    priority = (await client.get("/v1/metiers", params={"priority": "true"})).json()
    assert {m["code"] for m in priority["items"]} == {
        "J1501", "J1506", "J1304", "J1301", "K1306", "K1311",
        "K1207", "K1208", "K1202", "K1201", "K1305", "K1309",
    }  # fmt: skip
    social = (await client.get("/v1/metiers", params={"domain": "K12", "priority": "true"})).json()
    assert {m["code"] for m in social["items"]} == {"K1207", "K1208", "K1202", "K1201"}


async def test_metier_detail_tells_diploma_appellations_skills_and_close_metiers(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.get("/v1/metiers/j1501")
    assert answer.status_code == 200
    metier = answer.json()
    assert metier["code"] == "J1501"
    assert metier["diploma"]["code"] == "DEAS"
    assert metier["diploma"]["required_to_practise"] is True
    assert "Aide-soignant / Aide-soignante à domicile" in [a["label"] for a in metier["appellations"]]
    assert metier["skills"]["savoir_faire"]
    assert metier["close_metiers"] and all(m["label"] for m in metier["close_metiers"])
    assert metier["definition"]
    assert (await client.get("/v1/metiers/Z9999")).status_code == 422
    assert (await client.get("/v1/metiers/A9999")).status_code == 404


async def test_communes_autocomplete_by_name_and_postal_code(client: httpx.AsyncClient) -> None:
    by_name = (await client.get("/v1/communes", params={"q": "bourg en b"})).json()["items"]
    assert by_name[0]["insee"] == "01053"
    assert by_name[0]["latitude"] == pytest.approx(46.20513)
    by_postal = (await client.get("/v1/communes", params={"q": "40000"})).json()["items"]
    assert "40192" in [c["insee"] for c in by_postal]


async def test_openapi_is_published_and_health_answers(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert "/v1/offers" in spec["paths"]
    assert (await client.get("/health/live")).json() == {"status": "alive"}
    assert (await client.get("/health/ready")).status_code == 200
    assert "vocation_catalogue_search_seconds" in (await client.get("/metrics")).text


async def test_database_down_is_a_503_not_a_500() -> None:
    down = FakeSearch()
    down.failure = ConnectionRefusedError("connection refused")
    transport = httpx.ASGITransport(app=create_http_app(down, []))
    async with httpx.AsyncClient(transport=transport, base_url="http://catalogue") as client:
        answer = await client.get("/v1/offers")
    assert answer.status_code == 503
