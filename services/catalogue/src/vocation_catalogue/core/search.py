"""Search queries: validated filters, the area and its bounding box, sort keys and opaque cursors."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum
from math import cos, degrees, radians
from typing import Literal

from vocation_shared.contracts.vocabulary import ContractType, WorkingTime
from vocation_shared.reference import EARTH_RADIUS_KM, Diploma, communes, rome_v4

from vocation_catalogue.core.text import search_terms

MAX_RADIUS_KM = 200.0
DEFAULT_RADIUS_KM = 30.0
MAX_LIMIT = 100
DEFAULT_LIMIT = 20
MAX_TEXT_LENGTH = 200
MAX_ROME_CODES = 20
MAX_ROME_VALUES = 100
"""Values of a `rome` parameter read at most (repeats included) before refusing it."""
_DEPARTEMENT = re.compile(r"^(?:[0-9]{2}|2[AB]|97[1-8]|98[0-9])$")
_ROME = re.compile(r"^[A-N][0-9]{4}$")
_INSEE = re.compile(r"^(?:[0-9]{2}|2[AB])[0-9]{3}$|^9[78][0-9]{3}$")


class QueryError(ValueError):
    """A query parameter the catalogue cannot answer; `param` names it (HTTP 422)."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message


class Sort(StrEnum):
    """Orders of search results."""

    DISTANCE = "distance"
    DATE = "date"
    RELEVANCE = "relevance"


class Catalogue(StrEnum):
    """The three searchable read models."""

    VACANCIES = "vacancies"
    IMMERSIONS = "immersions"
    TRAININGS = "trainings"


@dataclass(frozen=True, slots=True)
class Box:
    """A latitude/longitude rectangle that contains a circle; `lon_*` None when it spans the antimeridian."""

    lat_min: float
    lat_max: float
    lon_min: float | None
    lon_max: float | None


@dataclass(frozen=True, slots=True)
class Area:
    """A circle on the Earth: centre and radius in km."""

    lat: float
    lon: float
    radius_km: float

    def bounding_box(self) -> Box:
        """The smallest latitude/longitude rectangle holding the circle (a little larger near the poles)."""
        dlat = degrees(self.radius_km / EARTH_RADIUS_KM)
        lat_min, lat_max = self.lat - dlat, self.lat + dlat
        if lat_min <= -90 or lat_max >= 90:
            return Box(max(lat_min, -90.0), min(lat_max, 90.0), None, None)
        widest = max(abs(lat_min), abs(lat_max))
        dlon = degrees(self.radius_km / (EARTH_RADIUS_KM * cos(radians(widest))))
        lon_min, lon_max = self.lon - dlon, self.lon + dlon
        if lon_min < -180 or lon_max > 180:
            return Box(lat_min, lat_max, None, None)
        return Box(lat_min, lat_max, lon_min, lon_max)


KeyKind = Literal["float", "timestamp", "date", "text"]


@dataclass(frozen=True, slots=True)
class SortKey:
    """One column of a result order: its name in the query, direction and type (for the cursor)."""

    column: str
    descending: bool
    kind: KeyKind


CursorValue = float | datetime | date | str


