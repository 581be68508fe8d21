"""The HTTP API: reference data, offer, immersion and training search, health and metrics."""

from __future__ import annotations

import csv
import io
import re
import time
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from vocation_shared.contracts.vocabulary import ContractType, WorkingTime
from vocation_shared.http import ReadinessCheck, operations_router
from vocation_shared.logs import get_logger
from vocation_shared.reference import (
    PRIORITY_METIER_CODES,
    PRIORITY_METIERS,
    Diploma,
    Metier,
    communes,
    diploma_for_metier,
    rome_v4,
)

from vocation_catalogue.adapters import metrics
from vocation_catalogue.adapters.observatory import CachedObservatory, ObservatoryBusy
from vocation_catalogue.core.observatory import (
    DEFAULT_WINDOW_DAYS,
    MIN_PEOPLE,
    build_observatory_query,
    report,
)
from vocation_catalogue.core.search import Catalogue, QueryError, SearchParams, Sort, build_query
from vocation_catalogue.ports import Observatory, OfferSearch

log = get_logger(__name__)

_ENTITY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$")
_DOMAIN = re.compile(r"^[A-N](?:[0-9]{2})?$")
_PRIORITY_NAMES = {m.code: m.name for m in PRIORITY_METIERS}


def _error(param: str, message: str, kind: str = "value_error") -> JSONResponse:
    return JSONResponse(
        {"detail": [{"loc": ["query", param], "msg": message, "type": kind}]}, status_code=422
    )


async def _query_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, QueryError)
    return _error(exc.param, exc.message)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422, without echoing the input values back."""
    assert isinstance(exc, RequestValidationError)
    detail = [
        {
            "loc": list(error.get("loc", ())),
            "msg": str(error.get("msg", "invalid")),
            "type": error.get("type"),
        }
        for error in exc.errors()
    ]
    return JSONResponse({"detail": detail}, status_code=422)


async def _database_down(_: Request, exc: Exception) -> JSONResponse:
    log.warning("http.database_unavailable", error=repr(exc))
    return JSONResponse({"detail": "the catalogue's database is unavailable, retry later"}, status_code=503)


async def _observatory_busy(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ObservatoryBusy)
    log.warning("http.observatory_busy")
    return JSONResponse(
        {"detail": "the observatory is busy, retry later"},
        status_code=503,
        headers={"Retry-After": str(exc.retry_after_s)},
    )


def _metier_summary(metier: Metier) -> dict[str, Any]:
    return {
        "code": metier.code,
        "label": metier.label,
        "domaine": {"code": metier.domaine.code, "label": metier.domaine.label},
        "grand_domaine": {"code": metier.grand_domaine.code, "label": metier.grand_domaine.label},
        "regulated": metier.regulated,
        "priority": metier.code in PRIORITY_METIER_CODES,
        "priority_name": _PRIORITY_NAMES.get(metier.code),
    }


def _metier_detail(metier: Metier) -> dict[str, Any]:
    detail = _metier_summary(metier)
    diploma = diploma_for_metier(metier.code)
    skills = rome_v4().skills(metier.code)
    reference = rome_v4()
    detail.update(
        {
            "rome_v3": metier.rome_v3,
            "definition": metier.definition,
            "access": metier.access,
            "appellations": [
                {
                    "code": a.code_ogr,
                    "label": a.label,
                    "short_label": a.short_label,
                    "rarely_used": a.rarely_used,
                }
                for a in metier.appellations
            ],
            "diploma": None
            if diploma is None
            else {
                "code": str(diploma),
                "label": diploma.label,
                "level": diploma.level,
                "required_to_practise": diploma.info.required_to_practise,
            },
            "skills": None
            if skills is None
            else {
                kind: [
                    {"code": s.code_ogr, "label": s.label, "core": s.code_ogr in skills.core} for s in chosen
                ]
                for kind, chosen in (
                    ("savoir_faire", skills.savoir_faire),
                    ("savoir_etre", skills.savoir_etre),
                    ("savoirs", skills.savoirs),
                )
            },
            "close_metiers": [
                {"code": code, "label": close.label}
                for code in metier.close_metiers
                if (close := reference.get(code)) is not None
            ],
            "work_contexts": [{"label": c.label, "category": c.category} for c in metier.work_contexts],
        }
    )
    return detail


async def known_parameters_only(request: Request) -> None:
    """Refuse a query parameter the endpoint does not know, rather than ignoring a filter silently."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    known = {param.alias for param in dependant.query_params}
    for name in request.query_params:
        if name not in known:
            raise QueryError(name, "unknown parameter for this endpoint")


