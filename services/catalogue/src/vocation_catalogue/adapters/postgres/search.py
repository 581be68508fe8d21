"""The search queries: bounding box on the position index, exact distance, words, keyset pages."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from vocation_shared.reference import EARTH_RADIUS_KM, communes, rome_v4

from vocation_catalogue.core.search import Area, Catalogue, CursorValue, SearchQuery, Sort, encode_cursor
from vocation_catalogue.ports import SearchPage

TABLES: dict[Catalogue, str] = {
    Catalogue.VACANCIES: "vacancies",
    Catalogue.IMMERSIONS: "immersion_slots",
    Catalogue.TRAININGS: "trainings",
}
Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


RING_STEPS_KM = (5.0, 20.0, 60.0)
PRIVATE_ESTABLISHMENT_FIELDS = frozenset({"immersion_contact_email", "recruiting_contact"})
"""Kept in the read model, never served: the tutor's and the recruiter's contacts are for the
notifications service."""
PRIVATE_ITEM_FIELDS = frozenset({"tutor_name", "recruiting_contact"})
"""Kept in the read model (the slot's state the catalogue republishes after a booking carries it),
never served: a tutor's name is for the candidate who booked, told by the notifications service.
A candidate looking for a place needs the establishment and the place, which are served."""
DENSE_AREA_ROWS = 3000
"""Past this many rows in the bounding box, a date-sorted search walks the date index instead."""


def _rings(query: SearchQuery) -> list[float | None]:
    """The radii to try in turn, the last one being the whole area (None)."""
    if query.sort is not Sort.DISTANCE or query.area is None:
        return [None]
    start = 0.0
    if query.after is not None and isinstance(query.after[0], float):
        start = query.after[0]
    rings: list[float | None] = [
        start + step for step in RING_STEPS_KM if start + step < query.area.radius_km
    ]
    return [*rings, None]


def _tsquery_text(query: SearchQuery) -> str:
    """Every word as a prefix, all required (the words are folded: letters and digits only)."""
    return " & ".join(f"{term}:*" for term in query.terms)


def _haversine_sql(lat: str, lon: str) -> str:
    """SQL for the great-circle distance in km from (t.lat, t.lon) to the given parameters."""
    return (
        f"(2 * {EARTH_RADIUS_KM} * asin(least(1.0, sqrt("
        f"power(sin(radians(t.lat - {lat}) / 2), 2) + "
        f"cos(radians({lat})) * cos(radians(t.lat)) * power(sin(radians(t.lon - {lon}) / 2), 2)))))"
    )


class _Args:
    """Numbered query parameters."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any, cast: str = "") -> str:
        self.values.append(value)
        return f"${len(self.values)}{cast}"


class PostgresSearch:
    """Searches the read models with their indexes: bounding box on the position, then exact distance."""

    def __init__(self, pool: asyncpg.Pool, *, timezone: str = "Europe/Paris", clock: Clock = _utcnow) -> None:
        self._pool = pool
        self._tz = ZoneInfo(timezone)
        self._clock = clock

    def sql(
        self,
        query: SearchQuery,
        within_km: float | None = None,
        *,
        position_index: bool = True,
        text_filter: bool = True,
    ) -> tuple[str, list[Any]]:
        """The SQL and parameters of a query (public for EXPLAIN in tests and benchmarks).

        `within_km` narrows the area to a smaller radius (the rings of a distance search).
        Without `position_index`, the bounding box is written so that the position index
        cannot serve it: for a dense area sorted by date, walking the date index is cheaper.
        Without `text_filter`, the words (all of them stop words) neither filter nor rank.
        """
        table = TABLES[query.catalogue]
        arg = _Args()
        where = ["t.status = 'open'"]
        today = self._clock().astimezone(self._tz).date()
        if query.catalogue is Catalogue.IMMERSIONS:
            where += ["t.places_left > 0", f"t.end_date >= {arg(today)}"]
        elif query.catalogue is Catalogue.TRAININGS:
            where += ["t.places_left > 0", f"coalesce(t.application_deadline, t.start_date) >= {arg(today)}"]
        if query.rome_codes:
            where.append(f"t.rome_code = ANY({arg(list(query.rome_codes), '::text[]')})")
        if query.departement:
            where.append(f"t.departement = {arg(query.departement)}")
        if query.contract_types:
            where.append(f"t.contract_type = ANY({arg([str(c) for c in query.contract_types], '::text[]')})")
        if query.working_time is not None:
            where.append(f"t.working_time = {arg(str(query.working_time))}")
        if query.night is not None:
            where.append(f"t.night = {arg(query.night)}")
        if query.weekend is not None:
            where.append(f"t.weekend = {arg(query.weekend)}")
        if query.housing_only:
            where.append("t.housing_offered")
        if query.apprenticeship_only:
            where.append(
                "t.apprenticeship_possible"
                if query.catalogue is Catalogue.TRAININGS
                else "t.contract_type = 'apprentissage'"
            )
        if query.diploma is not None:
            where.append(f"t.diploma = {arg(str(query.diploma))}")
        rank = "0::float8"
        if query.terms and text_filter:
            tsquery = f"to_tsquery('french', {arg(_tsquery_text(query))})"
            where.append(f"t.search @@ {tsquery}")
            rank = f"ts_rank_cd(t.search, {tsquery})::float8"
        distance = "NULL::float8"
        if query.area is not None:
            area = query.area
            radius = area.radius_km if within_km is None else min(within_km, area.radius_km)
            box = Area(area.lat, area.lon, radius).bounding_box()
            lat, lon = arg(area.lat, "::float8"), arg(area.lon, "::float8")
            distance = _haversine_sql(lat, lon)
            where.append("t.lat IS NOT NULL")
            if position_index and box.lon_min is not None and box.lon_max is not None:
                where.append(
                    f"point(t.lon, t.lat) <@ box(point({arg(box.lon_min, '::float8')}, "
                    f"{arg(box.lat_min, '::float8')}), point({arg(box.lon_max, '::float8')}, "
                    f"{arg(box.lat_max, '::float8')}))"
                )
            else:
                where.append(
                    f"t.lat BETWEEN {arg(box.lat_min, '::float8')} AND {arg(box.lat_max, '::float8')}"
                )
                if box.lon_min is not None and box.lon_max is not None:
                    where.append(
                        f"t.lon BETWEEN {arg(box.lon_min, '::float8')} AND {arg(box.lon_max, '::float8')}"
                    )
            where.append(f"{distance} <= {arg(radius, '::float8')}")
        inner = (
            f"SELECT t.id, t.data, t.status, t.posted_at, t.start_date, t.commune_insee, t.departement, "
            f"{distance} AS distance_km, {rank} AS rank FROM {table} t WHERE {' AND '.join(where)}"
        )
        keys = query.sort_keys()
        outer_where = ""
        if query.after is not None:
            alternatives = []
            for n, key in enumerate(keys):
                equal = [f"s.{k.column} = {arg(v)}" for k, v in zip(keys[:n], query.after[:n], strict=True)]
                beyond = f"s.{key.column} {'<' if key.descending else '>'} {arg(query.after[n])}"
                alternatives.append("(" + " AND ".join([*equal, beyond]) + ")")
            outer_where = "WHERE " + " OR ".join(alternatives)
        order = ", ".join(f"s.{k.column} {'DESC' if k.descending else 'ASC'}" for k in keys)
        sql = (
            f"SELECT * FROM ({inner}) s {outer_where} ORDER BY {order} LIMIT {arg(query.limit + 1, '::int')}"
        )
        return sql, arg.values

    async def search(self, query: SearchQuery) -> SearchPage:
        """The page of a query and the cursor of the next one (None on the last page).

        Sorted by distance, the area is searched in growing rings: when a ring already holds
        more rows than the page, no row farther out can come before them, so the wider rings
        (thousands of rows around a big city) are never read.
        """
        async with self._pool.acquire() as conn:
            position_index = True
            if query.area is not None and query.sort is not Sort.DISTANCE:
                position_index = not await self._dense(conn, query)
            text_filter = bool(query.terms) and bool(
                await conn.fetchval("SELECT numnode(to_tsquery('french', $1))", _tsquery_text(query))
            )
            for radius in _rings(query):
                sql, args = self.sql(
                    query, within_km=radius, position_index=position_index, text_filter=text_filter
                )
                rows = await conn.fetch(sql, *args)
                if len(rows) > query.limit:
                    break
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        next_cursor = None
        if more and rows:
            last = rows[-1]
            values: list[CursorValue] = [last[k.column] for k in query.sort_keys()]
            next_cursor = encode_cursor(query, values)
        return SearchPage([_item(row) for row in rows], next_cursor)

    async def _dense(self, conn: asyncpg.Connection, query: SearchQuery) -> bool:
        """Whether the area's bounding box holds many open rows (counted on the index, up to a cap)."""
        assert query.area is not None
        box = query.area.bounding_box()
        if box.lon_min is None or box.lon_max is None:
            return True
        table = TABLES[query.catalogue]
        found = await conn.fetchval(
            f"SELECT count(*) FROM (SELECT 1 FROM {table} t WHERE t.status = 'open' AND t.lat IS NOT NULL "
            "AND point(t.lon, t.lat) <@ box(point($1::float8, $2::float8), point($3::float8, $4::float8)) "
            "LIMIT $5::int) AS probe",
            box.lon_min,
            box.lat_min,
            box.lon_max,
            box.lat_max,
            DENSE_AREA_ROWS,
        )
        return int(found) >= DENSE_AREA_ROWS

    async def get(self, catalogue: str, id: str) -> dict[str, Any] | None:
        """One entity by id, whatever its status, with its establishment's details for a vacancy."""
        table = TABLES[Catalogue(catalogue)]
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                f"SELECT t.id, t.data, t.status, t.posted_at, t.start_date, t.commune_insee, "
                f"t.departement, NULL::float8 AS distance_km FROM {table} t WHERE t.id = $1",
                id,
            )
            if row is None:
                return None
            item = _item(row)
            if catalogue == Catalogue.VACANCIES:
                details = await conn.fetchval(
                    "SELECT data FROM establishments WHERE id = $1", item["establishment"]["id"]
                )
                if details is not None:
                    public = {k: v for k, v in details.items() if k not in PRIVATE_ESTABLISHMENT_FIELDS}
                    item["establishment"] = {**public, **item["establishment"]}
        return item


def _item(row: asyncpg.Record) -> dict[str, Any]:
    """A result: the entity's full state, plus its distance, place names, métier label, dates."""
    item: dict[str, Any] = {k: v for k, v in row["data"].items() if k not in PRIVATE_ITEM_FIELDS}
    commune = communes().get(row["commune_insee"])
    metier = rome_v4().get(item.get("rome_code", ""))
    distance = row["distance_km"]
    item["status"] = row["status"]
    if "contract_type" in item:
        item["offer_kind"] = "apprenticeship" if item["contract_type"] == "apprentissage" else "vacancy"
    item["distance_km"] = None if distance is None else round(distance, 3)
    item["commune_name"] = commune.name if commune is not None else None
    item["departement"] = row["departement"]
    item["metier_label"] = metier.label if metier is not None else None
    posted: datetime = row["posted_at"]
    item["posted_at"] = posted.isoformat()
    start: date = row["start_date"]
    item["start_date"] = start.isoformat()
    return item