@dataclass(frozen=True, slots=True)
class SearchParams:
    """The raw parameters of a search, as the HTTP layer received them (types already checked)."""

    rome: Sequence[str] = ()
    commune: str | None = None
    lat: float | None = None
    lon: float | None = None
    radius_km: float | None = None
    departement: str | None = None
    contract: Sequence[ContractType] = ()
    working_time: WorkingTime | None = None
    night: bool | None = None
    weekend: bool | None = None
    housing: bool | None = None
    apprenticeship: bool | None = None
    diploma: Diploma | None = None
    q: str | None = None
    sort: Sort | None = None
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """A validated search: filters, area, order, page size and where the previous page ended."""

    catalogue: Catalogue
    rome_codes: tuple[str, ...] = ()
    area: Area | None = None
    departement: str | None = None
    contract_types: tuple[ContractType, ...] = ()
    working_time: WorkingTime | None = None
    night: bool | None = None
    weekend: bool | None = None
    housing_only: bool = False
    apprenticeship_only: bool = False
    diploma: Diploma | None = None
    terms: tuple[str, ...] = ()
    sort: Sort = Sort.DATE
    limit: int = DEFAULT_LIMIT
    after: tuple[CursorValue, ...] | None = field(default=None, compare=False)

    def fingerprint(self) -> str:
        """A short digest of what the query selects and how it orders, to tie a cursor to it."""
        described = repr(
            (
                self.catalogue,
                self.rome_codes,
                self.area,
                self.departement,
                self.contract_types,
                self.working_time,
                self.night,
                self.weekend,
                self.housing_only,
                self.apprenticeship_only,
                self.diploma,
                self.terms,
                self.sort,
            )
        )
        return hashlib.sha256(described.encode()).hexdigest()[:12]

    def sort_keys(self) -> tuple[SortKey, ...]:
        """The full result order, ending with the id so that it is total (stable pages)."""
        newest = SortKey("posted_at", True, "timestamp")
        soonest = SortKey("start_date", False, "date")
        by_date = newest if self.catalogue is Catalogue.VACANCIES else soonest
        last = SortKey("id", False, "text")
        distance = SortKey("distance_km", False, "float")
        if self.sort is Sort.DISTANCE:
            return (distance, last)
        if self.sort is Sort.RELEVANCE:
            keys = [SortKey("rank", True, "float")]
            if self.area is not None:
                keys.append(distance)
            return (*keys, by_date, last)
        return (by_date, last)