def reference_router() -> APIRouter:
    """Métiers (ROME 4) and communes."""
    router = APIRouter(prefix="/v1", tags=["reference"], dependencies=[Depends(known_parameters_only)])

    @router.get("/metiers", summary="Métiers of ROME 4, by text, domain, priority for the sector")
    async def list_metiers(
        q: Annotated[str | None, Query(max_length=100, description="Words of a label or appellation")] = None,
        domain: Annotated[
            str | None, Query(max_length=3, description="Grand domaine (K) or domaine (K13)")
        ] = None,
        priority: Annotated[bool | None, Query(description="Only the sector's priority métiers")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        if q is not None and any(ord(c) < 32 for c in q):
            raise QueryError("q", "must not contain control characters")
        if domain is not None and not _DOMAIN.match(domain.strip().upper()):
            raise QueryError("domain", "expected a grand domaine (K) or a domaine (K13)")
        found: list[Metier] = (
            rome_v4().search(q, limit=len(rome_v4())) if q and q.strip() else list(rome_v4().all())
        )
        if domain is not None:
            prefix = domain.strip().upper()
            found = [m for m in found if m.code.startswith(prefix)]
        if priority is not None:
            found = [m for m in found if (m.code in PRIORITY_METIER_CODES) == priority]
        return {"items": [_metier_summary(m) for m in found[:limit]], "total": len(found)}

    @router.get("/metiers/{rome}", summary="One métier: appellations, diploma, skills, close métiers")
    async def get_metier(rome: Annotated[str, Path(max_length=10)]) -> Any:
        if not re.match(r"^[A-Na-n][0-9]{4}$", rome):
            return _error_path("rome", "a ROME 4 code is a letter A to N and four digits, e.g. J1501")
        metier = rome_v4().get(rome)
        if metier is None:
            raise HTTPException(404, f"unknown ROME 4 code {rome}")
        return _metier_detail(metier)

    @router.get("/communes", summary="Autocomplete communes by name or postal code")
    async def list_communes(
        q: Annotated[str, Query(min_length=1, max_length=100, description="Start of a name or postal code")],
        limit: Annotated[int, Query(ge=1, le=50)] = 10,
    ) -> dict[str, Any]:
        if any(ord(c) < 32 for c in q):
            raise QueryError("q", "must not contain control characters")
        found = communes().search(q, limit=limit)
        return {
            "items": [
                {
                    "insee": c.insee,
                    "name": c.name,
                    "departement": c.departement,
                    "region": c.region,
                    "postal_codes": list(c.postal_codes),
                    "population": c.population,
                    "latitude": c.latitude,
                    "longitude": c.longitude,
                    "type": c.type,
                }
                for c in found
            ]
        }

    return router


def _error_path(param: str, message: str) -> Any:
    return JSONResponse({"detail": [{"loc": ["path", param], "msg": message, "type": "value_error"}]}, 422)


Rome = Annotated[list[str], Query(description="ROME 4 codes (repeat, or comma-separated)")]
CommuneParam = Annotated[
    str | None, Query(max_length=5, description="INSEE code of the commune to search around")
]
Lat = Annotated[float | None, Query(description="Latitude (WGS84) to search around")]
Lon = Annotated[float | None, Query(description="Longitude (WGS84) to search around")]
Radius = Annotated[float | None, Query(description="Radius in km around the place (default 30, at most 200)")]
Departement = Annotated[str | None, Query(max_length=3, description="Département code (01, 2A, 974)")]
Text = Annotated[str | None, Query(max_length=200, description="Words to find in titles and descriptions")]
SortParam = Annotated[
    Sort | None, Query(description="distance (default with a place), date, relevance (needs q)")
]
Limit = Annotated[int, Query(ge=1, le=100)]
Cursor = Annotated[str | None, Query(max_length=1000, description="next_cursor of the previous page")]


def search_router(search: OfferSearch) -> APIRouter:
    """Offers (vacancies and apprenticeships), immersion slots and training sessions."""
    router = APIRouter(prefix="/v1", tags=["search"], dependencies=[Depends(known_parameters_only)])

    async def run(catalogue: Catalogue, params: SearchParams) -> dict[str, Any]:
        query = build_query(catalogue, params)
        started = time.perf_counter()
        page = await search.search(query)
        metrics.SEARCH_SECONDS.labels(catalogue=catalogue.value).observe(time.perf_counter() - started)
        return {"items": page.items, "count": len(page.items), "next_cursor": page.next_cursor}

    async def one(catalogue: Catalogue, id: str) -> dict[str, Any]:
        found = await search.get(catalogue.value, id) if _ENTITY_ID.match(id) else None
        if found is None:
            raise HTTPException(404, "not found")
        return found

    @router.get("/offers", summary="Search open vacancies and apprenticeships")
    async def offers(
        rome: Rome = [],  # noqa: B006 - FastAPI copies defaults
        commune: CommuneParam = None,
        lat: Lat = None,
        lon: Lon = None,
        radius_km: Radius = None,
        departement: Departement = None,
        contract: Annotated[list[ContractType], Query(description="Contract types")] = [],  # noqa: B006
        working_time: Annotated[WorkingTime | None, Query()] = None,
        night: Annotated[bool | None, Query(description="true: night work only; false: no night")] = None,
        weekend: Annotated[bool | None, Query(description="true: weekend work only; false: none")] = None,
        housing: Annotated[bool | None, Query(description="true: only offers with housing")] = None,
        apprenticeship: Annotated[bool | None, Query(description="true: apprenticeships only")] = None,
        q: Text = None,
        sort: SortParam = None,
        limit: Limit = 20,
        cursor: Cursor = None,
    ) -> dict[str, Any]:
        params = SearchParams(
            rome=rome,
            commune=commune,
            lat=lat,
            lon=lon,
            radius_km=radius_km,
            departement=departement,
            contract=contract,
            working_time=working_time,
            night=night,
            weekend=weekend,
            housing=housing,
            apprenticeship=apprenticeship,
            q=q,
            sort=sort,
            limit=limit,
            cursor=cursor,
        )
        return await run(Catalogue.VACANCIES, params)

    @router.get("/offers/{id}", summary="One vacancy, open or not")
    async def offer(id: str) -> dict[str, Any]:
        return await one(Catalogue.VACANCIES, id)

    @router.get("/immersions", summary="Search open immersion slots with places left")
    async def immersions(
        rome: Rome = [],  # noqa: B006
        commune: CommuneParam = None,
        lat: Lat = None,
        lon: Lon = None,
        radius_km: Radius = None,
        departement: Departement = None,
        q: Text = None,
        sort: SortParam = None,
        limit: Limit = 20,
        cursor: Cursor = None,
    ) -> dict[str, Any]:
        params = SearchParams(
            rome=rome,
            commune=commune,
            lat=lat,
            lon=lon,
            radius_km=radius_km,
            departement=departement,
            q=q,
            sort=sort,
            limit=limit,
            cursor=cursor,
        )
        return await run(Catalogue.IMMERSIONS, params)

    @router.get("/immersions/{id}", summary="One immersion slot, open or not")
    async def immersion(id: str) -> dict[str, Any]:
        return await one(Catalogue.IMMERSIONS, id)

    @router.get("/trainings", summary="Search training sessions open for applications")
    async def trainings(
        rome: Rome = [],  # noqa: B006
        commune: CommuneParam = None,
        lat: Lat = None,
        lon: Lon = None,
        radius_km: Radius = None,
        departement: Departement = None,
        diploma: Annotated[Diploma | None, Query(description="Diploma prepared")] = None,
        apprenticeship: Annotated[
            bool | None, Query(description="true: only sessions open to apprentices")
        ] = None,
        q: Text = None,
        sort: SortParam = None,
        limit: Limit = 20,
        cursor: Cursor = None,
    ) -> dict[str, Any]:
        params = SearchParams(
            rome=rome,
            commune=commune,
            lat=lat,
            lon=lon,
            radius_km=radius_km,
            departement=departement,
            diploma=diploma,
            apprenticeship=apprenticeship,
            q=q,
            sort=sort,
            limit=limit,
            cursor=cursor,
        )
        return await run(Catalogue.TRAININGS, params)

    @router.get("/trainings/{id}", summary="One training session, open or not")
    async def training(id: str) -> dict[str, Any]:
        return await one(Catalogue.TRAININGS, id)

    return router


_CSV_COLUMNS = (
    "departement",
    "rome_code",
    "metier",
    "priority",
    "open_vacancies",
    "open_posts",
    "urgent_open",
    "posted_in_window",
    "filled_in_window",
    "closed_unfilled_in_window",
    "median_days_open",
    "median_days_to_fill",
    "immersion_places",
    "immersion_places_taken",
    "training_places_left",
    "candidates",
    "candidates_per_open_post",
)


def _csv(needs: list[dict[str, Any]]) -> str:
    """The needs as CSV (comma, UTF-8, header row), for a spreadsheet."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(_CSV_COLUMNS)
    for need in needs:
        writer.writerow(["" if need[c] is None else need[c] for c in _CSV_COLUMNS])
    return out.getvalue()


def observatory_router(observatory: Observatory, min_people: int = MIN_PEOPLE) -> APIRouter:
    """The observatory of recruitment needs, for the platform's operators and partners.

    Counts of candidates under `min_people` are hidden (`core.observatory.report`).
    """
    router = APIRouter(prefix="/v1", tags=["observatory"], dependencies=[Depends(known_parameters_only)])

    @router.get(
        "/observatory",
        summary="Recruitment needs per département and métier: posts to fill, how fast they fill",
        responses={200: {"content": {"application/json": {}, "text/csv": {}}}},
    )
    async def needs(
        departement: Departement = None,
        rome: Rome = [],  # noqa: B006 - FastAPI copies defaults
        priority: Annotated[bool, Query(description="only the sector's priority métiers")] = False,
        window_days: Annotated[
            int, Query(description="days looked back for what was posted, filled or closed")
        ] = DEFAULT_WINDOW_DAYS,
        format: Annotated[Literal["json", "csv"], Query(description="json (default) or csv")] = "json",
    ) -> Any:
        query = build_observatory_query(departement, rome, priority, window_days)
        parts, as_of = await observatory.needs(query)
        answer = report(parts, query, as_of, min_people=min_people)
        if format == "csv":
            rows: list[dict[str, Any]] = answer["needs"]  # type: ignore[assignment]
            return PlainTextResponse(_csv(rows), media_type="text/csv; charset=utf-8")
        return answer

    return router


def create_http_app(
    search: OfferSearch,
    checks: list[ReadinessCheck],
    observatory: Observatory | None = None,
    *,
    observatory_min_people: int = MIN_PEOPLE,
) -> FastAPI:
    """The catalogue's FastAPI application (OpenAPI at /openapi.json, viewer at /docs).

    The observatory is put behind a `CachedObservatory` (unless it already is one): its answers
    cost full scans and it is served without a key.
    """
    app = FastAPI(
        title="Vocation catalogue",
        version="1",
        description="Métiers, communes, offers, immersion slots and training sessions of the care sector.",
    )
    app.add_exception_handler(QueryError, _query_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ObservatoryBusy, _observatory_busy)
    for error in (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError, TimeoutError):
        app.add_exception_handler(error, _database_down)
    app.include_router(reference_router())
    app.include_router(search_router(search))
    if observatory is not None:
        if not isinstance(observatory, CachedObservatory):
            observatory = CachedObservatory(observatory)
        app.include_router(observatory_router(observatory, observatory_min_people))
    app.include_router(operations_router(checks))
    return app
