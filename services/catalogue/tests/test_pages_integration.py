"""The pages on the real database: an offer's page from the read model, similar open offers from the real search."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from vocation_catalogue.adapters.http import create_http_app
from vocation_catalogue.adapters.pages import create_pages_router
from vocation_catalogue.adapters.postgres.search import PostgresSearch
from vocation_catalogue.testing import FakeSink, fixed_clock, vacancy_event
from vocation_catalogue.testing.harness import postgres_handlers
from vocation_catalogue.testing.pages_fakes import FakeApplicationDesk
from vocation_shared.contracts import events as ev
from vocation_shared.links import Action, LinkSigner
from vocation_shared.testing import samples

pytestmark = pytest.mark.integration

KEY = "pages-integration-link-key-0123456789abcdef"


@pytest.fixture
async def client(pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    """The catalogue's app with its pages, on the real search (a fake desk: no application state here)."""
    search = PostgresSearch(pool, clock=fixed_clock())
    pages = create_pages_router(FakeApplicationDesk(), search, LinkSigner([KEY]), "http://127.0.0.1:9/")
    transport = httpx.ASGITransport(app=create_http_app(search, [], pages=pages))
    async with httpx.AsyncClient(transport=transport, base_url="http://catalogue") as opened:
        yield opened


async def test_a_filled_offer_proposes_the_nearest_open_offers_of_its_metier(
    pool: asyncpg.Pool, client: httpx.AsyncClient
) -> None:
    handlers = postgres_handlers(pool, FakeSink())
    for event in (
        vacancy_event(
            "p-filled", recruiting_contact={"name": "Claire Dubois", "email": "rh@tilleuls.example.fr"}
        ),
        vacancy_event("p-north-1", position={"lat": 46.25, "lon": 5.23}),
        vacancy_event("p-north-2", position={"lat": 46.30, "lon": 5.23}),
        vacancy_event("p-north-3", position={"lat": 46.35, "lon": 5.23}),
        vacancy_event("p-amberieu", commune_insee=samples.AMBERIEU_EN_BUGEY),  # fourth nearest: not shown
        vacancy_event("p-nurse", rome_code="J1506", title="Infirmier(ère)"),  # another métier
        vacancy_event("p-landes", commune_insee=samples.MONT_DE_MARSAN),  # far away
    ):
        await handlers.on_entity(event)
    await handlers.on_entity(vacancy_event("p-filled", version=2, kind=ev.VacancyClosed, status="filled"))

    open_page = await client.get("/offres/p-north-1")
    assert open_page.status_code == 200
    assert "Bourg-en-Bresse (01)" in open_page.text
    assert "Cette offre n'est plus disponible" not in open_page.text

    filled = await client.get("/offres/p-filled")
    assert filled.status_code == 200
    assert "Cette offre n'est plus disponible" in filled.text
    assert re.findall(r'href="/offres/([^"]+)"', filled.text) == ["p-north-1", "p-north-2", "p-north-3"]
    assert "Claire Dubois" not in filled.text  # the recruiting contact is never served
    assert "rh@tilleuls" not in filled.text


async def test_the_personal_page_reads_the_real_offer(client: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    await postgres_handlers(pool, FakeSink()).on_entity(vacancy_event("p-personal"))
    token = LinkSigner([KEY]).sign(Action.VIEW_OFFER, "cand-1", "p-personal")
    answer = await client.get(f"/l/{token}")
    assert answer.status_code == 200
    assert "Je suis intéressé(e)" in answer.text
    assert answer.headers["cache-control"] == "no-store"
