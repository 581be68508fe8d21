"""The offer page's latency: p50/p95 of GET /offres/{id} over 100,000 open vacancies (bar: p95 ≤ 50 ms),
next to its peer in the same run, the JSON GET /v1/offers/{id} of the same offers.

The vacancies are seeded with COPY as for `catalogue_search` (same generator, same seed), then
the same randomly drawn offers are asked as a page and as JSON, alternately (so that both meet
the same caches and load), through the whole HTTP stack in process (FastAPI, SQL on the real
PostgreSQL; Jinja2 for the page). A few hundred offers are then closed, and their pages measured
too: a closed offer's page also searches up to three similar open offers nearby. Uses
`VOCATION_DATABASE_URL`'s server when set, else a throw-away PostgreSQL. Run:
`.venv/bin/python -m benchmarks.offer_page` (or `--offers 2000 --requests 100` for a quick try).
"""

from __future__ import annotations

import asyncio
import io
import json
import random
import statistics
import time
from typing import Annotated

import httpx
import typer
from vocation_catalogue.adapters.http import create_http_app
from vocation_catalogue.adapters.pages import create_pages_router
from vocation_catalogue.adapters.postgres.search import PostgresSearch
from vocation_catalogue.app import open_pool
from vocation_catalogue.settings import CatalogueSettings
from vocation_catalogue.testing.pages_fakes import FakeApplicationDesk
from vocation_shared.links import LinkSigner

from benchmarks.catalogue_search import COLUMNS, NOW, OFFERS, SEED, _database, _percentile, _seed_csv

REQUESTS = 600
WARMUP = 60
CLOSED = 300
BAR_P95_MS = 50.0


def _figures(timings: list[float]) -> dict[str, float | int]:
    return {
        "n": len(timings),
        "p50_ms": round(statistics.median(timings), 2),
        "p95_ms": round(_percentile(timings, 0.95), 2),
        "p99_ms": round(_percentile(timings, 0.99), 2),
    }


async def _timed(client: httpx.AsyncClient, path: str, expected: int = 200) -> float:
    begin = time.perf_counter()
    answer = await client.get(path)
    elapsed_ms = (time.perf_counter() - begin) * 1000
    if answer.status_code != expected:
        raise RuntimeError(f"{path}: HTTP {answer.status_code} {answer.text[:200]}")
    return elapsed_ms


async def _run(offers: int, requests: int) -> dict[str, object]:
    rng = random.Random(SEED)
    async with _database() as dsn:
        settings = CatalogueSettings(database_url=dsn, database_pool_size=4)
        async with open_pool(settings) as pool:
            started = time.perf_counter()
            payload = _seed_csv(rng, offers)
            async with pool.acquire() as conn:
                await conn.copy_to_table(
                    "vacancies", source=io.BytesIO(payload), columns=COLUMNS, format="csv"
                )
                await conn.execute("ANALYZE vacancies")
            seeded_s = time.perf_counter() - started
            search = PostgresSearch(pool, clock=lambda: NOW)
            # The offer page asks no application state: an empty desk stands behind the router.
            pages = create_pages_router(
                FakeApplicationDesk(), search, LinkSigner(["bench"]), "http://127.0.0.1:9/"
            )
            app = create_http_app(search, [], pages=pages)
            ids = [f"bench-{rng.randrange(offers):06d}" for _ in range(WARMUP + requests)]
            page_ms: list[float] = []
            json_ms: list[float] = []
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://catalogue") as client:
                for index, offer_id in enumerate(ids):
                    first_page = index % 2 == 0  # alternate which one goes first
                    order = ("page", "json") if first_page else ("json", "page")
                    for kind in order:
                        path = f"/offres/{offer_id}" if kind == "page" else f"/v1/offers/{offer_id}"
                        elapsed = await _timed(client, path)
                        if index >= WARMUP:
                            (page_ms if kind == "page" else json_ms).append(elapsed)
                closed = [f"bench-{n:06d}" for n in rng.sample(range(offers), min(CLOSED, offers // 10))]
                async with pool.acquire() as conn:
                    await conn.execute(
                        "UPDATE vacancies SET status = 'closed' WHERE id = ANY($1::text[])", closed
                    )
                closed_ms = [await _timed(client, f"/offres/{offer_id}") for offer_id in closed]
    p95 = _percentile(page_ms, 0.95)
    return {
        "benchmark": "offer_page",
        "offers": offers,
        "seed_s": round(seeded_s, 1),
        "page_open_offer": _figures(page_ms),
        "peer_json_same_offers": _figures(json_ms),
        "page_closed_offer_with_similar": _figures(closed_ms),
        "page_over_json_p95": round(p95 / _percentile(json_ms, 0.95), 2),
        "bar_p95_ms": BAR_P95_MS,
        "passed": p95 <= BAR_P95_MS,
    }


def main(offers: int = OFFERS, requests: int = REQUESTS) -> dict[str, object]:
    """Seed the open vacancies, ask their pages and their JSON, return the latency figures."""
    return asyncio.run(_run(offers, requests))


cli = typer.Typer(add_completion=False, help=__doc__.split("\n", 1)[0] if __doc__ else None)


@cli.command()
def run(
    offers: Annotated[int, typer.Option(help="open vacancies seeded")] = OFFERS,
    requests: Annotated[int, typer.Option(help="offers asked (each as a page and as JSON)")] = REQUESTS,
) -> None:
    """Run the benchmark and print its figures as JSON."""
    print(json.dumps(main(offers, requests), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    cli()