def _split(values: Sequence[str]) -> list[str]:
    """Values of a repeatable parameter, also accepting comma-separated lists."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _no_control_characters(param: str, value: str) -> str:
    if any(ord(char) < 32 for char in value):
        raise QueryError(param, "must not contain control characters")
    return value


def parse_rome_codes(values: Sequence[str]) -> list[str]:
    """The ROME 4 codes of a `rome` parameter (repeated or comma-separated), each once, at most 20.

    Refused as soon as a 21st code or a 101st value is read: a long list costs nothing to check.
    """
    rome_codes: list[str] = []
    raws = _split(values)
    if len(raws) > MAX_ROME_VALUES:
        raise QueryError("rome", f"at most {MAX_ROME_CODES} ROME codes")
    for raw in raws:
        code = _no_control_characters("rome", raw).upper()
        if not _ROME.match(code) or code not in rome_v4():
            raise QueryError("rome", f"unknown ROME 4 code {raw[:20]!r}")
        if code not in rome_codes:
            rome_codes.append(code)
            if len(rome_codes) > MAX_ROME_CODES:
                raise QueryError("rome", f"at most {MAX_ROME_CODES} ROME codes")
    return rome_codes


def parse_departement(value: str | None) -> str | None:
    """A `departement` parameter as its canonical code (01, 2A, 974), or None when absent."""
    if value is None:
        return None
    departement = _no_control_characters("departement", value).strip().upper()
    if not _DEPARTEMENT.match(departement):
        raise QueryError("departement", "expected a département code such as 01, 2A or 974")
    return departement


def build_query(catalogue: Catalogue, params: SearchParams) -> SearchQuery:
    """Validate raw parameters into a query; raises QueryError naming the faulty parameter."""
    rome_codes = parse_rome_codes(params.rome)
    area = _area(params)
    departement = parse_departement(params.departement)

    if catalogue is not Catalogue.VACANCIES:
        for name in ("contract", "working_time", "night", "weekend", "housing"):
            if getattr(params, name) not in (None, (), []):
                raise QueryError(name, f"not a filter of {catalogue.value}")
    if catalogue is not Catalogue.TRAININGS and params.diploma is not None:
        raise QueryError("diploma", f"not a filter of {catalogue.value}")
    if catalogue is Catalogue.IMMERSIONS and params.apprenticeship is not None:
        raise QueryError("apprenticeship", "not a filter of immersions")

    terms: tuple[str, ...] = ()
    if params.q is not None:
        text = _no_control_characters("q", params.q)
        if len(text) > MAX_TEXT_LENGTH:
            raise QueryError("q", f"at most {MAX_TEXT_LENGTH} characters")
        terms = search_terms(text)

    if params.sort is None:
        sort = Sort.DISTANCE if area is not None else (Sort.RELEVANCE if terms else Sort.DATE)
    else:
        sort = params.sort
    if sort is Sort.DISTANCE and area is None:
        raise QueryError("sort", "sorting by distance needs a commune or lat/lon")
    if sort is Sort.RELEVANCE and not terms:
        raise QueryError("sort", "sorting by relevance needs a text (q)")
    if not 1 <= params.limit <= MAX_LIMIT:
        raise QueryError("limit", f"between 1 and {MAX_LIMIT}")

    query = SearchQuery(
        catalogue=catalogue,
        rome_codes=tuple(rome_codes),
        area=area,
        departement=departement,
        contract_types=tuple(dict.fromkeys(params.contract)),
        working_time=params.working_time,
        night=params.night,
        weekend=params.weekend,
        housing_only=bool(params.housing),
        apprenticeship_only=bool(params.apprenticeship),
        diploma=params.diploma,
        terms=terms,
        sort=sort,
        limit=params.limit,
    )
    if params.cursor is None:
        return query
    return replace(query, after=decode_cursor(params.cursor, query))


def _area(params: SearchParams) -> Area | None:
    has_point = params.lat is not None or params.lon is not None
    if params.commune is not None and has_point:
        raise QueryError("commune", "give either a commune or lat/lon, not both")
    if params.lat is not None and params.lon is None:
        raise QueryError("lon", "lat needs lon")
    if params.lon is not None and params.lat is None:
        raise QueryError("lat", "lon needs lat")
    radius = params.radius_km
    if radius is not None and not 0 < radius <= MAX_RADIUS_KM:
        raise QueryError("radius_km", f"must be more than 0 and at most {MAX_RADIUS_KM:g} km")
    if params.commune is not None:
        code = _no_control_characters("commune", params.commune).strip().upper()
        commune = communes().get(code) if _INSEE.match(code) else None
        if commune is None:
            raise QueryError("commune", f"unknown INSEE commune code {params.commune[:20]!r}")
        if commune.position is None:
            raise QueryError("commune", f"the position of {commune.name} is unknown: give lat/lon")
        return Area(commune.position[0], commune.position[1], radius or DEFAULT_RADIUS_KM)
    if params.lat is not None and params.lon is not None:
        if not -90 <= params.lat <= 90:
            raise QueryError("lat", "between -90 and 90")
        if not -180 <= params.lon <= 180:
            raise QueryError("lon", "between -180 and 180")
        return Area(params.lat, params.lon, radius or DEFAULT_RADIUS_KM)
    if radius is not None:
        raise QueryError("radius_km", "a radius needs a commune or lat/lon")
    return None


def encode_cursor(query: SearchQuery, values: Sequence[CursorValue]) -> str:
    """The opaque cursor after a row whose sort-key values are `values` (same order as the keys)."""
    encoded: list[object] = []
    for key, value in zip(query.sort_keys(), values, strict=True):
        if key.kind in ("timestamp", "date"):
            if not isinstance(value, date):
                raise TypeError(f"{key.column} should be a date or datetime, got {value!r}")
            encoded.append(value.isoformat())
        else:
            encoded.append(value)
    document = {"f": query.fingerprint(), "k": encoded}
    raw = json.dumps(document, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str, query: SearchQuery) -> tuple[CursorValue, ...]:
    """The sort-key values a cursor holds; QueryError('cursor') if it is not one of this query's."""
    if len(token) > 1000:
        raise QueryError("cursor", "not a cursor of this search")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        document = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise QueryError("cursor", "not a cursor of this search") from exc
    if not isinstance(document, dict) or document.get("f") != query.fingerprint():
        raise QueryError("cursor", "not a cursor of this search (the filters or the sort changed)")
    values = document.get("k")
    keys = query.sort_keys()
    if not isinstance(values, list) or len(values) != len(keys):
        raise QueryError("cursor", "not a cursor of this search")
    decoded: list[CursorValue] = []
    try:
        for key, value in zip(keys, values, strict=True):
            decoded.append(_decode_value(key, value))
    except (TypeError, ValueError) as exc:
        raise QueryError("cursor", "not a cursor of this search") from exc
    return tuple(decoded)


def _decode_value(key: SortKey, value: object) -> CursorValue:
    if key.kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError("not a number")
        return float(value)
    if not isinstance(value, str):
        raise TypeError("not a string")
    if key.kind == "timestamp":
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise ValueError("no offset")
        return moment
    if key.kind == "date":
        return date.fromisoformat(value)
    return value
