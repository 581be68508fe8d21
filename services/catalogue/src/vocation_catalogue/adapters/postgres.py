"""PostgreSQL adapters: version-guarded read models, immersion bookings under a slot lock, search."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from vocation_shared.contracts import events as ev
from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.codec import parse_event
from vocation_shared.contracts.events import AnyEvent
from vocation_shared.contracts.topics import Topic, record_key
from vocation_shared.logs import get_logger
from vocation_shared.postgres import mark_processed
from vocation_shared.pseudonyms import DEVELOPMENT_PSEUDONYM_KEY, PREFIX, Pseudonymizer
from vocation_shared.reference import EARTH_RADIUS_KM, communes, rome_v4

from vocation_catalogue.core import booking
from vocation_catalogue.core.projection import Row, slot_row
from vocation_catalogue.core.search import Area, Catalogue, CursorValue, SearchQuery, Sort, encode_cursor
from vocation_catalogue.ports import Fact, SearchPage, Tombstone

log = get_logger(__name__)

TABLES: dict[Catalogue, str] = {
    Catalogue.VACANCIES: "vacancies",
    Catalogue.IMMERSIONS: "immersion_slots",
    Catalogue.TRAININGS: "trainings",
}
_KNOWN_TABLES = frozenset({*TABLES.values(), "establishments", "candidate_supply"})
Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


CLAMPED_TO_READ_TIME = frozenset({"posted_at", "updated_at"})
"""Columns taken from an event's `time`, never later than when the catalogue applies it.

A partner writing straight to Kafka chooses the `time` of its events (the gateway refuses one
more than 5 minutes ahead, a direct producer is not checked): a vacancy "posted" in 2099 would
stay first of every date-sorted search for years. Clamped, it is as new as its arrival, no newer.
"""


def _placeholder(name: str, n: int) -> str:
    return f"LEAST(${n}::timestamptz, now())" if name in CLAMPED_TO_READ_TIME else f"${n}"


async def upsert(conn: asyncpg.Connection, row: Row) -> bool:
    """Insert or replace a row, unless the stored version is the same or newer; True if written.

    `posted_at` and `updated_at` are clamped to the transaction's time (`CLAMPED_TO_READ_TIME`).
    """
    if row.table not in _KNOWN_TABLES:
        raise ValueError(f"unknown read-model table {row.table!r}")
    names = ["id", "version", *row.columns]
    values = [row.id, row.version, *row.columns.values()]
    placeholders = ", ".join(_placeholder(name, n) for n, name in enumerate(names, start=1))
    updates = ", ".join(
        f"{name} = LEAST({row.table}.posted_at, EXCLUDED.posted_at)"
        if name == "posted_at"
        else f"{name} = EXCLUDED.{name}"
        for name in names[1:]
    )
    written = await conn.fetchval(
        f"INSERT INTO {row.table} ({', '.join(names)}) VALUES ({placeholders}) "
        f"ON CONFLICT (id) DO UPDATE SET {updates} "
        f"WHERE {row.table}.version < EXCLUDED.version RETURNING true",
        *values,
    )
    return bool(written)


async def _lock(conn: asyncpg.Connection, what: str) -> None:
    """A transaction-scoped lock on a name (a slot, a candidate), released at commit or rollback."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", what)


async def _booked_on(conn: asyncpg.Connection, slot_id: str) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM immersion_bookings WHERE slot_id = $1 AND status = 'booked'", slot_id
        )
    )


async def _earlier(conn: asyncpg.Connection, key: str) -> list[Fact] | None:
    """The facts kept for `key` (a request, a cancellation, an erasure), or None: events then tombstones."""
    stored = await conn.fetchrow("SELECT events, tombstones FROM immersion_outcomes WHERE key = $1", key)
    if stored is None:
        return None
    facts: list[Fact] = [parse_event(document) for document in stored["events"]]
    return facts + [Tombstone(str(Topic.IMMERSION_BOOKINGS), k) for k in stored["tombstones"]]


