"""The HTTP API: reference data, offer, immersion and training search, health and metrics."""

from __future__ import annotations

import csv
import io
import re
import time
from dataclasses import replace
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.responses import PlainTextResponse, Response
from vocation_shared.contracts.vocabulary import ContractType, WorkingTime
from vocation_shared.http import (
    ParameterError,
    Problem,
    ProblemError,
    ReadinessCheck,
    create_app,
    operations_router,
    problem_doc,
)
from vocation_shared.http.problems import ParameterPlace
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
from vocation_catalogue.adapters.http_models import (
    CommuneList,
    ImmersionItem,
    ImmersionPage,
    MetierDetail,
    MetierList,
    ObservatoryReport,
    TrainingItem,
    TrainingPage,
    VacancyItem,
    VacancyPage,
)
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
RETRY_AFTER_UNAVAILABLE_S = 5
DATABASE_DOWN: tuple[type[Exception], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    OSError,
    TimeoutError,
)
"""What a query raises when the database cannot answer (HTTP 503, retry later)."""


def _invalid(param: str, message: str, place: ParameterPlace = "query") -> Problem:
    """The 422 naming one parameter."""
    return Problem(
        422, "invalid-request", "The request is invalid", errors=(ParameterError(param, place, message),)
    )


async def _query_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, QueryError)
    return _invalid(exc.param, exc.message).response()


async def _database_down(_: Request, exc: Exception) -> Response:
    log.warning("http.database_unavailable", error=repr(exc))
    return Problem(
        503, "unavailable", "Service Unavailable", "the catalogue's database is unavailable, retry later"
    ).response({"Retry-After": str(RETRY_AFTER_UNAVAILABLE_S)})


async def _observatory_busy(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ObservatoryBusy)
    log.warning("http.observatory_busy")
    return Problem(503, "busy", "Service Unavailable", "the observatory is busy, retry later").response(
        {"Retry-After": str(exc.retry_after_s)}
    )


_NOT_FOUND = problem_doc("No such entity.")
_UNAVAILABLE = problem_doc("The database (or the observatory) cannot answer now; see `Retry-After`.")


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


def _query_names(dependant: Any) -> set[str]:
    """The query parameters of a route, its dependencies' (the shared search filters) included."""
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