async def _keep(conn: asyncpg.Connection, key: str, facts: Sequence[Fact]) -> None:
    """Keep the facts published for `key`, to republish the same ones on a redelivery."""
    events, tombstones = _split(facts)
    await conn.execute(
        "INSERT INTO immersion_outcomes (key, events, tombstones) VALUES ($1, $2, $3)",
        key,
        [e.to_json_dict() for e in events],
        tombstones,
    )


def _split(facts: Sequence[Fact]) -> tuple[list[AnyEvent], list[str]]:
    """The events and the tombstones' keys of `facts`."""
    events = [f for f in facts if not isinstance(f, Tombstone)]
    return events, [f.key for f in facts if isinstance(f, Tombstone)]


def request_tombstone(slot_id: str, request_id: str) -> Tombstone:
    """The tombstone of an immersion request: its key on `immersion-bookings` (`record_key`)."""
    topic = str(Topic.IMMERSION_BOOKINGS)
    return Tombstone(topic, record_key(topic, slot_id, {"request_id": request_id}))


async def pseudonymize_ledgers(pool: asyncpg.Pool, pseudonymizer: Pseudonymizer) -> int:
    """Rewrite the erasure ledger's rows written before pseudonyms (bare ids); how many.

    Idempotent: a row already holding a pseudonym (`ps1_…`) is left alone. Runs at start.
    """
    pattern = PREFIX.replace("_", "\\_") + "%"
    async with pool.acquire() as conn, conn.transaction():
        ids = [
            r[0]
            for r in await conn.fetch(
                "SELECT candidate_pseudonym FROM erased_candidates WHERE candidate_pseudonym NOT LIKE $1",
                pattern,
            )
        ]
        keys = [
            r[0]
            for r in await conn.fetch(
                "SELECT key FROM immersion_outcomes WHERE key LIKE 'erasure:%' AND key NOT LIKE $1",
                "erasure:" + pattern,
            )
        ]
        if ids:
            await conn.execute(
                "INSERT INTO erased_candidates (candidate_pseudonym, erased_at) "
                "SELECT p.pseudonym, e.erased_at FROM erased_candidates e "
                "JOIN unnest($1::text[], $2::text[]) AS p(id, pseudonym) ON e.candidate_pseudonym = p.id "
                "ON CONFLICT DO NOTHING",
                ids,
                [pseudonymizer.candidate(i) for i in ids],
            )
            await conn.execute(
                "DELETE FROM erased_candidates WHERE candidate_pseudonym = ANY($1::text[])", ids
            )
        if keys:
            await conn.execute(
                "UPDATE immersion_outcomes o SET key = p.new FROM unnest($1::text[], $2::text[]) AS p(old, new) "
                "WHERE o.key = p.old AND NOT EXISTS (SELECT 1 FROM immersion_outcomes x WHERE x.key = p.new)",
                keys,
                [f"erasure:{pseudonymizer.candidate(k.removeprefix('erasure:'))}" for k in keys],
            )
            await conn.execute("DELETE FROM immersion_outcomes WHERE key = ANY($1::text[])", keys)
    if ids or keys:
        log.info("erasure_ledger.pseudonymized", erased=len(ids), outcomes=len(keys))
    return len(ids) + len(keys)