async def known_parameters_only(request: Request) -> None:
    """Refuse a query parameter the endpoint does not know, rather than ignoring a filter silently."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    known = _query_names(dependant)
    for name in request.query_params:
        if name not in known:
            raise QueryError(name, "unknown parameter for this endpoint")


def reference_router() -> APIRouter:
    """Métiers (ROME 4) and communes."""
    router = APIRouter(prefix="/v1", tags=["reference"], dependencies=[Depends(known_parameters_only)])

    @router.get(
        "/metiers",
        response_model=MetierList,
        summary="Métiers of ROME 4, by text, domain, priority for the sector",
    )
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

    @router.get(
        "/metiers/{rome}",
        response_model=MetierDetail,
        responses={404: problem_doc("Unknown ROME 4 code.")},
        summary="One métier: appellations, diploma, skills, close métiers",
    )
    async def get_metier(rome: Annotated[str, Path(max_length=10)]) -> Any:
        if not re.match(r"^[A-Na-n][0-9]{4}$", rome):
            raise ProblemError(
                _invalid("rome", "a ROME 4 code is a letter A to N and four digits, e.g. J1501", "path")
            )
        metier = rome_v4().get(rome)
        if metier is None:
            raise ProblemError(Problem(404, "not-found", "Not Found", f"unknown ROME 4 code {rome}"))
        return _metier_detail(metier)

    @router.get(
        "/communes", response_model=CommuneList, summary="Autocomplete communes by name or postal code"
    )
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


def search_filters(
    rome: Rome = [],  # noqa: B006 - FastAPI copies defaults
    commune: CommuneParam = None,
    lat: Lat = None,
    lon: Lon = None,
    radius_km: Radius = None,
    departement: Departement = None,
    q: Text = None,
    sort: SortParam = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> SearchParams:
    """The query parameters every search shares: métiers, place, text, order and page."""
    return SearchParams(
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


Filters = Annotated[SearchParams, Depends(search_filters)]
Apprenticeship = Annotated[bool | None, Query(description="true: apprenticeships only")]


def search_router(search: OfferSearch) -> APIRouter:
    """Offers (vacancies and apprenticeships), immersion slots and training sessions."""
    router = APIRouter(
        prefix="/v1",
        tags=["search"],
        dependencies=[Depends(known_parameters_only)],
        responses={503: _UNAVAILABLE},
    )

    async def run(catalogue: Catalogue, params: SearchParams) -> dict[str, Any]:
        query = build_query(catalogue, params)
        started = time.perf_counter()
        page = await search.search(query)
        metrics.SEARCH_SECONDS.labels(catalogue=catalogue.value).observe(time.perf_counter() - started)
        return {"items": page.items, "count": len(page.items), "next_cursor": page.next_cursor}

    async def one(catalogue: Catalogue, id: str) -> dict[str, Any]:
        found = await search.get(catalogue.value, id) if _ENTITY_ID.match(id) else None
        if found is None:
            raise ProblemError(Problem(404, "not-found", "Not Found", f"no such entity in {catalogue.value}"))
        return found

    @router.get(
        "/offers",
        response_model=VacancyPage,
        response_model_exclude_unset=True,
        summary="Search open vacancies and apprenticeships",
    )
    async def offers(
        filters: Filters,
        contract: Annotated[list[ContractType], Query(description="Contract types")] = [],  # noqa: B006
        working_time: Annotated[WorkingTime | None, Query()] = None,
        night: Annotated[bool | None, Query(description="true: night work only; false: no night")] = None,
        weekend: Annotated[bool | None, Query(description="true: weekend work only; false: none")] = None,
        housing: Annotated[bool | None, Query(description="true: only offers with housing")] = None,
        apprenticeship: Apprenticeship = None,
    ) -> Any:
        chosen = replace(
            filters,
            contract=contract,
            working_time=working_time,
            night=night,
            weekend=weekend,
            housing=housing,
            apprenticeship=apprenticeship,
        )
        return await run(Catalogue.VACANCIES, chosen)

    @router.get(
        "/offers/{id}",
        response_model=VacancyItem,
        response_model_exclude_unset=True,
        responses={404: _NOT_FOUND},
        summary="One vacancy, open or not",
    )
    async def offer(id: str) -> Any:
        return await one(Catalogue.VACANCIES, id)

    @router.get(
        "/immersions",
        response_model=ImmersionPage,
        response_model_exclude_unset=True,
        summary="Search open immersion slots with places left",
    )
    async def immersions(filters: Filters) -> Any:
        return await run(Catalogue.IMMERSIONS, filters)

    @router.get(
        "/immersions/{id}",
        response_model=ImmersionItem,
        response_model_exclude_unset=True,
        responses={404: _NOT_FOUND},
        summary="One immersion slot, open or not",
    )
    async def immersion(id: str) -> Any:
        return await one(Catalogue.IMMERSIONS, id)

    @router.get(
        "/trainings",
        response_model=TrainingPage,
        response_model_exclude_unset=True,
        summary="Search training sessions open for applications",
    )
    async def trainings(
        filters: Filters,
        diploma: Annotated[Diploma | None, Query(description="Diploma prepared")] = None,
        apprenticeship: Annotated[
            bool | None, Query(description="true: only sessions open to apprentices")
        ] = None,
    ) -> Any:
        return await run(
            Catalogue.TRAININGS, replace(filters, diploma=diploma, apprenticeship=apprenticeship)
        )

    @router.get(
        "/trainings/{id}",
        response_model=TrainingItem,
        response_model_exclude_unset=True,
        responses={404: _NOT_FOUND},
        summary="One training session, open or not",
    )
    async def training(id: str) -> Any:
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
    "applications",
    "applications_answered",
    "answer_rate",
    "median_days_to_first_answer",
    "interviews",
    "hires",
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
        response_model=ObservatoryReport,
        summary="Recruitment needs per département and métier: posts to fill, how fast they fill",
        responses={
            200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
            503: _UNAVAILABLE,
        },
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
    pages: APIRouter | None = None,
) -> FastAPI:
    """The catalogue's FastAPI application (OpenAPI at /openapi.json, viewer at /docs).

    `pages`: the HTML pages people open from a message (`adapters.pages`), when served. The observatory is put behind a `CachedObservatory` (unless it already is one): its answers
    cost full scans and it is served without a key.
    """
    app = create_app(
        title="Vocation catalogue",
        distribution="vocation-catalogue",
        description=(
            "Métiers, communes, offers, immersion slots and training sessions of the care sector. "
            "Errors are problem+json (RFC 9457); an invalid parameter is named in `errors`."
        ),
    )
    app.add_exception_handler(QueryError, _query_error)
    app.add_exception_handler(ObservatoryBusy, _observatory_busy)
    for error in DATABASE_DOWN:
        app.add_exception_handler(error, _database_down)
    app.include_router(reference_router())
    app.include_router(search_router(search))
    if observatory is not None:
        if not isinstance(observatory, CachedObservatory):
            observatory = CachedObservatory(observatory)
        app.include_router(observatory_router(observatory, observatory_min_people))
    if pages is not None:
        app.include_router(pages)
    app.include_router(operations_router(checks))
    return app