class PostgresReadModels:
    """Applies entity events to the read models, once each, newest version winning."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        consumer: str,
        source: str = "urn:vocation:catalogue",
        clock: Clock | None = None,
    ) -> None:
        self._pool = pool
        self._consumer = consumer
        self._source = source
        self._clock = clock or _utcnow

    async def apply(self, row: Row, event: AnyEvent) -> bool:
        """Apply `row` as the effect of `event` in one transaction with its processed mark."""
        async with self._pool.acquire() as conn, conn.transaction():
            if not await mark_processed(conn, self._consumer, event.source, event.id):
                return False
            return await upsert(conn, row)

    async def fill_vacancy(self, vacancy_id: str, at: datetime, event: AnyEvent) -> bool:
        """Mark an open vacancy filled (a replacement shift taken), once per event; False if not open."""
        async with self._pool.acquire() as conn, conn.transaction():
            if not await mark_processed(conn, self._consumer, event.source, event.id):
                return False
            status = await conn.execute(
                """
                UPDATE vacancies
                SET status = 'filled', updated_at = LEAST($2::timestamptz, now()),
                    data = jsonb_set(data, '{status}', '"filled"')
                         || jsonb_build_object('posts_filled', coalesce((data->>'posts')::int, 1))
                WHERE id = $1 AND status = 'open'
                """,
                vacancy_id,
                at,
            )
            return bool(status.endswith(" 1"))

    async def has_slot(self, slot_id: str) -> bool:
        """Whether the read model holds this immersion slot (in any status)."""
        return bool(await self._pool.fetchval("SELECT true FROM immersion_slots WHERE id = $1", slot_id))

    async def apply_slot(self, event: AnyEvent) -> list[AnyEvent]:
        """Apply an owner's slot event under the slot's lock; the merged state to republish, if any.

        The catalogue's own slot events are skipped: their state was stored in the booking's
        transaction, and a rebuild from the topics decides the bookings again instead.
        """
        slot: p.ImmersionSlot = event.data
        key = f"slot-event:{event.source}:{event.id}"
        async with self._pool.acquire() as conn, conn.transaction():
            await _lock(conn, f"slot:{slot.id}")
            if not await mark_processed(conn, self._consumer, event.source, event.id):
                # An owner's slot event keeps events only (no tombstone).
                return [f for f in await _earlier(conn, key) or [] if not isinstance(f, Tombstone)]
            if event.source == self._source:
                return []
            stored = await conn.fetchrow(
                "SELECT version, partner_version FROM immersion_slots WHERE id = $1 FOR UPDATE", slot.id
            )
            change = booking.owner_change(
                slot,
                await _booked_on(conn, slot.id),
                None if stored is None else stored["version"],
                0 if stored is None else stored["partner_version"],
            )
            if change is None:
                return []
            row = slot_row(change.slot, event.time)
            row.columns["partner_version"] = slot.version
            await upsert(conn, row)
            published: list[AnyEvent] = []
            if change.republish:
                published = [
                    ev.ImmersionSlotUpdated.build(
                        change.slot,
                        source=self._source,
                        id=f"{slot.id}.v{change.slot.version}",
                        time=self._clock(),
                    )
                ]
                await _keep(conn, key, published)
            return published

    async def erase(self, table: str, id: str) -> None:
        """Delete a tombstoned entity (a later event with any version would bring it back)."""
        if table not in _KNOWN_TABLES:
            raise ValueError(f"unknown read-model table {table!r}")
        await self._pool.execute(f"DELETE FROM {table} WHERE id = $1", id)


class PostgresBookings:
    """Decides immersion requests one at a time per slot and keeps each outcome for replays.

    In one transaction: a lock on the slot (advisory lock, then `SELECT … FOR UPDATE` on its
    row), the processed mark, the earlier outcome of the request if any, a lock on the
    candidate (bookings on other slots), the decision, the booking and the slot's new state,
    and the outcome's events. Concurrent requests for a slot thus see each other's bookings.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        consumer: str,
        source: str,
        *,
        timezone: str = "Europe/Paris",
        clock: Clock = _utcnow,
        pseudonymizer: Pseudonymizer | None = None,
    ) -> None:
        """`pseudonymizer` None: the development key's (tests); the service passes the deployment's."""
        self._pool = pool
        self._consumer = consumer
        self._source = source
        self._tz = ZoneInfo(timezone)
        self._clock = clock
        self._pseudonyms = pseudonymizer or Pseudonymizer(DEVELOPMENT_PSEUDONYM_KEY)

    async def _erased(self, conn: asyncpg.Connection, candidate_id: str) -> bool:
        return bool(
            await conn.fetchval(
                "SELECT true FROM erased_candidates WHERE candidate_pseudonym = $1",
                self._pseudonyms.candidate(candidate_id),
            )
        )

    async def request(self, event: ev.ImmersionRequested) -> list[Fact]:
        """Decide a request, or return the facts of its earlier decision.

        An erased candidate's request (read after the erasure) is not decided: its tombstone is
        returned, so that compaction removes it from `immersion-bookings`.
        """
        request = event.data
        key = f"request:{request.request_id}"
        async with self._pool.acquire() as conn, conn.transaction():
            await _lock(conn, f"slot:{request.slot_id}")
            await mark_processed(conn, self._consumer, event.source, event.id)
            earlier = await _earlier(conn, key)
            if earlier is not None:
                return earlier
            slot_data = await conn.fetchval(
                "SELECT data FROM immersion_slots WHERE id = $1 FOR UPDATE", request.slot_id
            )
            slot = p.ImmersionSlot.model_validate(slot_data) if slot_data is not None else None
            await _lock(conn, f"candidate:{request.candidate_id}")
            if await self._erased(conn, request.candidate_id):
                # Erased before their request was read: nothing to decide, the request to erase.
                erased: list[Fact] = [request_tombstone(request.slot_id, request.request_id)]
                await _keep(conn, key, erased)
                return erased
            rows = await conn.fetch(
                "SELECT start_date, end_date FROM immersion_bookings "
                "WHERE candidate_id = $1 AND status = 'booked'",
                request.candidate_id,
            )
            held = [booking.DateRange(r["start_date"], r["end_date"]) for r in rows]
            today = event.time.astimezone(self._tz).date()
            decision = booking.decide(request, slot, held, today)
            now = self._clock()
            events: list[Fact] = [
                *booking.outcome_events(request, decision, None, source=self._source, now=now)
            ]
            if isinstance(decision, booking.Booked):
                await conn.execute(
                    "INSERT INTO immersion_bookings "
                    "(request_id, slot_id, candidate_id, start_date, end_date, status, booked_at) "
                    "VALUES ($1, $2, $3, $4, $5, 'booked', $6)",
                    request.request_id,
                    request.slot_id,
                    request.candidate_id,
                    request.start_date,
                    request.end_date,
                    now,
                )
                await upsert(conn, slot_row(decision.slot, now))
            await _keep(conn, key, events)
        return events

    async def cancel(self, event: ev.ImmersionCancelled) -> list[Fact]:
        """Give a booked place back; nothing to do for a request that holds no booking."""
        cancelled = event.data
        key = f"cancel:{cancelled.request_id}"
        async with self._pool.acquire() as conn, conn.transaction():
            await _lock(conn, f"slot:{cancelled.slot_id}")
            await mark_processed(conn, self._consumer, event.source, event.id)
            earlier = await _earlier(conn, key)
            if earlier is not None:
                return earlier
            held = await conn.fetchrow(
                "SELECT candidate_id, status FROM immersion_bookings WHERE request_id = $1 AND slot_id = $2",
                cancelled.request_id,
                cancelled.slot_id,
            )
            if held is None or held["status"] != "booked" or held["candidate_id"] != cancelled.candidate_id:
                if await self._erased(conn, cancelled.candidate_id):
                    # Written after the erasure's tombstone: one more tombstone removes it too.
                    erased: list[Fact] = [request_tombstone(cancelled.slot_id, cancelled.request_id)]
                    await _keep(conn, key, erased)
                    return erased
                log.info("immersion.cancel_ignored", request_id=cancelled.request_id, reason="no booking")
                return []
            now = self._clock()
            await conn.execute(
                "UPDATE immersion_bookings SET status = 'cancelled', cancelled_at = $2 WHERE request_id = $1",
                cancelled.request_id,
                now,
            )
            events: list[Fact] = []
            slot_data = await conn.fetchval(
                "SELECT data FROM immersion_slots WHERE id = $1 FOR UPDATE", cancelled.slot_id
            )
            if slot_data is not None:
                slot = p.ImmersionSlot.model_validate(slot_data)
                free = slot.capacity - await _booked_on(conn, slot.id)
                freed = booking.with_places_left(slot, min(slot.places_left + 1, free))
                await upsert(conn, slot_row(freed, now))
                events = [*booking.cancellation_events(cancelled, freed, source=self._source, now=now)]
            await _keep(conn, key, events)
        return events

    async def erase_candidate(self, candidate_id: str) -> list[Fact]:
        """Erasure: delete the candidate's bookings, blank the outcomes kept for their requests.

        Outcome rows stay, emptied, so that a redelivered request of theirs is not decided (and
        booked) again; the candidate is remembered as erased (by pseudonym), so that a request read
        after the erasure is not decided either. A place booked for an immersion not over yet is
        given back: the slot's new state is returned, to publish (it holds no personal data), with a
        tombstone of each of their requests on `immersion-bookings` (every request, booking or
        cancellation the catalogue kept an outcome or a booking for).
        """
        pseudonym = self._pseudonyms.candidate(candidate_id)
        today = self._clock().astimezone(self._tz).date()
        async with self._pool.acquire() as conn, conn.transaction():
            # Slots first, then the candidate: the order `request` takes its locks in.
            slots = await conn.fetch(
                "SELECT DISTINCT slot_id FROM immersion_bookings WHERE candidate_id = $1", candidate_id
            )
            for slot_id in sorted(str(r["slot_id"]) for r in slots):
                await _lock(conn, f"slot:{slot_id}")
            await _lock(conn, f"candidate:{candidate_id}")
            # The slots freed by an earlier erasure are republished: its publish may have been
            # cut short by a crash after the commit (the event is then read again).
            earlier = await _earlier(conn, f"erasure:{pseudonym}") or []
            await conn.execute(
                "INSERT INTO erased_candidates (candidate_pseudonym) VALUES ($1) ON CONFLICT DO NOTHING",
                pseudonym,
            )
            blanked = await conn.fetch(
                "WITH theirs AS ("
                " SELECT key, events FROM immersion_outcomes"
                " WHERE events @> jsonb_build_array(jsonb_build_object("
                " 'data', jsonb_build_object('candidate_id', $1::text))) FOR UPDATE)"
                " UPDATE immersion_outcomes o SET events = '[]'::jsonb FROM theirs"
                " WHERE o.key = theirs.key RETURNING theirs.events",
                candidate_id,
            )
            requests = {
                (str(e["data"]["slot_id"]), str(e["data"]["request_id"]))
                for row in blanked
                for e in row["events"]
                if isinstance(e.get("data"), dict)
                and e["data"].get("candidate_id") == candidate_id
                and "request_id" in e["data"]
            }
            deleted = await conn.fetch(
                "DELETE FROM immersion_bookings WHERE candidate_id = $1 "
                "RETURNING request_id, slot_id, status, end_date",
                candidate_id,
            )
            requests |= {(str(r["slot_id"]), str(r["request_id"])) for r in deleted}
            now = self._clock()
            events: list[Fact] = []
            for row in sorted(deleted, key=lambda r: str(r["slot_id"])):
                if row["status"] != "booked" or row["end_date"] < today:
                    continue
                slot_data = await conn.fetchval(
                    "SELECT data FROM immersion_slots WHERE id = $1 FOR UPDATE", row["slot_id"]
                )
                if slot_data is None:
                    continue
                slot = p.ImmersionSlot.model_validate(slot_data)
                free = slot.capacity - await _booked_on(conn, slot.id)
                freed = booking.with_places_left(slot, min(slot.places_left + 1, free))
                await upsert(conn, slot_row(freed, now))
                events.append(
                    ev.ImmersionSlotUpdated.build(
                        freed, source=self._source, id=f"{row['request_id']}.erased.slot", time=now
                    )
                )
            events += [request_tombstone(slot, request) for slot, request in sorted(requests)]
            facts = [*earlier, *events]
            kept, tombstones = _split(facts)
            await conn.execute(
                "INSERT INTO immersion_outcomes (key, events, tombstones) VALUES ($1, $2, $3) "
                "ON CONFLICT (key) DO UPDATE SET events = EXCLUDED.events, tombstones = EXCLUDED.tombstones",
                f"erasure:{pseudonym}",
                [e.to_json_dict() for e in kept],
                list(dict.fromkeys(tombstones)),
            )
        return facts


RING_STEPS_KM = (5.0, 20.0, 60.0)
PRIVATE_ESTABLISHMENT_FIELDS = frozenset({"immersion_contact_email"})
"""Kept in the read model, never served: the tutor's address is for the notifications service."""
PRIVATE_ITEM_FIELDS = frozenset({"tutor_name"})
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
